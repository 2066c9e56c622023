package nn

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/gemm"
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

// blurTile is the number of output columns (rows) one banded GEMM of the
// Gaussian blur produces.
const blurTile = 64

// gaussBlur applies the separable 11-tap Gaussian window with zero "same"
// padding to every H×W plane of x. Each 1-D pass is a product with a banded
// Toeplitz matrix, done as tiled GEMMs (a tile of 64 outputs reads 74
// inputs), which runs far faster than a generic 1×11 depthwise loop. With
// zero padding and a symmetric window the matrix is symmetric, so the
// blur is its own adjoint: the backward pass is the same blur.
func gaussBlur(x *tensor.Tensor) *tensor.Tensor {
	h, w := x.Shape[len(x.Shape)-2], x.Shape[len(x.Shape)-1]
	rows := len(x.Data) / w
	planes := rows / h
	g := gaussian1D()
	r := ssimWindow / 2
	// band returns the dense block B[i][j] = g[(lo+i) − (c0+j) + r] for
	// inputs [lo,hi) and outputs [c0,c1), zero outside the window.
	band := func(lo, hi, c0, c1 int) []float32 {
		m := make([]float32, (hi-lo)*(c1-c0))
		for i := lo; i < hi; i++ {
			for j := c0; j < c1; j++ {
				if d := i - j + r; d >= 0 && d < ssimWindow {
					m[(i-lo)*(c1-c0)+j-c0] = g[d]
				}
			}
		}
		return m
	}
	mid := tensor.New(x.Shape...)
	// Horizontal: mid[:, c0:c1] = x[:, lo:hi] · B.
	for c0 := 0; c0 < w; c0 += blurTile {
		c1 := min(c0+blurTile, w)
		lo, hi := max(0, c0-r), min(w, c1+r)
		gemm.Sgemm(false, false, rows, c1-c0, hi-lo, 1, x.Data[lo:], w, band(lo, hi, c0, c1), c1-c0, 0, mid.Data[c0:], w)
	}
	// Vertical, per plane: y[r0:r1, :] = Bᵀ · mid[lo:hi, :] (B symmetric in
	// the sense B[i][j] = g[i−j+r], so Bᵀ rows are the output rows).
	y := tensor.New(x.Shape...)
	type tile struct {
		r0, r1, lo, hi int
		m              []float32
	}
	var tiles []tile
	for r0 := 0; r0 < h; r0 += blurTile {
		r1 := min(r0+blurTile, h)
		lo, hi := max(0, r0-r), min(h, r1+r)
		// m[i][k] = g[(lo+k) − (r0+i) + r]: rows are outputs, columns inputs.
		m := make([]float32, (r1-r0)*(hi-lo))
		for i := r0; i < r1; i++ {
			for k := lo; k < hi; k++ {
				if d := k - i + r; d >= 0 && d < ssimWindow {
					m[(i-r0)*(hi-lo)+k-lo] = g[d]
				}
			}
		}
		tiles = append(tiles, tile{r0, r1, lo, hi, m})
	}
	tensor.Parallel(planes, func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			src, dst := mid.Data[p*h*w:(p+1)*h*w], y.Data[p*h*w:(p+1)*h*w]
			for _, t := range tiles {
				gemm.SgemmSerial(false, false, t.r1-t.r0, w, t.hi-t.lo, 1, t.m, t.hi-t.lo, src[t.lo*w:], w, 0, dst[t.r0*w:], w)
			}
		}
	})
	return y
}

// ssimStats stacks x, y, x², y², xy of [N,C,H,W] inputs as [N,5C,H,W] and
// blurs them in one depthwise pass.
func ssimStats(x, y *tensor.Tensor) (mu *tensor.Tensor) {
	n, c, h, w := x.Dims4("nn.SSIM")
	hw := h * w
	in := tensor.New(n, 5*c, h, w)
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
	return gaussBlur(in)
}

// SSIMMap returns the per-pixel, per-channel SSIM of x and y ([N,C,H,W],
// values nominally in [0,1]) with an 11×11 Gaussian window (σ 1.5), zero
// padded so the map has the input size.
func SSIMMap(x, y *tensor.Tensor) *tensor.Tensor {
	if !sameShape(x.Shape, y.Shape) || len(x.Shape) != 4 {
		panic(fmt.Sprintf("nn.SSIMMap: shapes %v and %v (want equal [N,C,H,W])", x.Shape, y.Shape))
	}
	mu := ssimStats(x, y)
	s, _ := ssimFormula(mu, x.Shape, false, false)
	return s
}

// ssimFormula evaluates SSIM from the blurred statistics; with grad it also
// returns dS/d(μx, μy, E[x²], E[y²], E[xy]) stacked like mu. With csOnly it
// evaluates the contrast-structure term (2σxy + C2)/(σx² + σy² + C2) alone,
// as MS-SSIM does at its finer scales.
func ssimFormula(mu *tensor.Tensor, shape []int, csOnly, grad bool) (s, ds *tensor.Tensor) {
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
				a2 := 2*sxy + ssimC2
				b2 := float64(exx[i]) - ux*ux + float64(eyy[i]) - uy*uy + ssimC2
				if csOnly {
					v := a2 / b2
					out[i] = float32(v)
					if grad {
						g0[i] = float32((2*ux*v - 2*uy) / b2)
						g1[i] = float32((2*uy*v - 2*ux) / b2)
						g2[i] = float32(-v / b2)
						g3[i] = float32(-v / b2)
						g4[i] = float32(2 / b2)
					}
					continue
				}
				a1 := 2*ux*uy + ssimC1
				b1 := ux*ux + uy*uy + ssimC1
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

// ssimStatsBackward turns ds, the gradient with respect to the stacked
// statistics before blurring, into gradients for x and y (nil where not
// needed): blur is self-adjoint, then the chain through x, y, x², y², xy.
func ssimStatsBackward(op string, ds, xv, yv *tensor.Tensor, needX, needY bool) (dx, dy *tensor.Tensor) {
	d := gaussBlur(ds)
	n, c, h, w := xv.Dims4(op)
	hw := h * w
	if needX {
		dx = like(xv)
	}
	if needY {
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
	return dx, dy
}

// SSIMLoss returns 1 − mean SSIM(x, y) over all pixels and channels, with
// the gradient flowing to both x and y (whichever require it).
func SSIMLoss(x, y *Var) *Var {
	xv, yv := x.Value, y.Value
	if !sameShape(xv.Shape, yv.Shape) || len(xv.Shape) != 4 {
		panic(fmt.Sprintf("nn.SSIMLoss: shapes %v and %v (want equal [N,C,H,W])", xv.Shape, yv.Shape))
	}
	mu := ssimStats(xv, yv)
	s, ds := ssimFormula(mu, xv.Shape, false, track(x, y))
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
		dx, dy := ssimStatsBackward("nn.SSIMLoss", ds, xv, yv, needs(x), needs(y))
		if dx != nil {
			x.accum(dx)
		}
		if dy != nil {
			y.accum(dy)
		}
	})
	return res
}
