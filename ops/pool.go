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
// flat index into x.Data of the element chosen (-1 for a window that holds
// only padding, whose output is 0).
func MaxPool2dForward(x *tensor.Tensor, p Pool2D) (y *tensor.Tensor, argmax []int32) {
	p = p.norm()
	n, c, h, w, oh, ow := poolCheck("ops.MaxPool2dForward", x, p)
	if x.Len() > math.MaxInt32 {
		panicf("ops.MaxPool2dForward: input %v too large for int32 indices", x.Shape)
	}
	y = tensor.New(n, c, oh, ow)
	argmax = make([]int32, y.Len())
	hw, ohw := h*w, oh*ow
	tensor.Parallel(n*c, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xp := x.Data[pl*hw : pl*hw+hw]
			for oy := 0; oy < oh; oy++ {
				hs := oy*p.StrideH - p.PadT
				he := min(hs+p.KH, h)
				hs = max(hs, 0)
				for ox := 0; ox < ow; ox++ {
					ws := ox*p.StrideW - p.PadL
					we := min(ws+p.KW, w)
					ws = max(ws, 0)
					best, bi := float32(math.Inf(-1)), -1
					for iy := hs; iy < he; iy++ {
						for ix := ws; ix < we; ix++ {
							// NaN propagates like PyTorch: once seen it wins.
							if v := xp[iy*w+ix]; v > best || v != v || bi < 0 {
								best, bi = v, iy*w+ix
								if v != v {
									iy = he
									break
								}
							}
						}
					}
					o := pl*ohw + oy*ow + ox
					if bi < 0 {
						y.Data[o], argmax[o] = 0, -1
						continue
					}
					y.Data[o], argmax[o] = best, int32(pl*hw+bi)
				}
			}
		}
	})
	return y, argmax
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
