package ops

import "github.com/vigil-ad/vigil/tensor"

// depthwiseForward is the direct depthwise kernel (one filter per channel),
// parallel over N*C planes; it reuses the recycled forward task.
func depthwiseForward(y, x, w, bias []float32, act Act, s *convShape) {
	t := convFwdTasks.Get().(*convFwdTask)
	t.y, t.x, t.w, t.bias, t.act, t.s = y, x, w, bias, act, *s
	tensor.Parallel(s.n*s.cin, t.dwfn)
	t.y, t.x, t.w, t.bias = nil, nil, nil, nil
	convFwdTasks.Put(t)
}

func (t *convFwdTask) depthwise(lo, hi int) {
	g := &t.s.win
	cin := t.s.cin
	hw, ohw, kk := g.h*g.w, g.oh*g.ow, g.kh*g.kw
	fast := g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1
	var pad []float32
	if fast {
		pad = tensor.GetDirty(2 * g.bandSize(g.oh))
	}
	for pl := lo; pl < hi; pl++ {
		c := pl % cin
		xp := t.x[pl*hw : pl*hw+hw]
		yp := t.y[pl*ohw : pl*ohw+ohw]
		wc := t.w[c*kk : c*kk+kk]
		var bv float32
		if t.bias != nil {
			bv = t.bias[c]
		}
		if fast {
			dw3x3Plane(yp, xp, wc, bv, t.act, g, pad)
			continue
		}
		dwGenericPlane(yp, xp, wc, bv, g)
		biasAct(yp, 0, false, t.act)
	}
	if pad != nil {
		tensor.Put(pad)
	}
}

// dwGenericPlane handles any kernel, stride and dilation.
func dwGenericPlane(yp, xp, wc []float32, bv float32, g *window) {
	for oy := 0; oy < g.oh; oy++ {
		yr := yp[oy*g.ow : oy*g.ow+g.ow]
		for i := range yr {
			yr[i] = bv
		}
		for ki := 0; ki < g.kh; ki++ {
			iy := oy*g.sh - g.pt + ki*g.dh
			if iy < 0 || iy >= g.h {
				continue
			}
			xr := xp[iy*g.w : iy*g.w+g.w]
			for kj := 0; kj < g.kw; kj++ {
				wv := wc[ki*g.kw+kj]
				off := kj*g.dw - g.pl
				a, b := span(off, g.sw, g.w, g.ow)
				if a >= b {
					continue
				}
				if g.sw == 1 {
					src := xr[a+off : b+off]
					dst := yr[a:b]
					for i, v := range src {
						dst[i] += wv * v
					}
				} else {
					dst := yr[a:b]
					for i := range dst {
						dst[i] += wv * xr[(a+i)*g.sw+off]
					}
				}
			}
		}
	}
}

// dw3x3Plane is the 3×3 undilated case: the plane is copied once into a
// zero-padded band (scratch pad) so every output row is three bounds-free
// input rows, and the activation is fused.
func dw3x3Plane(yp, xp, wc []float32, bv float32, act Act, g *window, pad []float32) {
	iy0, rows, wp := g.band(0, g.oh)
	band := pad[:rows*wp]
	g.fillBand(xp, band, iy0, rows, wp)
	// Stride 2 splits each band row into even and odd columns (second half
	// of pad, same row pitch) so the row kernel reads contiguously.
	eo := pad[rows*wp : 2*rows*wp]
	we := (wp + 1) / 2
	if g.sw == 2 {
		for r := 0; r < rows; r++ {
			splitEvenOdd(band[r*wp:(r+1)*wp], eo[r*wp:r*wp+we], eo[r*wp+we:(r+1)*wp])
		}
	}
	pad = band
	lo, hi := act.bounds()
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := wc[0], wc[1], wc[2], wc[3], wc[4], wc[5], wc[6], wc[7], wc[8]
	for oy := 0; oy < g.oh; oy++ {
		yr := yp[oy*g.ow : oy*g.ow+g.ow]
		r := oy * g.sh
		r0, r1, r2 := pad[r*wp:(r+1)*wp], pad[(r+1)*wp:(r+2)*wp], pad[(r+2)*wp:(r+3)*wp]
		if g.sw == 1 {
			dw3Row1(yr, r0, r1, r2, wc, bv, lo, hi)
			continue
		}
		if g.sw == 2 {
			var e, o [3][]float32
			for k := range e {
				e[k] = eo[(r+k)*wp : (r+k)*wp+g.ow+1]
				o[k] = eo[(r+k)*wp+we : (r+k)*wp+we+g.ow]
			}
			dw3Row2(yr, &e, &o, wc, bv, lo, hi)
			continue
		}
		sw := g.sw
		for ox := range yr {
			j := ox * sw
			v := bv + w0*r0[j] + w1*r0[j+1] + w2*r0[j+2] +
				w3*r1[j] + w4*r1[j+1] + w5*r1[j+2] +
				w6*r2[j] + w7*r2[j+1] + w8*r2[j+2]
			if v < lo {
				v = lo
			}
			if v > hi {
				v = hi
			}
			yr[ox] = v
		}
	}
}

// splitEvenOddGo writes row's even columns from index from on to e and
// its odd columns to o (as many as they hold).
func splitEvenOddGo(row, e, o []float32, from int) {
	for i := from; i < len(e); i++ {
		e[i] = row[2*i]
	}
	for i := from; i < len(o); i++ {
		o[i] = row[2*i+1]
	}
}

// dw3Row2Go computes outputs [from,len(out)) of the stride-2 row.
func dw3Row2Go(out []float32, e, o *[3][]float32, wc []float32, bv, lo, hi float32, from int) {
	w := wc[:9]
	for i := from; i < len(out); i++ {
		v := bv
		for r := 0; r < 3; r++ {
			v += w[3*r]*e[r][i] + w[3*r+1]*o[r][i] + w[3*r+2]*e[r][i+1]
		}
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		out[i] = v
	}
}

// depthwiseBackward computes dW (and dX when dx != nil) directly, parallel
// over channels so each channel's filter gradient has a single writer.
func depthwiseBackward(dx, dw, x, w, dy []float32, s *convShape) {
	g := &s.win
	hw, ohw, kk := g.h*g.w, g.oh*g.ow, g.kh*g.kw
	tensor.Parallel(s.cin, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			wc := w[c*kk : c*kk+kk]
			dwc := dw[c*kk : c*kk+kk]
			for img := 0; img < s.n; img++ {
				pl := img*s.cin + c
				xp := x[pl*hw : pl*hw+hw]
				dyp := dy[pl*ohw : pl*ohw+ohw]
				var dxp []float32
				if dx != nil {
					dxp = dx[pl*hw : pl*hw+hw]
				}
				for ki := 0; ki < g.kh; ki++ {
					ylo, yhi := span(ki*g.dh-g.pt, g.sh, g.h, g.oh)
					for kj := 0; kj < g.kw; kj++ {
						off := kj*g.dw - g.pl
						a, b := span(off, g.sw, g.w, g.ow)
						if a >= b {
							continue
						}
						wv := wc[ki*g.kw+kj]
						var acc float32
						for oy := ylo; oy < yhi; oy++ {
							iy := oy*g.sh - g.pt + ki*g.dh
							dr := dyp[oy*g.ow+a : oy*g.ow+b]
							xr := xp[iy*g.w : iy*g.w+g.w]
							if g.sw == 1 {
								xs := xr[a+off : b+off]
								for i, d := range dr {
									acc += d * xs[i]
								}
								if dxp != nil {
									dxs := dxp[iy*g.w+a+off : iy*g.w+b+off]
									for i, d := range dr {
										dxs[i] += wv * d
									}
								}
								continue
							}
							for i, d := range dr {
								j := (a+i)*g.sw + off
								acc += d * xr[j]
								if dxp != nil {
									dxp[iy*g.w+j] += wv * d
								}
							}
						}
						dwc[ki*g.kw+kj] += acc
					}
				}
			}
		}
	})
}

// dw3Row1Go is the portable dw3Row1. Every operand is resliced to
// len(out) so the compiler drops the bounds checks from the loop.
func dw3Row1Go(out, r0, r1, r2, wc []float32, bv, lo, hi float32) {
	n := len(out)
	a0, a1, a2 := r0[:n], r0[1:n+1], r0[2:n+2]
	b0, b1, b2 := r1[:n], r1[1:n+1], r1[2:n+2]
	c0, c1, c2 := r2[:n], r2[1:n+1], r2[2:n+2]
	w := wc[:9]
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
	for i := range out {
		v := bv + w0*a0[i] + w1*a1[i] + w2*a2[i] +
			w3*b0[i] + w4*b1[i] + w5*b2[i] +
			w6*c0[i] + w7*c1[i] + w8*c2[i]
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		out[i] = v
	}
}
