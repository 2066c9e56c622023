package report

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Plot geometry in pixels.
const (
	plotW, plotH                       = 420, 340
	marginL, marginR, marginT, marginB = 64, 18, 30, 46
)

var (
	white      = color.RGBA{255, 255, 255, 255}
	black      = color.RGBA{0, 0, 0, 255}
	gridGray   = color.RGBA{225, 225, 225, 255}
	midGray    = color.RGBA{150, 150, 150, 255}
	blue       = color.RGBA{31, 119, 180, 255}
	red        = color.RGBA{214, 39, 40, 255}
	fontFace   = basicfont.Face7x13
	fontAscent = 11
)

// plot is a raster chart: a frame with ticks and labels and a data area
// mapping [xmin,xmax]×[ymin,ymax] to pixels.
type plot struct {
	img                    *image.RGBA
	x0, y0, x1, y1         int // data area: x0 left, y0 top, x1 right, y1 bottom
	xmin, xmax, ymin, ymax float64
}

func newPlot(title, xlabel, ylabel string, xmin, xmax, ymin, ymax float64) *plot {
	p := &plot{
		img: image.NewRGBA(image.Rect(0, 0, plotW, plotH)),
		x0:  marginL, y0: marginT, x1: plotW - marginR, y1: plotH - marginB,
		xmin: xmin, xmax: xmax, ymin: ymin, ymax: ymax,
	}
	draw.Draw(p.img, p.img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	for _, t := range ticks(xmin, xmax) {
		x, _ := p.px(t.v, ymin)
		p.vseg(x, p.y0, p.y1, gridGray)
		p.vseg(x, p.y1, p.y1+4, black)
		p.text(t.label, x-textWidth(t.label)/2, p.y1+6+fontAscent, black)
	}
	for _, t := range ticks(ymin, ymax) {
		_, y := p.px(xmin, t.v)
		p.hseg(p.x0, p.x1, y, gridGray)
		p.hseg(p.x0-4, p.x0, y, black)
		p.text(t.label, p.x0-7-textWidth(t.label), y+fontAscent/2-1, black)
	}
	// Frame.
	p.hseg(p.x0, p.x1, p.y0, black)
	p.hseg(p.x0, p.x1, p.y1, black)
	p.vseg(p.x0, p.y0, p.y1, black)
	p.vseg(p.x1, p.y0, p.y1, black)
	p.text(title, (plotW-textWidth(title))/2, 6+fontAscent, black)
	p.text(xlabel, p.x0+(p.x1-p.x0-textWidth(xlabel))/2, plotH-8, black)
	p.vtext(ylabel, 6, p.y0+(p.y1-p.y0+textWidth(ylabel))/2, black)
	return p
}

// px maps data coordinates to pixel coordinates.
func (p *plot) px(x, y float64) (int, int) {
	fx := (x - p.xmin) / (p.xmax - p.xmin)
	fy := (y - p.ymin) / (p.ymax - p.ymin)
	return p.x0 + int(math.Round(fx*float64(p.x1-p.x0))), p.y1 - int(math.Round(fy*float64(p.y1-p.y0)))
}

func (p *plot) set(x, y int, c color.RGBA) {
	if image.Pt(x, y).In(p.img.Rect) {
		p.img.SetRGBA(x, y, c)
	}
}

func (p *plot) hseg(xa, xb, y int, c color.RGBA) {
	for x := xa; x <= xb; x++ {
		p.set(x, y, c)
	}
}

func (p *plot) vseg(x, ya, yb int, c color.RGBA) {
	for y := ya; y <= yb; y++ {
		p.set(x, y, c)
	}
}

// line draws a 2-pixel-wide segment between data points, clipped to the
// data area; dash > 0 draws dash pixels on, dash off.
func (p *plot) line(xa, ya, xb, yb float64, c color.RGBA, dash int) {
	ax, ay := p.px(xa, ya)
	bx, by := p.px(xb, yb)
	dx, dy := abs(bx-ax), -abs(by-ay)
	sx, sy := sign(bx-ax), sign(by-ay)
	e := dx + dy
	for n := 0; ; n++ {
		if (dash == 0 || (n/dash)%2 == 0) && ax >= p.x0 && ax <= p.x1 && ay >= p.y0 && ay <= p.y1 {
			p.set(ax, ay, c)
			p.set(ax+1, ay, c)
			p.set(ax, ay+1, c)
		}
		if ax == bx && ay == by {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			ax += sx
		} else {
			e += dx
			ay += sy
		}
	}
}

// polyline joins consecutive points.
func (p *plot) polyline(xs, ys []float64, c color.RGBA) {
	for i := 1; i < len(xs) && i < len(ys); i++ {
		p.line(xs[i-1], ys[i-1], xs[i], ys[i], c, 0)
	}
}

// fill blends c at alpha over the data rectangle [xa,xb]×[ya,yb].
func (p *plot) fill(xa, xb, ya, yb float64, c color.RGBA, alpha float64) {
	ax, ay := p.px(xa, yb)
	bx, by := p.px(xb, ya)
	for y := max(ay, p.y0); y <= min(by, p.y1); y++ {
		for x := max(ax, p.x0); x <= min(bx, p.x1); x++ {
			o := p.img.RGBAAt(x, y)
			p.img.SetRGBA(x, y, color.RGBA{
				uint8(float64(o.R)*(1-alpha) + float64(c.R)*alpha + 0.5),
				uint8(float64(o.G)*(1-alpha) + float64(c.G)*alpha + 0.5),
				uint8(float64(o.B)*(1-alpha) + float64(c.B)*alpha + 0.5), 255})
		}
	}
}

// legend writes labelled colour swatches in the top-right of the data area.
func (p *plot) legend(items []string, colors []color.RGBA) {
	w := 0
	for _, s := range items {
		w = max(w, textWidth(s))
	}
	x := p.x1 - w - 24
	// A translucent white box keeps the text readable over the data.
	for y := p.y0 + 3; y <= p.y0+16*len(items)+6; y++ {
		for xx := x - 4; xx <= p.x1-3; xx++ {
			o := p.img.RGBAAt(xx, y)
			p.img.SetRGBA(xx, y, color.RGBA{uint8((int(o.R) + 3*255) / 4), uint8((int(o.G) + 3*255) / 4), uint8((int(o.B) + 3*255) / 4), 255})
		}
	}
	for i, s := range items {
		y := p.y0 + 8 + 16*i
		for yy := y; yy < y+8; yy++ {
			p.hseg(x, x+10, yy, colors[i])
		}
		p.text(s, x+16, y+8, black)
	}
}

func (p *plot) text(s string, x, y int, c color.RGBA) { drawText(p.img, s, x, y, c) }

// drawText draws s with its baseline's start at (x, y).
func drawText(img *image.RGBA, s string, x, y int, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: fontFace, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// vtext draws s rotated 90° counter-clockwise with its baseline's start
// at (x+ascent, y), reading bottom to top.
func (p *plot) vtext(s string, x, y int, c color.RGBA) {
	w, h := textWidth(s), 13
	tmp := image.NewRGBA(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: tmp, Src: image.NewUniform(c), Face: fontFace, Dot: fixed.P(0, fontAscent)}
	d.DrawString(s)
	for ty := 0; ty < h; ty++ {
		for tx := 0; tx < w; tx++ {
			if tmp.RGBAAt(tx, ty).A > 0 {
				p.set(x+ty, y-tx, c)
			}
		}
	}
}

func textWidth(s string) int { return font.MeasureString(fontFace, s).Round() }

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

type tick struct {
	v     float64
	label string
}

// ticks returns about five round-numbered ticks (steps of 1, 2 or 5 × 10^n)
// within [lo, hi].
func ticks(lo, hi float64) []tick {
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return []tick{{lo, strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 5, 10} {
		if raw/mag > m*0.75 {
			step = m * mag
		}
	}
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var out []tick
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		out = append(out, tick{v, strconv.FormatFloat(v, 'f', dec, 64)})
	}
	return out
}

// rocPlot draws a ROC curve (FPR on x, TPR on y) with the chance diagonal.
func rocPlot(c Curve) *image.RGBA {
	p := newPlot("ROC curve", "false positive rate", "true positive rate", 0, 1, 0, 1)
	p.line(0, 0, 1, 1, midGray, 6)
	p.polyline(c.X, c.Y, blue)
	p.legend([]string{"area " + strconv.FormatFloat(trapezoid(c.X, c.Y), 'f', 4, 64), "chance"}, []color.RGBA{blue, midGray})
	return p.img
}

// prPlot draws a precision-recall curve.
func prPlot(c Curve) *image.RGBA {
	p := newPlot("Precision-recall curve", "recall", "precision", 0, 1, 0, 1)
	p.polyline(c.X, c.Y, red)
	return p.img
}

// trapezoid integrates y over x with the trapezoid rule.
func trapezoid(x, y []float64) float64 {
	var a float64
	for i := 1; i < len(x) && i < len(y); i++ {
		a += (x[i] - x[i-1]) * (y[i] + y[i-1]) / 2
	}
	return a
}

// histBins is the number of bins of the score histogram.
const histBins = 30

// histogram bins both score sets on a shared range and returns each class's
// fraction per bin, with the range used.
func histogram(normal, anomalous []float64, threshold float64) (hn, ha []float64, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, set := range [][]float64{normal, anomalous, {threshold}} {
		for _, v := range set {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	if !(hi > lo) {
		lo, hi = lo-0.5, hi+0.5
	}
	bin := func(set []float64) []float64 {
		h := make([]float64, histBins)
		n := 0
		for _, v := range set {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			h[min(histBins-1, int((v-lo)/(hi-lo)*histBins))]++
			n++
		}
		for i := range h {
			if n > 0 {
				h[i] /= float64(n)
			}
		}
		return h
	}
	return bin(normal), bin(anomalous), lo, hi
}

// histPlot draws overlapping per-class score histograms (as fractions of
// each class) and marks the threshold with a dashed line.
func histPlot(normal, anomalous []float64, threshold float64, hasThreshold bool) *image.RGBA {
	hn, ha, lo, hi := histogram(normal, anomalous, threshold)
	top := 0.0
	for i := range hn {
		top = max(top, hn[i], ha[i])
	}
	if top == 0 {
		top = 1
	}
	top *= 1.1
	p := newPlot("Image score distribution", "anomaly score", "fraction of class", lo, hi, 0, top)
	w := (hi - lo) / histBins
	for i := range hn {
		a := lo + float64(i)*w
		p.fill(a, a+w, 0, hn[i], blue, 0.55)
		p.fill(a, a+w, 0, ha[i], red, 0.45)
	}
	items := []string{"normal (" + strconv.Itoa(len(normal)) + ")", "anomalous (" + strconv.Itoa(len(anomalous)) + ")"}
	cols := []color.RGBA{blue, red}
	if hasThreshold {
		p.line(threshold, 0, threshold, top, black, 5)
		items = append(items, "threshold "+strconv.FormatFloat(threshold, 'g', 4, 64))
		cols = append(cols, black)
	}
	p.legend(items, cols)
	return p.img
}
