package nn

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// SSIM constants (Wang et al. 2004, with dynamic range 1).
const (
	ssimWindow = 11
	ssimSigma  = 1.5
	ssimC1     = 0.01 * 0.01
	ssimC2     = 0.03 * 0.03
)

// gaussian1D is the normalised 11-tap Gaussian (σ = 1.5).
func gaussian1D() []float32 {
	g := make([]float32, ssimWindow)
	var s float64
	for i := range g {
		d := float64(i - ssimWindow/2)
		v := math.Exp(-d * d / (2 * ssimSigma * ssimSigma))
		g[i] = float32(v)
		s += v
	}
	for i := range g {
		g[i] = float32(float64(g[i]) / s)
	}
	return g
}

// ssimBlur is the separable Gaussian window as two depthwise convolutions
// (1×11 then 11×1, zero "same" padding) over c channels.
type ssimBlur struct {
	wh, wv *tensor.Tensor
	ph, pv ops.Conv2D
}

func newSSIMBlur(c int) *ssimBlur {
	g := gaussian1D()
	wh := tensor.New(c, 1, 1, ssimWindow)
	wv := tensor.New(c, 1, ssimWindow, 1)
	for i := 0; i < c; i++ {
		copy(wh.Data[i*ssimWindow:], g)
		copy(wv.Data[i*ssimWindow:], g)
	}
	r := ssimWindow / 2
	return &ssimBlur{wh: wh, wv: wv,
		ph: ops.Conv2D{PadL: r, PadR: r, Groups: c},
		pv: ops.Conv2D{PadT: r, PadB: r, Groups: c}}
}

func (b *ssimBlur) forward(x *tensor.Tensor) (mid, y *tensor.Tensor) {
	mid = ops.Conv2dForward(x, b.wh, nil, b.ph)
	return mid, ops.Conv2dForward(mid, b.wv, nil, b.pv)
}

// backward applies the adjoint of the blur to dy.
func (b *ssimBlur) backward(x, mid, dy *tensor.Tensor) *tensor.Tensor {
	dmid, _, _ := ops.Conv2dBackward(mid, b.wv, dy, b.pv, true)
	dx, _, _ := ops.Conv2dBackward(x, b.wh, dmid, b.ph, true)
	return dx
}

// ssimStats stacks x, y, x², y², xy of [N,C,H,W] inputs as [N,5C,H,W] and
// blurs them in one depthwise pass.
func ssimStats(x, y *tensor.Tensor) (blur *ssimBlur, in, mid, mu *tensor.Tensor) {
	n, c, h, w := x.Dims4("nn.SSIM")
	hw := h * w
	in = tensor.New(n, 5*c, h, w)
	for b := 0; b < n; b++ {
		for ci := 0; ci < c; ci++ {
			src := (b*c + ci) * hw
			xs, ys := x.Data[src:src+hw], y.Data[src:src+hw]
			dst := func(k int) []float32 {
				o := ((b * 5 * c) + k*c + ci) * hw
				return in.Data[o : o+hw]
			}
			d0, d1, d2, d3, d4 := dst(0), dst(1), dst(2), dst(3), dst(4)
			for i := range xs {
				xv, yv := xs[i], ys[i]
				d0[i], d1[i], d2[i], d3[i], d4[i] = xv, yv, xv*xv, yv*yv, xv*yv
			}
		}
	}
	blur = newSSIMBlur(5 * c)
	mid, mu = blur.forward(in)
	return blur, in, mid, mu
}

// SSIMMap returns the per-pixel, per-channel SSIM of x and y ([N,C,H,W],
// values nominally in [0,1]) with an 11×11 Gaussian window (σ 1.5), zero
// padded so the map has the input size.
func SSIMMap(x, y *tensor.Tensor) *tensor.Tensor {
	if !sameShape(x.Shape, y.Shape) || len(x.Shape) != 4 {
		panic(fmt.Sprintf("nn.SSIMMap: shapes %v and %v (want equal [N,C,H,W])", x.Shape, y.Shape))
	}
	_, _, _, mu := ssimStats(x, y)
	s, _ := ssimFormula(mu, x.Shape, false)
	return s
}

// ssimFormula evaluates SSIM from the blurred statistics; with grad it also
// returns dS/d(μx, μy, E[x²], E[y²], E[xy]) stacked like mu.
func ssimFormula(mu *tensor.Tensor, shape []int, grad bool) (s, ds *tensor.Tensor) {
	n, c, h, w := shape[0], shape[1], shape[2], shape[3]
	hw := h * w
	s = tensor.New(shape...)
	if grad {
		ds = like(mu)
	}
	tensor.Parallel(n*c, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			b, ci := p/c, p%c
			at := func(t *tensor.Tensor, k int) []float32 {
				o := ((b * 5 * c) + k*c + ci) * hw
				return t.Data[o : o+hw]
			}
			mx, my, exx, eyy, exy := at(mu, 0), at(mu, 1), at(mu, 2), at(mu, 3), at(mu, 4)
			out := s.Data[p*hw : (p+1)*hw]
			var g0, g1, g2, g3, g4 []float32
			if grad {
				g0, g1, g2, g3, g4 = at(ds, 0), at(ds, 1), at(ds, 2), at(ds, 3), at(ds, 4)
			}
			for i := range out {
				ux, uy := float64(mx[i]), float64(my[i])
				sxy := float64(exy[i]) - ux*uy
				a1 := 2*ux*uy + ssimC1
				a2 := 2*sxy + ssimC2
				b1 := ux*ux + uy*uy + ssimC1
				b2 := float64(exx[i]) - ux*ux + float64(eyy[i]) - uy*uy + ssimC2
				den := b1 * b2
				v := a1 * a2 / den
				out[i] = float32(v)
				if grad {
					g0[i] = float32((2*uy*a2-2*uy*a1)/den - v*(2*ux/b1-2*ux/b2))
					g1[i] = float32((2*ux*a2-2*ux*a1)/den - v*(2*uy/b1-2*uy/b2))
					g2[i] = float32(-v / b2)
					g3[i] = float32(-v / b2)
					g4[i] = float32(2 * a1 / den)
				}
			}
		}
	})
	return s, ds
}

// SSIMLoss returns 1 − mean SSIM(x, y) over all pixels and channels, with
// the gradient flowing to both x and y (whichever require it).
func SSIMLoss(x, y *Var) *Var {
	xv, yv := x.Value, y.Value
	if !sameShape(xv.Shape, yv.Shape) || len(xv.Shape) != 4 {
		panic(fmt.Sprintf("nn.SSIMLoss: shapes %v and %v (want equal [N,C,H,W])", xv.Shape, yv.Shape))
	}
	blur, in, mid, mu := ssimStats(xv, yv)
	s, ds := ssimFormula(mu, xv.Shape, track(x, y))
	var sum float64
	for _, v := range s.Data {
		sum += float64(v)
	}
	m := len(s.Data)
	var res *Var
	res = result(tensor.From([]float32{float32(1 - sum/float64(m))}, 1), []*Var{x, y}, func() {
		k := -res.Grad.Data[0] / float32(m)
		for i := range ds.Data {
			ds.Data[i] *= k
		}
		d := blur.backward(in, mid, ds) // gradient w.r.t. x, y, x², y², xy
		n, c, h, w := xv.Dims4("nn.SSIMLoss")
		hw := h * w
		var dx, dy *tensor.Tensor
		if needs(x) {
			dx = like(xv)
		}
		if needs(y) {
			dy = like(yv)
		}
		for b := 0; b < n; b++ {
			for ci := 0; ci < c; ci++ {
				src := (b*c + ci) * hw
				at := func(k int) []float32 {
					o := ((b * 5 * c) + k*c + ci) * hw
					return d.Data[o : o+hw]
				}
				d0, d1, d2, d3, d4 := at(0), at(1), at(2), at(3), at(4)
				xs, ys := xv.Data[src:src+hw], yv.Data[src:src+hw]
				if dx != nil {
					o := dx.Data[src : src+hw]
					for i := range o {
						o[i] = d0[i] + 2*xs[i]*d2[i] + ys[i]*d4[i]
					}
				}
				if dy != nil {
					o := dy.Data[src : src+hw]
					for i := range o {
						o[i] = d1[i] + 2*ys[i]*d3[i] + xs[i]*d4[i]
					}
				}
			}
		}
		if dx != nil {
			x.accum(dx)
		}
		if dy != nil {
			y.accum(dy)
		}
	})
	return res
}
