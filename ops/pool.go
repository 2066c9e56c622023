package ops

import (
	"math"

	"github.com/vigil-ad/vigil/tensor"
)

// Pool2D holds pooling hyper-parameters. Zero strides mean 1. CeilMode and
// CountIncludePad follow PyTorch: with ceil mode the last window must start
// inside the input or its leading padding; CountIncludePad (average pooling
// only) divides by the window size clipped to the padded input instead of
// by the number of real elements.
type Pool2D struct {
	KH, KW, StrideH, StrideW, PadT, PadL, PadB, PadR int
	CeilMode                                         bool
	CountIncludePad                                  bool
}

func (p Pool2D) norm() Pool2D {
	if p.StrideH == 0 {
		p.StrideH = 1
	}
	if p.StrideW == 0 {
		p.StrideW = 1
	}
	if p.KH <= 0 || p.KW <= 0 || p.StrideH < 0 || p.StrideW < 0 || p.PadT < 0 || p.PadL < 0 || p.PadB < 0 || p.PadR < 0 {
		panicf("ops.Pool2D: bad parameters %+v", p)
	}
	return p
}

func poolOut(in, k, s, pa, pb int, ceil bool) int {
	num := in + pa + pb - k
	if !ceil {
		return num/s + 1
	}
	o := (num+s-1)/s + 1
	if (o-1)*s >= in+pa {
		o--
	}
	return o
}

// OutSize returns the pooled height and width of an h×w input.
func (p Pool2D) OutSize(h, w int) (oh, ow int) {
	q := p.norm()
	return poolOut(h, q.KH, q.StrideH, q.PadT, q.PadB, q.CeilMode), poolOut(w, q.KW, q.StrideW, q.PadL, q.PadR, q.CeilMode)
}

func poolCheck(op string, x *tensor.Tensor, p Pool2D) (n, c, h, w, oh, ow int) {
	n, c, h, w = x.Dims4(op)
	oh, ow = p.OutSize(h, w)
	if oh <= 0 || ow <= 0 {
		panicf("%s: input %v too small for %+v", op, x.Shape, p)
	}
	return
}

// MaxPool2dForward returns the max pool of x and, for every output, the
// flat index into x.Data of the element chosen (the first maximum in
// row-major window order; -1 for a window that holds only padding, whose
// output is 0). NaN propagates.
func MaxPool2dForward(x *tensor.Tensor, p Pool2D) (y *tensor.Tensor, argmax []int32) {
	p = p.norm()
	n, c, h, w, oh, ow := poolCheck("ops.MaxPool2dForward", x, p)
	if x.Len() > math.MaxInt32 {
		panicf("ops.MaxPool2dForward: input %v too large for int32 indices", x.Shape)
	}
	y = tensor.New(n, c, oh, ow)
	argmax = make([]int32, y.Len())
	g := window{h: h, w: w, oh: oh, ow: ow, kh: p.KH, kw: p.KW, sh: p.StrideH, sw: p.StrideW,
		pt: p.PadT, pl: p.PadL, dh: 1, dw: 1}
	hw, ohw := h*w, oh*ow
	_, rows, wp := g.band(0, oh)
	tensor.Parallel(n*c, func(lo, hi int) {
		scratch := tensor.GetDirty(2*rows*wp + rows*ow)
		for pl := lo; pl < hi; pl++ {
			xp := x.Data[pl*hw : pl*hw+hw]
			yp := y.Data[pl*ohw : pl*ohw+ohw]
			maxPoolPlane(yp, xp, &g, scratch)
			poolArgmax(yp, argmax[pl*ohw:pl*ohw+ohw], xp, &g, int32(pl*hw))
		}
		tensor.Put(scratch)
	})
	return y, argmax
}

// MaxPool2dInference is MaxPool2dForward without the argmax indices (for
// inference, where no backward pass follows); it skips the index search,
// which costs more than the pooling itself. Windows of padding only give 0.
func MaxPool2dInference(x *tensor.Tensor, p Pool2D) *tensor.Tensor {
	p = p.norm()
	n, c, _, _, oh, ow := poolCheck("ops.MaxPool2dInference", x, p)
	y := tensor.New(n, c, oh, ow)
	maxPoolInference(y, x, p)
	return y
}

// MaxPool2dInferenceInto is MaxPool2dInference writing into the
// preallocated y ([N,C,OH,OW]).
func MaxPool2dInferenceInto(y, x *tensor.Tensor, p Pool2D) {
	p = p.norm()
	n, c, _, _, oh, ow := poolCheck("ops.MaxPool2dInferenceInto", x, p)
	if yn, yc, yh, yw := y.Dims4("ops.MaxPool2dInferenceInto output"); yn != n || yc != c || yh != oh || yw != ow {
		panicf("ops.MaxPool2dInferenceInto: output %v, want [%d %d %d %d]", y.Shape, n, c, oh, ow)
	}
	maxPoolInference(y, x, p)
}

func maxPoolInference(y, x *tensor.Tensor, p Pool2D) {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := y.Shape[2], y.Shape[3]
	g := window{h: h, w: w, oh: oh, ow: ow, kh: p.KH, kw: p.KW, sh: p.StrideH, sw: p.StrideW,
		pt: p.PadT, pl: p.PadL, dh: 1, dw: 1}
	hw, ohw := h*w, oh*ow
	_, rows, wp := g.band(0, oh)
	ninf := float32(math.Inf(-1))
	fast := use3s2(&g)
	tensor.Parallel(n*c, func(lo, hi int) {
		scratch := tensor.GetDirty(2*rows*wp + rows*ow)
		for pl := lo; pl < hi; pl++ {
			yp := y.Data[pl*ohw : pl*ohw+ohw]
			if fast {
				maxPool3s2Plane(yp, x.Data[pl*hw:pl*hw+hw], &g)
				continue
			}
			maxPoolPlane(yp, x.Data[pl*hw:pl*hw+hw], &g, scratch)
			for i, v := range yp {
				if v == ninf && !windowHasInput(&g, i) {
					yp[i] = 0
				}
			}
		}
		tensor.Put(scratch)
	})
}

// use3s2 reports whether maxPool3s2Plane applies: a 3×3 stride-2 window
// that always covers an input row and column (ResNet's stem pool).
func use3s2(g *window) bool {
	if g.kh != 3 || g.kw != 3 || g.sh != 2 || g.sw != 2 || g.pt > 2 || g.pl > 2 {
		return false
	}
	return (g.oh-1)*2-g.pt < g.h && (g.ow-1)*2-g.pl < g.w
}

// maxPool3s2Plane is maxPoolPlane for use3s2 windows, one pass per output
// row straight from the input: rows outside the image are replaced by a
// row inside the window (max is idempotent), interior columns go through
// maxPool3s2Row and the few edge columns are done here.
func maxPool3s2Plane(yp, xp []float32, g *window) {
	w := g.w
	ox0 := min((g.pl+1)/2, g.ow) // first window entirely right of the left edge
	ox1 := ox0                   // ... and past the last entirely inside
	if last := (w - 3 + g.pl) / 2; w-3+g.pl >= 0 && last >= ox0 {
		ox1 = min(last+1, g.ow)
	}
	for oy := 0; oy < g.oh; oy++ {
		iy := oy*2 - g.pt
		lo, hi := max(iy, 0), min(iy+2, g.h-1)
		rows := [3][]float32{}
		for k := range rows {
			r := min(max(iy+k, lo), hi)
			rows[k] = xp[r*w : r*w+w]
		}
		out := yp[oy*g.ow : oy*g.ow+g.ow]
		if ox1 > ox0 {
			b := 2*ox0 - g.pl
			maxPool3s2Row(out[ox0:ox1], rows[0][b:], rows[1][b:], rows[2][b:])
		}
		for ox := 0; ox < g.ow; ox++ {
			if ox == ox0 && ox1 > ox0 {
				ox = ox1
				if ox >= g.ow {
					break
				}
			}
			ws := ox*2 - g.pl
			m := float32(math.Inf(-1))
			for _, row := range rows {
				for ix := max(ws, 0); ix < min(ws+3, w); ix++ {
					if v := row[ix]; v > m || v != v {
						m = v
					}
					if m != m {
						break
					}
				}
			}
			out[ox] = m
		}
	}
}

// maxPool3s2RowGo is the portable maxPool3s2Row from column from.
func maxPool3s2RowGo(out, r0, r1, r2 []float32, from int) {
	for i := from; i < len(out); i++ {
		m := r0[2*i]
		for _, r := range [3][]float32{r0, r1, r2} {
			for _, v := range r[2*i : 2*i+3] {
				if v > m || v != v {
					m = v
				}
			}
			if m != m {
				break
			}
		}
		out[i] = m
	}
}

// windowHasInput reports whether output o's window covers an input pixel.
func windowHasInput(g *window, o int) bool {
	oy, ox := o/g.ow, o%g.ow
	hs, ws := oy*g.sh-g.pt, ox*g.sw-g.pl
	return hs+g.kh > 0 && hs < g.h && ws+g.kw > 0 && ws < g.w
}

// maxPoolPlane computes one plane's maxima separably: the input rows are
// copied into a band padded with -Inf, each band row is reduced across the
// kernel width (contiguous runs; stride 2 via even/odd split columns), and
// the row maxima are reduced down the kernel height, all with vector max.
func maxPoolPlane(yp, xp []float32, g *window, scratch []float32) {
	iy0, rows, wp := g.band(0, g.oh)
	band := scratch[:rows*wp]
	eo := scratch[rows*wp : 2*rows*wp]
	hm := scratch[2*rows*wp : 2*rows*wp+rows*g.ow]
	ninf := float32(math.Inf(-1))
	ncopy := min(g.w, wp-g.pl)
	half := (wp + 1) / 2
	for r := 0; r < rows; r++ {
		row := band[r*wp : r*wp+wp]
		iy := iy0 + r
		if iy < 0 || iy >= g.h {
			fill(row, ninf)
		} else {
			fill(row[:g.pl], ninf)
			copy(row[g.pl:g.pl+ncopy], xp[iy*g.w:iy*g.w+ncopy])
			fill(row[g.pl+ncopy:], ninf)
		}
		out := hm[r*g.ow : r*g.ow+g.ow]
		switch g.sw {
		case 1:
			copy(out, row[:g.ow])
			for kj := 1; kj < g.kw; kj++ {
				maxInto(out, row[kj:kj+g.ow])
			}
		case 2:
			e, o := eo[r*wp:r*wp+half], eo[r*wp+half:(r+1)*wp]
			splitEvenOdd(row, e, o)
			copy(out, e[:g.ow])
			for kj := 1; kj < g.kw; kj++ {
				if kj%2 == 0 {
					maxInto(out, e[kj/2:kj/2+g.ow])
				} else {
					maxInto(out, o[kj/2:kj/2+g.ow])
				}
			}
		default:
			for ox := range out {
				s := row[ox*g.sw : ox*g.sw+g.kw]
				m := s[0]
				for _, v := range s[1:] {
					if v > m || v != v {
						m = v
					}
				}
				out[ox] = m
			}
		}
	}
	for oy := 0; oy < g.oh; oy++ {
		out := yp[oy*g.ow : oy*g.ow+g.ow]
		r := oy * g.sh
		copy(out, hm[r*g.ow:(r+1)*g.ow])
		for ki := 1; ki < g.kh; ki++ {
			maxInto(out, hm[(r+ki)*g.ow:(r+ki+1)*g.ow])
		}
	}
}

// poolArgmax finds, for each output, the first window element equal to
// the maximum (or NaN when the maximum is NaN); windows of padding only get
// output 0 and index -1. base is the plane's offset in the input.
func poolArgmax(yp []float32, am []int32, xp []float32, g *window, base int32) {
	for oy := 0; oy < g.oh; oy++ {
		hs := oy*g.sh - g.pt
		he := min(hs+g.kh, g.h)
		hs = max(hs, 0)
		for ox := 0; ox < g.ow; ox++ {
			ws := ox*g.sw - g.pl
			we := min(ws+g.kw, g.w)
			ws = max(ws, 0)
			o := oy*g.ow + ox
			m := yp[o]
			idx := -1
			if m != m {
			scan:
				for iy := hs; iy < he; iy++ {
					for ix, v := range xp[iy*g.w+ws : iy*g.w+we] {
						if v != v {
							idx = iy*g.w + ws + ix
							break scan
						}
					}
				}
			} else {
				// Scan backwards with a conditional move (no data-dependent
				// branch), so the first match in row-major order wins.
				for iy := he - 1; iy >= hs; iy-- {
					row := xp[iy*g.w+ws : iy*g.w+we]
					for ix := len(row) - 1; ix >= 0; ix-- {
						if row[ix] == m {
							idx = iy*g.w + ws + ix
						}
					}
				}
			}
			if idx < 0 {
				yp[o], am[o] = 0, -1
				continue
			}
			am[o] = base + int32(idx)
		}
	}
}

// fill sets every element of s to v.
func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// maxIntoGo is the portable maxInto.
func maxIntoGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		if v > dst[i] || v != v {
			dst[i] = v
		}
	}
}

// MaxPool2dBackward scatters dy into a zero tensor of xShape at the argmax
// positions recorded by MaxPool2dForward.
func MaxPool2dBackward(dy *tensor.Tensor, argmax []int32, xShape []int) *tensor.Tensor {
	if len(argmax) != dy.Len() {
		panicf("ops.MaxPool2dBackward: %d indices for dy %v", len(argmax), dy.Shape)
	}
	dx := tensor.New(xShape...)
	n, c, _, _ := dx.Dims4("ops.MaxPool2dBackward xShape")
	if dn, dc, _, _ := dy.Dims4("ops.MaxPool2dBackward dy"); dn != n || dc != c {
		panicf("ops.MaxPool2dBackward: dy %v does not match xShape %v", dy.Shape, xShape)
	}
	// Windows of one plane only select inside that plane, so planes are
	// independent and can run in parallel.
	ohw := dy.Len() / max(n*c, 1)
	tensor.Parallel(n*c, func(lo, hi int) {
		for o := lo * ohw; o < hi*ohw; o++ {
			if i := argmax[o]; i >= 0 {
				dx.Data[i] += dy.Data[o]
			}
		}
	})
	return dx
}

// avgWindow returns the clipped window of output (oy,ox) and its divisor.
func (p *Pool2D) avgWindow(h, w, oy, ox int) (hs, he, ws, we int, div float32) {
	hs = oy*p.StrideH - p.PadT
	he = min(hs+p.KH, h+p.PadB)
	ws = ox*p.StrideW - p.PadL
	we = min(ws+p.KW, w+p.PadR)
	size := (he - hs) * (we - ws)
	hs, ws = max(hs, 0), max(ws, 0)
	he, we = min(he, h), min(we, w)
	if !p.CountIncludePad {
		size = (he - hs) * (we - ws)
	}
	if size <= 0 {
		return hs, he, ws, we, 0
	}
	return hs, he, ws, we, 1 / float32(size)
}

// AvgPool2dForward returns the average pool of x.
func AvgPool2dForward(x *tensor.Tensor, p Pool2D) *tensor.Tensor {
	p = p.norm()
	n, c, h, w, oh, ow := poolCheck("ops.AvgPool2dForward", x, p)
	y := tensor.New(n, c, oh, ow)
	hw, ohw := h*w, oh*ow
	tensor.Parallel(n*c, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xp := x.Data[pl*hw : pl*hw+hw]
			yp := y.Data[pl*ohw : pl*ohw+ohw]
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					hs, he, ws, we, inv := p.avgWindow(h, w, oy, ox)
					var s float32
					for iy := hs; iy < he; iy++ {
						for _, v := range xp[iy*w+ws : iy*w+we] {
							s += v
						}
					}
					yp[oy*ow+ox] = s * inv
				}
			}
		}
	})
	return y
}

// AvgPool2dBackward spreads each dy over its window, divided as in forward.
func AvgPool2dBackward(dy *tensor.Tensor, p Pool2D, xShape []int) *tensor.Tensor {
	p = p.norm()
	dx := tensor.New(xShape...)
	n, c, h, w, oh, ow := poolCheck("ops.AvgPool2dBackward", dx, p)
	if dn, dc, dh, dw := dy.Dims4("ops.AvgPool2dBackward dy"); dn != n || dc != c || dh != oh || dw != ow {
		panicf("ops.AvgPool2dBackward: dy %v, want [%d %d %d %d]", dy.Shape, n, c, oh, ow)
	}
	hw, ohw := h*w, oh*ow
	tensor.Parallel(n*c, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dxp := dx.Data[pl*hw : pl*hw+hw]
			dyp := dy.Data[pl*ohw : pl*ohw+ohw]
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					hs, he, ws, we, inv := p.avgWindow(h, w, oy, ox)
					g := dyp[oy*ow+ox] * inv
					for iy := hs; iy < he; iy++ {
						r := dxp[iy*w+ws : iy*w+we]
						for i := range r {
							r[i] += g
						}
					}
				}
			}
		}
	})
	return dx
}

// GlobalAvgPoolForward averages each channel plane: [N,C,H,W] -> [N,C,1,1].
func GlobalAvgPoolForward(x *tensor.Tensor) *tensor.Tensor {
	n, c, h, w := x.Dims4("ops.GlobalAvgPoolForward")
	y := tensor.New(n, c, 1, 1)
	hw := h * w
	inv := 1 / float64(hw)
	tensor.ParallelChunks(n*c, 16, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			var s float64
			for _, v := range x.Data[pl*hw : pl*hw+hw] {
				s += float64(v)
			}
			y.Data[pl] = float32(s * inv)
		}
	})
	return y
}

// GlobalAvgPoolBackward broadcasts dy [N,C,1,1] / (H*W) over xShape.
func GlobalAvgPoolBackward(dy *tensor.Tensor, xShape []int) *tensor.Tensor {
	dx := tensor.New(xShape...)
	n, c, h, w := dx.Dims4("ops.GlobalAvgPoolBackward xShape")
	if dy.Len() != n*c {
		panicf("ops.GlobalAvgPoolBackward: dy %v for xShape %v", dy.Shape, xShape)
	}
	hw := h * w
	inv := 1 / float32(hw)
	tensor.ParallelChunks(n*c, 16, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			g := dy.Data[pl] * inv
			r := dx.Data[pl*hw : pl*hw+hw]
			for i := range r {
				r[i] = g
			}
		}
	})
	return dx
}
