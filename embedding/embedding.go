// Package embedding turns images into the per-location feature vectors
// ("patch embeddings") that the feature-based detectors model: backbone
// input preparation, multi-layer concatenation, local neighbourhood
// aggregation, and mapping a feature-grid score map back to the image.
package embedding

import (
	"fmt"

	"github.com/vigil-ad/vigil/backbone"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// Geometry is the input preparation shared by fit and score: resize to
// Size×Size, then center-crop to Crop×Crop (0: no crop). With Aspect "pad"
// the image keeps its aspect ratio instead: its long side is resized to
// Size and the short side padded to Size by replicating the edge pixels
// (no distortion of thin defects on non-square images); maps are cropped
// back to the image. The help tags are what `vigil methods` prints for the
// detectors that embed it.
type Geometry struct {
	Size   int    `json:"size" help:"images are resized to size x size (a multiple of 32)"`
	Crop   int    `json:"crop" help:"centre crop to crop x crop after resizing (a multiple of 32); 0: no crop"`
	Aspect string `json:"aspect" enum:"stretch,pad" help:"stretch: resize to size x size (distorts non-square images); pad: keep the aspect ratio, long side to size, the rest padded with the edge pixels (maps cropped back)"`
}

// Aspect modes of Geometry.
const (
	AspectStretch = "stretch"
	AspectPad     = "pad"
)

func (g Geometry) pad() bool { return g.Aspect == AspectPad }

// content is where an H×W image lies in the Size×Size input in pad mode:
// offsets and size of the resized image.
func (g Geometry) content(H, W int) (oy, ox, h, w int) {
	scale := float64(g.Size) / float64(max(H, W))
	h = min(g.Size, max(1, int(float64(H)*scale+0.5)))
	w = min(g.Size, max(1, int(float64(W)*scale+0.5)))
	return (g.Size - h) / 2, (g.Size - w) / 2, h, w
}

// InputSize is the size every image is resized to before anything else,
// (0,0) when that depends on the image (pad mode): detector.InputSizer.
func (g Geometry) InputSize() (h, w int) {
	if g.pad() {
		return 0, 0
	}
	return g.Size, g.Size
}

// Validate checks the sizes.
func (g Geometry) Validate() error {
	if g.Size <= 0 || g.Size%32 != 0 {
		return fmt.Errorf("size must be a positive multiple of 32, got %d", g.Size)
	}
	if g.Crop < 0 || g.Crop > g.Size || (g.Crop > 0 && g.Crop%32 != 0) {
		return fmt.Errorf("crop must be 0 or a multiple of 32 no larger than size %d, got %d", g.Size, g.Crop)
	}
	switch g.Aspect {
	case "", AspectStretch:
	case AspectPad:
		if g.Crop > 0 && g.Crop != g.Size {
			return fmt.Errorf("aspect pad keeps the whole image: crop must be 0")
		}
	default:
		return fmt.Errorf("aspect must be stretch or pad, got %q", g.Aspect)
	}
	return nil
}

// Side is the side of the network input.
func (g Geometry) Side() int {
	if g.Crop > 0 {
		return g.Crop
	}
	return g.Size
}

// Input converts one image to an RGB Side×Side network input.
func (g Geometry) Input(img *imageio.Image) (*imageio.Image, error) {
	rgb, err := imageio.ToRGB(img)
	if err != nil {
		return nil, err
	}
	if g.pad() {
		return g.padded(rgb), nil
	}
	r := rgb
	if rgb.H != g.Size || rgb.W != g.Size {
		r = imageio.Resize(rgb, g.Size, g.Size)
	}
	if g.Crop > 0 && g.Crop != g.Size {
		return imageio.CenterCrop(r, g.Crop, g.Crop)
	}
	return r, nil
}

// padded resizes rgb keeping its aspect ratio and pads it to Size×Size by
// replicating the edge pixels.
func (g Geometry) padded(rgb *imageio.Image) *imageio.Image {
	oy, ox, h, w := g.content(rgb.H, rgb.W)
	r := rgb
	if rgb.H != h || rgb.W != w {
		r = imageio.Resize(rgb, h, w)
	}
	out := imageio.New(r.C, g.Size, g.Size)
	for c := 0; c < r.C; c++ {
		src, dst := r.Plane(c), out.Plane(c)
		for y := 0; y < g.Size; y++ {
			sy := min(max(y-oy, 0), h-1)
			row := dst[y*g.Size : (y+1)*g.Size]
			srow := src[sy*w : (sy+1)*w]
			for x := range row {
				row[x] = srow[min(max(x-ox, 0), w-1)]
			}
		}
	}
	return out
}

// Batch prepares images and stacks them into an N×3×S×S tensor.
func (g Geometry) Batch(imgs []*imageio.Image) (*tensor.Tensor, error) {
	s := g.Side()
	x := tensor.New(len(imgs), 3, s, s)
	errs := make([]error, len(imgs))
	tensor.ParallelChunks(len(imgs), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			in, err := g.Input(imgs[i])
			if err != nil {
				errs[i] = fmt.Errorf("image %d: %w", i, err)
				continue
			}
			copy(x.Data[i*3*s*s:(i+1)*3*s*s], in.Pix)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return x, nil
}

// ToSide upsamples an h×w score grid covering the network input to the
// input side (Side×Side), where smoothing is applied.
func (g Geometry) ToSide(grid []float32, h, w int) *imageio.Map {
	s := g.Side()
	return imageio.ResizeMap(&imageio.Map{H: h, W: w, Pix: grid}, s, s)
}

// ToOriginal maps a Side×Side map back to an image of size H×W: placed in
// the resized frame (outside a crop it takes the map's minimum, "not
// anomalous"), then resized to the original image size; in pad mode the
// image's region is cut out of the padded frame and resized.
func (g Geometry) ToOriginal(m *imageio.Map, H, W int) *imageio.Map {
	if g.pad() {
		oy, ox, h, w := g.content(H, W)
		c := imageio.NewMap(h, w)
		for y := 0; y < h; y++ {
			copy(c.Pix[y*w:(y+1)*w], m.Pix[(oy+y)*m.W+ox:])
		}
		if h != H || w != W {
			c = imageio.ResizeMap(c, H, W)
		}
		return c
	}
	s := g.Side()
	if g.Crop > 0 && g.Crop != g.Size {
		lo := m.Pix[0]
		for _, v := range m.Pix {
			lo = min(lo, v)
		}
		full := imageio.NewMap(g.Size, g.Size)
		for i := range full.Pix {
			full.Pix[i] = lo
		}
		o := (g.Size - s) / 2
		for y := 0; y < s; y++ {
			copy(full.Pix[(o+y)*g.Size+o:], m.Pix[y*s:(y+1)*s])
		}
		m = full
	}
	if m.H != H || m.W != W {
		m = imageio.ResizeMap(m, H, W)
	}
	return m
}

// Concat upsamples every map to h×w (bilinear, as PatchCore's reference
// does; anomalib's PaDiM upsamples with nearest neighbours) and
// concatenates them along channels.
func Concat(maps []*tensor.Tensor, h, w int) *tensor.Tensor {
	n := maps[0].Shape[0]
	ctot := 0
	for _, m := range maps {
		ctot += m.Shape[1]
	}
	out := tensor.New(n, ctot, h, w)
	off := 0
	for _, m := range maps {
		c := m.Shape[1]
		u := m
		if m.Shape[2] != h || m.Shape[3] != w {
			u = ops.UpsampleBilinear(m, h, w, false)
		}
		for i := 0; i < n; i++ {
			copy(out.Data[(i*ctot+off)*h*w:(i*ctot+off+c)*h*w], u.Data[i*c*h*w:(i+1)*c*h*w])
		}
		off += c
	}
	return out
}

// ChannelMeans appends to dst the mean over the H×W cells of each channel
// of image i of x (N×C×H×W), in channel order: global average pooling of
// one image, summed in float32 cell by cell (callers that cache pooled
// features rely on this exact order to reproduce the bits).
func ChannelMeans(dst []float32, x *tensor.Tensor, i int) []float32 {
	c, hw := x.Shape[1], x.Shape[2]*x.Shape[3]
	for ch := 0; ch < c; ch++ {
		var sum float32
		for _, v := range x.Data[(i*c+ch)*hw : (i*c+ch+1)*hw] {
			sum += v
		}
		dst = append(dst, sum/float32(hw))
	}
	return dst
}

// Aggregate averages each feature over its k×k neighbourhood (stride 1,
// zero padding excluded from the mean): PatchCore's locally aware features.
func Aggregate(x *tensor.Tensor, k int) *tensor.Tensor {
	if k <= 1 {
		return x
	}
	p := k / 2
	return ops.AvgPool2dForward(x, ops.Pool2D{KH: k, KW: k, StrideH: 1, StrideW: 1, PadT: p, PadL: p, PadB: k - 1 - p, PadR: k - 1 - p})
}

// Extract runs the backbone on images in batches and returns the chosen
// taps (by index) for each batch via fn, so callers can stream statistics
// without holding every feature map.
func Extract(ex backbone.Extractor, g Geometry, imgs []*imageio.Image, batch int, fn func(start int, feats []*tensor.Tensor) error) error {
	if batch <= 0 {
		batch = 8
	}
	for lo := 0; lo < len(imgs); lo += batch {
		hi := min(lo+batch, len(imgs))
		x, err := g.Batch(imgs[lo:hi])
		if err != nil {
			return err
		}
		f, err := ex.Features(x)
		if err != nil {
			return fmt.Errorf("backbone %s: %w", ex.Name(), err)
		}
		if err := fn(lo, f); err != nil {
			return err
		}
	}
	return nil
}

// Rows transposes an N×C×H×W map into N·H·W rows of C features
// (row index (n*H + y)*W + x), the layout nearest-neighbour search needs.
func Rows(x *tensor.Tensor) []float32 {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	out := make([]float32, len(x.Data))
	hw := h * w
	tensor.ParallelChunks(n*c, 1, func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			i, ch := nc/c, nc%c
			src := x.Data[nc*hw : (nc+1)*hw]
			base := i * hw * c
			for p, v := range src {
				out[base+p*c+ch] = v
			}
		}
	})
	return out
}

// ScoreMap turns an h×w score grid into the image's anomaly map: upsampled
// to the input side, smoothed with sigma (0: none), mapped back to an H×W
// image. It also returns the smoothed map's maximum, the usual image score.
func (g Geometry) ScoreMap(grid []float32, h, w int, sigma float64, H, W int) (*imageio.Map, float32) {
	m := g.ToSide(grid, h, w)
	if sigma > 0 {
		m = imageio.GaussianSmooth(m, sigma)
	}
	oy, ox, h, w := 0, 0, m.H, m.W
	if g.pad() {
		oy, ox, h, w = g.content(H, W) // the padding is not part of the image
	}
	hi := m.Pix[oy*m.W+ox]
	for y := oy; y < oy+h; y++ {
		for _, v := range m.Pix[y*m.W+ox : y*m.W+ox+w] {
			hi = max(hi, v)
		}
	}
	return g.ToOriginal(m, H, W), hi
}

// ValidateFeatures checks the settings every feature detector shares:
// the geometry, a backbone, tap indices and the batch size. Errors name
// the key.
func ValidateFeatures(s Source, g Geometry, taps []int, batch int) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if s.Backbone == "" {
		return fmt.Errorf("backbone must be set")
	}
	if batch < 1 {
		return fmt.Errorf("batch %d must be >= 1", batch)
	}
	for _, t := range taps {
		if t < 0 {
			return fmt.Errorf("taps: index %d must be >= 0", t)
		}
	}
	return nil
}
