package postprocess

import (
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/label"
)

// Components labels the connected components of the foreground pixels
// (imageio.IsDefect: non-zero) of m. connectivity 4 joins edge neighbours
// only; any other value means 8 (edges and corners). labels holds 0 for
// background and 1..n in raster order of each component's first pixel;
// areas has n+1 entries, areas[l] the pixel count of label l and areas[0]
// the background count. The labelling is internal/label's breadth-first
// flood fill, shared with metrics' PRO regions: O(H·W).
func Components(m *imageio.Map, connectivity int) (labels []int32, n int, areas []int) {
	hw := m.H * m.W
	labels = make([]int32, hw)
	fg := 0
	for i, v := range m.Pix[:hw] {
		if imageio.IsDefect(v) {
			labels[i] = -1
			fg++
		}
	}
	n, comp := label.Components(labels, m.W, m.H, connectivity != 4, make([]int32, hw), nil)
	areas = append([]int{hw - fg}, comp...)
	return labels, n, areas
}

// RemoveSmall returns a binary map of the foreground of m without the
// connected components (see Components for connectivity) smaller than
// minArea pixels.
func RemoveSmall(m *imageio.Map, minArea int, connectivity int) *imageio.Map {
	labels, _, areas := Components(m, connectivity)
	out := imageio.NewMap(m.H, m.W)
	for i, l := range labels {
		if l > 0 && areas[l] >= minArea {
			out.Pix[i] = 1
		}
	}
	return out
}

// CleanOptions configures Clean. Zero values skip a step.
type CleanOptions struct {
	// Sigma smooths the map with imageio.GaussianSmooth before thresholding.
	Sigma float64
	// OpenRadius removes specks thinner than a (2r+1)² square.
	OpenRadius int
	// CloseRadius fills holes and gaps smaller than a (2r+1)² square.
	CloseRadius int
	// MinArea drops components with fewer pixels.
	MinArea int
	// Connectivity for MinArea: 4, or 8 (default, also for 0).
	Connectivity int
}

// Clean turns an anomaly map into a binary defect mask: optional Gaussian
// smoothing, thresholding (m >= threshold), opening, closing, then removal
// of components smaller than MinArea — in that order.
func Clean(m *imageio.Map, threshold float64, opts CleanOptions) *imageio.Map {
	if opts.Sigma > 0 {
		m = imageio.GaussianSmooth(m, opts.Sigma)
	}
	b := Binarize(m, threshold)
	if opts.OpenRadius > 0 {
		b = Open(b, opts.OpenRadius)
	}
	if opts.CloseRadius > 0 {
		b = Close(b, opts.CloseRadius)
	}
	if opts.MinArea > 1 {
		b = RemoveSmall(b, opts.MinArea, opts.Connectivity)
	}
	return b
}
