package report

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"

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

// Contour returns the boundary of a mask (pixels that are defects by
// imageio.IsDefect): mask
// pixels with at least one 4-neighbour outside the mask or outside the
// image. The result is indexed y*W + x.
func Contour(m *imageio.Map) []bool {
	out := make([]bool, m.H*m.W)
	in := func(y, x int) bool {
		return y >= 0 && y < m.H && x >= 0 && x < m.W && imageio.IsDefect(m.Pix[y*m.W+x])
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
// contains no magenta, so the outline stays visible at every map value;
// outlineColor rings it on the outside so it also stands out where the
// blend is light or saturated red.
var (
	contourColor = color.RGBA{255, 0, 255, 255}
	outlineColor = color.RGBA{20, 20, 20, 255}
	// gtColor outlines the ground truth; it differs from the prediction's
	// magenta so the two pictures are not confused.
	gtColor = color.RGBA{0, 255, 120, 255}
)

// heatAlpha is the heatmap's weight in the overlay blend.
const heatAlpha = 0.5

// Overlay blends the Turbo-coloured anomaly map over the image, with the
// map normalised linearly so lo maps to 0 and hi to 1 (clamped), and draws
// the contour of pred (if not nil) in magenta with a dark outer ring. m
// and pred are resampled to the image's size when they differ. A nil m
// gives the image alone.
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
		drawOutline(out, pred, contourColor)
	}
	return out
}

// drawOutline draws the contour of mask (resampled to dst's size) in c
// and the pixels just outside it in outlineColor.
func drawOutline(dst *image.RGBA, mask *imageio.Map, c color.RGBA) {
	h, w := dst.Rect.Dy(), dst.Rect.Dx()
	if mask.H != h || mask.W != w {
		mask = coverage(imageio.ResizeMap(mask, h, w))
	}
	in := func(y, x int) bool {
		return y >= 0 && y < h && x >= 0 && x < w && imageio.IsDefect(mask.Pix[y*w+x])
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !in(y, x) && (in(y-1, x) || in(y+1, x) || in(y, x-1) || in(y, x+1)) {
				dst.SetRGBA(x, y, outlineColor)
			}
		}
	}
	// Two pixels wide (the contour and its neighbours inside the mask):
	// a one-pixel line reads as the dark ring alone on a thumbnail.
	for i, on := range Contour(mask) {
		if !on {
			continue
		}
		y, x := i/w, i%w
		dst.SetRGBA(x, y, c)
		for _, d := range [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
			if in(y+d[0], x+d[1]) {
				dst.SetRGBA(x+d[1], y+d[0], c)
			}
		}
	}
}

// coverage turns a resampled 0/1 mask back into 0/1, in place: a display
// pixel belongs to the mask when the mask covers at least half of it
// (not a ground-truth cut: that is imageio.IsDefect, applied before).
func coverage(m *imageio.Map) *imageio.Map {
	for i, v := range m.Pix {
		if v >= 0.5 {
			m.Pix[i] = 1
		} else {
			m.Pix[i] = 0
		}
	}
	return m
}

// Colour bar geometry in pixels.
const (
	barH      = 38 // total height of a colour bar strip
	barTop    = 3  // gradient rows [barTop, barTop+barBand)
	barBand   = 14
	barPad    = 8 // left and right margin of the gradient
	barMinW   = 280
	labelBase = barTop + barBand + 15 // text baseline
)

// ColorBar draws a w×38 legend of the Turbo scale over [lo, hi]: the
// gradient, its two end values and, when threshold is not nil, a marked
// tick at the threshold with its value. With perImage the ends read
// "image min"/"image max" (each map is scaled to its own range).
func ColorBar(w int, lo, hi float64, threshold *float64, perImage bool) *image.RGBA {
	w = max(w, barMinW)
	img := image.NewRGBA(image.Rect(0, 0, w, barH))
	fillRect(img, img.Rect, white)
	x0, x1 := barPad, w-barPad-1
	for x := x0; x <= x1; x++ {
		c := Turbo(float64(x-x0) / float64(x1-x0))
		for y := barTop; y < barTop+barBand; y++ {
			img.SetRGBA(x, y, c)
		}
	}
	// Frame and end ticks.
	for x := x0 - 1; x <= x1+1; x++ {
		img.SetRGBA(x, barTop-1, black)
		img.SetRGBA(x, barTop+barBand, black)
	}
	for y := barTop - 1; y <= barTop+barBand+3; y++ {
		img.SetRGBA(x0-1, y, black)
		img.SetRGBA(x1+1, y, black)
	}
	loS, hiS := shortNum(lo), shortNum(hi)
	if perImage {
		loS, hiS = "image min", "image max"
	}
	drawText(img, loS, x0-1, labelBase, black)
	hiX := x1 + 1 - textWidth(hiS)
	drawText(img, hiS, hiX, labelBase, black)
	if threshold != nil && !perImage && hi > lo && !math.IsNaN(*threshold) {
		f := min(max((*threshold-lo)/(hi-lo), 0), 1)
		tx := x0 + int(math.Round(f*float64(x1-x0)))
		// A black line with white sides reads on every Turbo colour.
		for y := barTop - 2; y <= barTop+barBand+3; y++ {
			img.SetRGBA(tx, y, black)
			if y >= barTop && y < barTop+barBand {
				img.SetRGBA(tx-1, y, white)
				img.SetRGBA(tx+1, y, white)
			}
		}
		s := "threshold " + shortNum(*threshold)
		sx := min(max(tx-textWidth(s)/2, x0-1), x1+1-textWidth(s))
		// The threshold label wins over an end label it would overlap.
		if sx < x0-1+textWidth(loS)+6 {
			fillRect(img, image.Rect(0, labelBase-fontAscent-1, sx+textWidth(s), barH), white)
		}
		if sx+textWidth(s)+6 > hiX {
			fillRect(img, image.Rect(sx, labelBase-fontAscent-1, w, barH), white)
		}
		drawText(img, s, sx, labelBase, black)
	}
	return img
}

// WithColorBar returns ov with a colour bar strip added below it (the
// canvas is widened to the bar's minimum width when ov is narrower).
func WithColorBar(ov *image.RGBA, lo, hi float64, threshold *float64, perImage bool) *image.RGBA {
	w, h := ov.Rect.Dx(), ov.Rect.Dy()
	bar := ColorBar(w, lo, hi, threshold, perImage)
	out := image.NewRGBA(image.Rect(0, 0, max(w, bar.Rect.Dx()), h+barH))
	fillRect(out, out.Rect, white)
	draw.Draw(out, image.Rect(0, 0, w, h), ov, image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, h, bar.Rect.Dx(), h+barH), bar, image.Point{}, draw.Src)
	return out
}

func fillRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// shortNum formats a legend value with four significant digits.
func shortNum(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func clamp8(v float64) uint8 {
	switch {
	case !(v > 0):
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
