package report

import (
	"image"
	"image/color"
	"math"

	"github.com/vigil-ad/vigil/imageio"
)

// turboAnchors samples Google's Turbo colormap (Mikhailov, 2019) at every
// 16th entry of its 256-entry table plus the last one, in 8-bit sRGB.
// Linear interpolation between them stays within 7/255 of the full table,
// which is indistinguishable on a heatmap and keeps the table tiny.
var turboAnchors = [17][3]float64{
	{48, 18, 59}, {64, 64, 162}, {70, 107, 227}, {66, 148, 255},
	{40, 188, 235}, {24, 221, 194}, {50, 242, 152}, {109, 254, 98},
	{164, 252, 60}, {205, 236, 52}, {238, 207, 58}, {253, 172, 52},
	{251, 126, 33}, {235, 80, 14}, {208, 47, 5}, {169, 22, 1},
	{122, 4, 3},
}

// Turbo maps v in [0,1] (clamped; NaN counts as 0) to the Turbo colormap:
// dark blue at 0 through cyan, green and yellow to dark red at 1.
func Turbo(v float64) color.RGBA {
	if !(v > 0) {
		v = 0
	}
	if v > 1 {
		v = 1
	}
	// Anchor k sits at table index 16k (the last at 255).
	idx := v * 255
	k := min(int(idx/16), 15)
	lo, hi := float64(16*k), float64(16*(k+1))
	if k == 15 {
		hi = 255
	}
	f := (idx - lo) / (hi - lo)
	a, b := turboAnchors[k], turboAnchors[k+1]
	ch := func(i int) uint8 { return uint8(math.Round(a[i] + f*(b[i]-a[i]))) }
	return color.RGBA{ch(0), ch(1), ch(2), 255}
}

// Contour returns the boundary of a binary mask (pixels >= 0.5): mask
// pixels with at least one 4-neighbour outside the mask or outside the
// image. The result is indexed y*W + x.
func Contour(m *imageio.Map) []bool {
	out := make([]bool, m.H*m.W)
	in := func(y, x int) bool {
		return y >= 0 && y < m.H && x >= 0 && x < m.W && m.Pix[y*m.W+x] >= 0.5
	}
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			if in(y, x) && (!in(y-1, x) || !in(y+1, x) || !in(y, x-1) || !in(y, x+1)) {
				out[y*m.W+x] = true
			}
		}
	}
	return out
}

// contourColor is drawn over the heatmap for the predicted mask: Turbo
// contains no magenta, so the outline stays visible at every map value.
var contourColor = color.RGBA{255, 0, 255, 255}

// heatAlpha is the heatmap's weight in the overlay blend.
const heatAlpha = 0.5

// Overlay blends the Turbo-coloured anomaly map over the image, with the
// map normalised linearly so lo maps to 0 and hi to 1 (clamped), and draws
// the contour of pred (if not nil) in magenta. m and pred are resampled to
// the image's size when they differ. A nil m gives the image alone.
func Overlay(img *imageio.Image, m *imageio.Map, lo, hi float64, pred *imageio.Map) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	hw := img.H * img.W
	plane := func(c int) []float32 {
		if img.C >= 3 {
			return img.Pix[c*hw : (c+1)*hw]
		}
		return img.Pix[:hw]
	}
	r, g, b := plane(0), plane(1), plane(2)
	if m != nil && (m.H != img.H || m.W != img.W) {
		m = imageio.ResizeMap(m, img.H, img.W)
	}
	span := hi - lo
	if !(span > 0) {
		span = 1
	}
	for i := 0; i < hw; i++ {
		px := [3]float64{float64(r[i]) * 255, float64(g[i]) * 255, float64(b[i]) * 255}
		if m != nil {
			c := Turbo((float64(m.Pix[i]) - lo) / span)
			px[0] = (1-heatAlpha)*px[0] + heatAlpha*float64(c.R)
			px[1] = (1-heatAlpha)*px[1] + heatAlpha*float64(c.G)
			px[2] = (1-heatAlpha)*px[2] + heatAlpha*float64(c.B)
		}
		o := out.Pix[4*i : 4*i+4]
		o[0], o[1], o[2], o[3] = clamp8(px[0]), clamp8(px[1]), clamp8(px[2]), 255
	}
	if pred != nil {
		if pred.H != img.H || pred.W != img.W {
			pred = imageio.ResizeMap(pred, img.H, img.W)
		}
		for i, on := range Contour(pred) {
			if on {
				out.SetRGBA(i%img.W, i/img.W, contourColor)
			}
		}
	}
	return out
}

func clamp8(v float64) uint8 {
	switch {
	case !(v > 0):
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
