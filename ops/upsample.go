package ops

import "github.com/vigil-ad/vigil/tensor"

// nearestIndex maps output index o to its source, floor(o*in/out) as in
// PyTorch's "nearest" mode and ONNX Resize asymmetric/floor.
func nearestIndex(o, in, out int) int { return min(o*in/out, in-1) }

// UpsampleNearest resizes x [N,C,H,W] to [N,C,oh,ow] by nearest neighbour.
func UpsampleNearest(x *tensor.Tensor, oh, ow int) *tensor.Tensor {
	n, c, h, w := x.Dims4("ops.UpsampleNearest")
	if oh <= 0 || ow <= 0 {
		panicf("ops.UpsampleNearest: bad output size %dx%d", oh, ow)
	}
	y := tensor.New(n, c, oh, ow)
	xi := make([]int, ow)
	for ox := range xi {
		xi[ox] = nearestIndex(ox, w, ow)
	}
	hw, ohw := h*w, oh*ow
	tensor.Parallel(n*c, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xp, yp := x.Data[pl*hw:pl*hw+hw], y.Data[pl*ohw:pl*ohw+ohw]
			for oy := 0; oy < oh; oy++ {
				xr := xp[nearestIndex(oy, h, oh)*w:]
				yr := yp[oy*ow : oy*ow+ow]
				for ox, i := range xi {
					yr[ox] = xr[i]
				}
			}
		}
	})
	return y
}

// UpsampleNearestBackward sums dy [N,C,oh,ow] back onto xShape.
func UpsampleNearestBackward(dy *tensor.Tensor, xShape []int) *tensor.Tensor {
	dx := tensor.New(xShape...)
	n, c, h, w := dx.Dims4("ops.UpsampleNearestBackward xShape")
	dn, dc, oh, ow := dy.Dims4("ops.UpsampleNearestBackward dy")
	if dn != n || dc != c {
		panicf("ops.UpsampleNearestBackward: dy %v for xShape %v", dy.Shape, xShape)
	}
	hw, ohw := h*w, oh*ow
	tensor.Parallel(n*c, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dxp, dyp := dx.Data[pl*hw:pl*hw+hw], dy.Data[pl*ohw:pl*ohw+ohw]
			for oy := 0; oy < oh; oy++ {
				xr := dxp[nearestIndex(oy, h, oh)*w:]
				for ox, v := range dyp[oy*ow : oy*ow+ow] {
					xr[nearestIndex(ox, w, ow)] += v
				}
			}
		}
	})
	return dx
}

// lerpTable gives, per output index, the two source indices and the
// weight of the second, as PyTorch's bilinear interpolation computes them.
func lerpTable(in, out int, alignCorners bool) (i0, i1 []int, l []float32) {
	i0, i1, l = make([]int, out), make([]int, out), make([]float32, out)
	for o := 0; o < out; o++ {
		var src float64
		if alignCorners {
			if out > 1 {
				src = float64(o) * float64(in-1) / float64(out-1)
			}
		} else {
			src = (float64(o)+0.5)*float64(in)/float64(out) - 0.5
			if src < 0 {
				src = 0
			}
		}
		a := min(int(src), in-1)
		i0[o], i1[o] = a, min(a+1, in-1)
		l[o] = float32(src - float64(a))
	}
	return
}

// UpsampleBilinear resizes x [N,C,H,W] to [N,C,oh,ow] by bilinear
// interpolation, matching PyTorch's interpolate(mode="bilinear") for
// either align_corners setting.
func UpsampleBilinear(x *tensor.Tensor, oh, ow int, alignCorners bool) *tensor.Tensor {
	n, c, h, w := x.Dims4("ops.UpsampleBilinear")
	if oh <= 0 || ow <= 0 {
		panicf("ops.UpsampleBilinear: bad output size %dx%d", oh, ow)
	}
	y := tensor.New(n, c, oh, ow)
	y0, y1, ly := lerpTable(h, oh, alignCorners)
	x0, x1, lx := lerpTable(w, ow, alignCorners)
	hw, ohw := h*w, oh*ow
	// Separable: interpolate every input row across (h×ow gathers), then
	// blend pairs of those rows down (contiguous, vectorised).
	tensor.Parallel(n*c, func(lo, hi int) {
		rows := tensor.GetDirty(h * ow)
		for pl := lo; pl < hi; pl++ {
			xp, yp := x.Data[pl*hw:pl*hw+hw], y.Data[pl*ohw:pl*ohw+ohw]
			for iy := 0; iy < h; iy++ {
				xr := xp[iy*w : iy*w+w]
				hr := rows[iy*ow : iy*ow+ow]
				for ox := range hr {
					t := lx[ox]
					hr[ox] = (1-t)*xr[x0[ox]] + t*xr[x1[ox]]
				}
			}
			for oy := 0; oy < oh; oy++ {
				b := ly[oy]
				lerpRows(yp[oy*ow:oy*ow+ow], rows[y0[oy]*ow:y0[oy]*ow+ow], rows[y1[oy]*ow:y1[oy]*ow+ow], 1-b, b)
			}
		}
		tensor.Put(rows)
	})
	return y
}

// lerpRowsGo is the portable lerpRows.
func lerpRowsGo(dst, r0, r1 []float32, a, b float32) {
	r0, r1 = r0[:len(dst)], r1[:len(dst)]
	for i := range dst {
		dst[i] = a*r0[i] + b*r1[i]
	}
}

// UpsampleBilinearBackward is the adjoint of UpsampleBilinear.
func UpsampleBilinearBackward(dy *tensor.Tensor, xShape []int, alignCorners bool) *tensor.Tensor {
	dx := tensor.New(xShape...)
	n, c, h, w := dx.Dims4("ops.UpsampleBilinearBackward xShape")
	dn, dc, oh, ow := dy.Dims4("ops.UpsampleBilinearBackward dy")
	if dn != n || dc != c {
		panicf("ops.UpsampleBilinearBackward: dy %v for xShape %v", dy.Shape, xShape)
	}
	y0, y1, ly := lerpTable(h, oh, alignCorners)
	x0, x1, lx := lerpTable(w, ow, alignCorners)
	hw, ohw := h*w, oh*ow
	tensor.Parallel(n*c, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dxp, dyp := dx.Data[pl*hw:pl*hw+hw], dy.Data[pl*ohw:pl*ohw+ohw]
			for oy := 0; oy < oh; oy++ {
				r0, r1 := dxp[y0[oy]*w:y0[oy]*w+w], dxp[y1[oy]*w:y1[oy]*w+w]
				b := ly[oy]
				a := 1 - b
				for ox, g := range dyp[oy*ow : oy*ow+ow] {
					i, j, t := x0[ox], x1[ox], lx[ox]
					r0[i] += a * (1 - t) * g
					r0[j] += a * t * g
					r1[i] += b * (1 - t) * g
					r1[j] += b * t * g
				}
			}
		}
	})
	return dx
}
