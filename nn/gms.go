package nn

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// Gradient magnitude similarity (Xue et al. 2014, GMSD) and its multi-scale
// form MSGMS as RIAD (Zavrtanik et al. 2021) trains and scores with it.
const (
	gmsC = 0.0026 // RIAD's constant, for intensities in [0,1]
	// gmsEps inside the magnitude's square root keeps its gradient finite
	// on flat patches (RIAD's reference adds the same 1e-12).
	gmsEps      = 1e-12
	msgmsScales = 4
)

// halve is the 2×2 average pooling (stride 2, odd edge dropped) between
// the scales of MSGMS and MS-SSIM.
var halve = ops.Pool2D{KH: 2, KW: 2, StrideH: 2, StrideW: 2}

// pyramidBackward is the backward pass through a pyramid of `scales`
// 2×2 average poolings of x and y: level(s) returns the gradients with
// respect to the images at scale s through that scale's own terms; those
// of the coarser scales reach scale s through the pooling's adjoint.
// level returns nil for a side that needs no gradient.
func pyramidBackward(x, y *Var, scales int, level func(s int) (gx, gy *tensor.Tensor)) {
	var d [2]*tensor.Tensor
	for s := scales - 1; s >= 0; s-- {
		gx, gy := level(s)
		for i, g := range [2]*tensor.Tensor{gx, gy} {
			if g != nil && d[i] != nil {
				addTo(g.Data, ops.AvgPool2dBackward(d[i], halve, g.Shape).Data)
			}
			d[i] = g
		}
	}
	if d[0] != nil {
		x.accum(d[0])
	}
	if d[1] != nil {
		y.accum(d[1])
	}
}

// checkPair panics unless x and y are equal [N,C,H,W] shapes of at least
// minSide pixels a side.
func checkPair(op string, x, y *tensor.Tensor, minSide int, why string) {
	if !sameShape(x.Shape, y.Shape) || len(x.Shape) != 4 {
		panic(fmt.Sprintf("nn.%s: shapes %v and %v (want equal [N,C,H,W])", op, x.Shape, y.Shape))
	}
	if h, w := x.Shape[2], x.Shape[3]; h < minSide || w < minSide {
		panic(fmt.Sprintf("nn.%s: image %d×%d too small: %s needs at least %d×%d", op, h, w, why, minSide, minSide))
	}
}

// finite panics when a loss or map came out NaN or infinite: a NaN score
// must never pass silently.
func finite(op string, v []float32) {
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			panic(fmt.Sprintf("nn.%s: result is %v (the inputs hold NaN or Inf)", op, f))
		}
	}
}

// channelMean averages [N,C,H,W] over channels into [N,1,H,W].
func channelMean(t *tensor.Tensor) *tensor.Tensor {
	n, c, h, w := t.Dims4("nn.channelMean")
	hw := h * w
	out := tensor.New(n, 1, h, w)
	inv := 1 / float32(c)
	for b := 0; b < n; b++ {
		o := out.Data[b*hw : (b+1)*hw]
		for ci := 0; ci < c; ci++ {
			for i, v := range t.Data[(b*c+ci)*hw : (b*c+ci+1)*hw] {
				o[i] += v
			}
		}
		for i := range o {
			o[i] *= inv
		}
	}
	return out
}

// prewittX writes the horizontal Prewitt response of the h×w plane src,
// (1/3)·[1 0 −1] across by [1 1 1] down, as a zero-padded cross-correlation
// (PyTorch conv2d, padding 1). With zero padding its adjoint is its
// negation (a symmetric box times an antisymmetric difference).
func prewittX(dst, src []float32, h, w int) {
	for i := 0; i < h; i++ {
		o := dst[i*w : (i+1)*w]
		clear(o)
		for r := max(i-1, 0); r <= min(i+1, h-1); r++ {
			row := src[r*w : (r+1)*w]
			for j := 1; j < w; j++ {
				o[j] += row[j-1]
			}
			for j := 0; j+1 < w; j++ {
				o[j] -= row[j+1]
			}
		}
		for j := range o {
			o[j] *= 1.0 / 3
		}
	}
}

// prewittY is prewittX transposed: (1/3)·[1 0 −1] down by [1 1 1] across.
func prewittY(dst, src []float32, h, w int) {
	for i := 0; i < h; i++ {
		o := dst[i*w : (i+1)*w]
		clear(o)
		box := func(r int, sign float32) {
			if r < 0 || r >= h {
				return
			}
			row := src[r*w : (r+1)*w]
			for j := range o {
				s := row[j]
				if j > 0 {
					s += row[j-1]
				}
				if j+1 < w {
					s += row[j+1]
				}
				o[j] += sign * s
			}
		}
		box(i-1, 1)
		box(i+1, -1)
		for j := range o {
			o[j] *= 1.0 / 3
		}
	}
}

// gmsLevel holds one scale of the GMS computation: the images at that
// scale, the gradient magnitudes and partial derivatives that the backward
// pass needs, and the similarity map.
type gmsLevel struct {
	x, y               *tensor.Tensor
	gms                *tensor.Tensor
	dm1, dm2           *tensor.Tensor // ∂GMS/∂gx₁ stacked ahead of ∂GMS/∂gy₁ (and for y)
	gx1, gy1, gx2, gy2 *tensor.Tensor
}

// gmsForward computes GMS at `scales` dyadic scales (2×2 average pooling
// between them). With grad it keeps what the backward pass needs.
func gmsForward(x, y *tensor.Tensor, scales int, grad bool) []gmsLevel {
	levels := make([]gmsLevel, scales)
	for s := range levels {
		if s > 0 {
			x, y = ops.AvgPool2dForward(x, halve), ops.AvgPool2dForward(y, halve)
		}
		n, c, h, w := x.Dims4("nn.gms")
		hw := h * w
		l := gmsLevel{x: x, y: y, gms: like(x)}
		if grad {
			l.gx1, l.gy1, l.gx2, l.gy2 = like(x), like(x), like(x), like(x)
		}
		tensor.Parallel(n*c, func(lo, hi int) {
			tmp := make([]float32, 4*hw)
			for p := lo; p < hi; p++ {
				sl := func(t *tensor.Tensor) []float32 { return t.Data[p*hw : (p+1)*hw] }
				ax, ay, bx, by := tmp[:hw], tmp[hw:2*hw], tmp[2*hw:3*hw], tmp[3*hw:]
				prewittX(ax, sl(x), h, w)
				prewittY(ay, sl(x), h, w)
				prewittX(bx, sl(y), h, w)
				prewittY(by, sl(y), h, w)
				g := sl(l.gms)
				for i := range g {
					ux, uy, vx, vy := float64(ax[i]), float64(ay[i]), float64(bx[i]), float64(by[i])
					m1 := math.Sqrt(ux*ux + uy*uy + gmsEps)
					m2 := math.Sqrt(vx*vx + vy*vy + gmsEps)
					den := m1*m1 + m2*m2 + gmsC
					v := (2*m1*m2 + gmsC) / den
					g[i] = float32(v)
					if grad {
						// ∂GMS/∂m₁ = 2(m₂ − GMS·m₁)/den, ∂m₁/∂gx₁ = gx₁/m₁.
						d1 := 2 * (m2 - v*m1) / den / m1
						d2 := 2 * (m1 - v*m2) / den / m2
						sl(l.gx1)[i], sl(l.gy1)[i] = float32(d1*ux), float32(d1*uy)
						sl(l.gx2)[i], sl(l.gy2)[i] = float32(d2*vx), float32(d2*vy)
					}
				}
			}
		})
		levels[s] = l
	}
	return levels
}

// gmsDissimilarity is the mean over scales of 1 − GMS, each scale
// bilinearly upsampled (align_corners false) to the input size: [N,C,H,W].
func gmsDissimilarity(levels []gmsLevel, shape []int) *tensor.Tensor {
	h, w := shape[2], shape[3]
	out := tensor.New(shape...)
	for _, l := range levels {
		up := l.gms
		if l.gms.Shape[2] != h || l.gms.Shape[3] != w {
			up = ops.UpsampleBilinear(l.gms, h, w, false)
		}
		for i, v := range up.Data {
			out.Data[i] += v
		}
	}
	inv := 1 / float32(len(levels))
	for i, v := range out.Data {
		out.Data[i] = 1 - v*inv
	}
	return out
}

// gmsLoss is the shared Var op of GMSLoss and MSGMSLoss: the mean of the
// per-pixel dissimilarity, so the loss is the map's mean.
func gmsLoss(op string, x, y *Var, scales int) *Var {
	xv, yv := x.Value, y.Value
	checkPair(op, xv, yv, 1<<(scales-1), fmt.Sprintf("%d scales", scales))
	levels := gmsForward(xv, yv, scales, track(x, y))
	d := gmsDissimilarity(levels, xv.Shape)
	var sum float64
	for _, v := range d.Data {
		sum += float64(v)
	}
	m := len(d.Data)
	loss := []float32{float32(sum / float64(m))}
	finite(op, loss)
	var res *Var
	res = result(tensor.From(loss, 1), []*Var{x, y}, func() {
		// dL/dGMS_s at full size is −1/(S·m) everywhere; the upsampling's
		// adjoint carries it to scale s. Then back through the magnitudes,
		// the Prewitt filters (adjoint = −filter) and the poolings.
		k := -res.Grad.Data[0] / float32(scales*m)
		full := tensor.New(xv.Shape...)
		full.Fill(k)
		pyramidBackward(x, y, scales, func(s int) (gx, gy *tensor.Tensor) {
			l := levels[s]
			dg := full
			if s > 0 {
				dg = ops.UpsampleBilinearBackward(full, l.gms.Shape, false)
			}
			n, c, h, w := l.x.Dims4(op)
			hw := h * w
			if needs(x) {
				gx = like(l.x)
			}
			if needs(y) {
				gy = like(l.y)
			}
			tensor.Parallel(n*c, func(lo, hi int) {
				tmp := make([]float32, 3*hw)
				a, b, f := tmp[:hw], tmp[hw:2*hw], tmp[2*hw:]
				for p := lo; p < hi; p++ {
					sl := func(t *tensor.Tensor) []float32 {
						if t == nil {
							return nil
						}
						return t.Data[p*hw : (p+1)*hw]
					}
					g := sl(dg)
					for _, side := range []struct{ px, py, out []float32 }{
						{sl(l.gx1), sl(l.gy1), sl(gx)}, {sl(l.gx2), sl(l.gy2), sl(gy)},
					} {
						if side.out == nil {
							continue
						}
						for i := range a {
							a[i], b[i] = g[i]*side.px[i], g[i]*side.py[i]
						}
						prewittX(side.out, a, h, w)
						prewittY(f, b, h, w)
						for i, v := range f {
							side.out[i] = -(side.out[i] + v)
						}
					}
				}
			})
			return gx, gy
		})
	})
	return res
}

// GMSLoss returns the mean over pixels and channels of 1 − GMS(x, y), the
// single-scale gradient magnitude similarity with Prewitt gradients:
// GMS = (2·m_x·m_y + c)/(m_x² + m_y² + c), m the gradient magnitude,
// c = 0.0026.
func GMSLoss(x, y *Var) *Var { return gmsLoss("GMSLoss", x, y, 1) }

// MSGMSLoss is RIAD's multi-scale GMS loss: GMS at 4 scales (2×2 average
// pooling between them), each 1 − GMS map upsampled bilinearly to the
// input size, averaged over scales, channels and pixels (the mean of
// MSGMSMap). Images need at least 8×8 pixels.
func MSGMSLoss(x, y *Var) *Var { return gmsLoss("MSGMSLoss", x, y, msgmsScales) }

// GMSMap returns the per-pixel single-scale dissimilarity 1 − GMS of
// x and y ([N,C,H,W]), averaged over channels: [N,1,H,W].
func GMSMap(x, y *tensor.Tensor) *tensor.Tensor { return gmsMap("GMSMap", x, y, 1) }

// MSGMSMap returns RIAD's per-pixel anomaly map: 1 − GMS averaged over 4
// scales (upsampled) and channels, [N,1,H,W].
func MSGMSMap(x, y *tensor.Tensor) *tensor.Tensor { return gmsMap("MSGMSMap", x, y, msgmsScales) }

func gmsMap(op string, x, y *tensor.Tensor, scales int) *tensor.Tensor {
	checkPair(op, x, y, 1<<(scales-1), fmt.Sprintf("%d scales", scales))
	m := channelMean(gmsDissimilarity(gmsForward(x, y, scales, false), x.Shape))
	finite(op, m.Data)
	return m
}
