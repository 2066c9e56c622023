package nn

import (
	"math"
	"sync"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/tensor"
)

// Complex wavelet SSIM (Sampat et al. 2009) on an undecimated complex
// steerable pyramid (Portilla and Simoncelli's analytic filters, built in
// the frequency domain): 3 scales × 4 orientations. The index of two
// subband coefficient sets c_x, c_y over a local window is
//
//	S = (2·|Σ w·c_x·c̄_y| + K) / (Σ w·(|c_x|² + |c_y|²) + K)
//
// with a uniform 7×7 window w (sum 1, zero padding) and K = 0.03², the SSIM
// C2 on the same scale. A small translation rotates the coefficients'
// phase consistently inside a window, which |Σ c_x·c̄_y| ignores: hence the
// insensitivity to small shifts that plain SSIM lacks. The pyramid filters
// the image as periodic (circular boundary).
const (
	cwScales  = 3
	cwOrients = 4
	cwWindow  = 7
	cwK       = 0.03 * 0.03
)

// cwPlan holds, for one image size, the 2-D DFT tables and the 12 subband
// filters (real, one-sided in angle, indexed like the DFT output).
type cwPlan struct {
	h, w           int
	ch, sh, cw, sw []float32 // cos and sin of 2π·ij/h (h×h) and 2π·ij/w (w×w)
	filters        [][]float32
}

var cwPlans sync.Map // [2]int{h, w} -> *cwPlan

func cwPlanFor(h, w int) *cwPlan {
	if p, ok := cwPlans.Load([2]int{h, w}); ok {
		return p.(*cwPlan)
	}
	p := &cwPlan{h: h, w: w}
	p.ch, p.sh = dftTable(h)
	p.cw, p.sw = dftTable(w)
	p.filters = cwFilters(h, w)
	v, _ := cwPlans.LoadOrStore([2]int{h, w}, p)
	return v.(*cwPlan)
}

func dftTable(n int) (c, s []float32) {
	c, s = make([]float32, n*n), make([]float32, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			a := 2 * math.Pi * float64((i*j)%n) / float64(n)
			c[i*n+j], s[i*n+j] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	return c, s
}

// cwLow is the pyramid's radial low-pass: 1 below π/4, 0 above π/2, a
// raised cosine on the log-radius between; cwHigh² + cwLow² = 1.
func cwLow(r float64) float64 {
	switch {
	case r <= math.Pi/4:
		return 1
	case r >= math.Pi/2:
		return 0
	}
	return math.Cos(math.Pi / 2 * math.Log2(4*r/math.Pi))
}

// cwHigh is cwLow mirrored on the log-radius: r ↦ π²/(8r) reflects
// [π/4, π/2] about its log-midpoint π/(2√2).
func cwHigh(r float64) float64 { return cwLow(math.Pi * math.Pi / (8 * r)) }

// cwFilters returns the subband filters, scale-major: band s, orientation
// k is cwHigh(2ˢr)·cwLow(2ˢ⁻¹r) (passband around π/2^(s+1)) times the
// analytic angular window 2·√c·cos³(θ−πk/4) on |θ−πk/4| < π/2, c =
// 2⁶(3!)²/(4·6!), which makes the real parts a tight frame with the
// residual bands.
func cwFilters(h, w int) [][]float32 {
	freq := func(i, n int) float64 {
		if 2*i >= n {
			i -= n
		}
		return 2 * math.Pi * float64(i) / float64(n)
	}
	alpha := 2 * math.Sqrt(64*36/(4*720.0))
	var out [][]float32
	for s := 0; s < cwScales; s++ {
		for k := 0; k < cwOrients; k++ {
			f := make([]float32, h*w)
			th0 := math.Pi * float64(k) / cwOrients
			for u := 0; u < h; u++ {
				wy := freq(u, h)
				for v := 0; v < w; v++ {
					wx := freq(v, w)
					r := math.Hypot(wx, wy)
					rad := cwHigh(r*math.Exp2(float64(s))) * cwLow(r*math.Exp2(float64(s-1)))
					if rad == 0 {
						continue
					}
					d := math.Remainder(math.Atan2(wy, wx)-th0, 2*math.Pi)
					if math.Abs(d) < math.Pi/2 {
						f[u*w+v] = float32(rad * alpha * math.Pow(math.Cos(d), 3))
					}
				}
			}
			out = append(out, f)
		}
	}
	return out
}

// dft applies to the h×w complex plane (zr, zi; zi nil for a real plane)
// the 2-D DFT Σ z·e^(sign·2πi(ui/h + vj/w)), unnormalised: sign −1 is the
// forward transform, +1 the inverse up to 1/(hw). It writes (or, oi), or
// only the real part when oi is nil. tr, ti are h·w scratch. Each 1-D pass
// is a product with the cosine and sine tables (GEMMs): general sizes, and
// at the small sizes trained on, faster than a scalar FFT.
func (p *cwPlan) dft(sign float32, zr, zi, or, oi, tr, ti []float32) {
	h, w := p.h, p.w
	// Rows: T = Z·E_w, E_w = C + i·sign·S.
	gemm.SgemmSerial(false, false, h, w, w, 1, zr, w, p.cw, w, 0, tr, w)
	gemm.SgemmSerial(false, false, h, w, w, sign, zr, w, p.sw, w, 0, ti, w)
	if zi != nil {
		gemm.SgemmSerial(false, false, h, w, w, -sign, zi, w, p.sw, w, 1, tr, w)
		gemm.SgemmSerial(false, false, h, w, w, 1, zi, w, p.cw, w, 1, ti, w)
	}
	// Columns: O = E_h·T.
	gemm.SgemmSerial(false, false, h, w, h, 1, p.ch, h, tr, w, 0, or, w)
	gemm.SgemmSerial(false, false, h, w, h, -sign, p.sh, h, ti, w, 1, or, w)
	if oi != nil {
		gemm.SgemmSerial(false, false, h, w, h, 1, p.ch, h, ti, w, 0, oi, w)
		gemm.SgemmSerial(false, false, h, w, h, sign, p.sh, h, tr, w, 1, oi, w)
	}
}

// box7 is the uniform 7×7 mean with zero padding (divisor always 49), by
// running sums along rows then columns. It is symmetric, hence its own
// adjoint. tmp holds h·w floats.
func box7(dst, src, tmp []float32, h, w int) {
	const r = cwWindow / 2
	for i := 0; i < h; i++ {
		row, o := src[i*w:(i+1)*w], tmp[i*w:(i+1)*w]
		var s float32
		for j := 0; j < min(r, w); j++ {
			s += row[j]
		}
		for j := 0; j < w; j++ {
			if j+r < w {
				s += row[j+r]
			}
			if j-r-1 >= 0 {
				s -= row[j-r-1]
			}
			o[j] = s
		}
	}
	for j := 0; j < w; j++ {
		var s float32
		for i := 0; i < min(r, h); i++ {
			s += tmp[i*w+j]
		}
		for i := 0; i < h; i++ {
			if i+r < h {
				s += tmp[(i+r)*w+j]
			}
			if i-r-1 >= 0 {
				s -= tmp[(i-r-1)*w+j]
			}
			dst[i*w+j] = s * (1.0 / (cwWindow * cwWindow))
		}
	}
}

// cwPlane computes, for one pair of planes, the sum over the 12 subbands of
// the CW-SSIM map into sim; with gx, gy non-nil it also writes
// gscale·∂(Σ_bands Σ_pixels S)/∂x (and y).
func (p *cwPlan) cwPlane(x, y, sim, gx, gy []float32, gscale float32) {
	hw := p.h * p.w
	buf := make([]float32, 22*hw)
	next := func() []float32 { b := buf[:hw:hw]; buf = buf[hw:]; return b }
	tr, ti := next(), next()
	xr, xi, yr, yi := next(), next(), next(), next() // spectra
	ar, ai, br, bi := next(), next(), next(), next() // subband coefficients
	pr, pi, pv, tmp := next(), next(), next(), next()
	grad := gx != nil
	var gxr, gxi, gyr, gyi, fr, fi []float32
	if grad {
		gxr, gxi, gyr, gyi, fr, fi = next(), next(), next(), next(), next(), next()
	}
	p.dft(-1, x, nil, xr, xi, tr, ti)
	p.dft(-1, y, nil, yr, yi, tr, ti)
	inv := 1 / float32(hw)
	for _, f := range p.filters {
		// Subband coefficients: inverse DFT of spectrum × filter.
		for _, z := range [2][4][]float32{{xr, xi, ar, ai}, {yr, yi, br, bi}} {
			for i, fv := range f {
				fv *= inv
				pr[i], pi[i] = z[0][i]*fv, z[1][i]*fv
			}
			p.dft(1, pr, pi, z[2], z[3], tr, ti)
		}
		// Local sums of c_x·c̄_y and |c_x|² + |c_y|².
		for i := range pr {
			pr[i] = ar[i]*br[i] + ai[i]*bi[i]
			pi[i] = ai[i]*br[i] - ar[i]*bi[i]
			pv[i] = ar[i]*ar[i] + ai[i]*ai[i] + br[i]*br[i] + bi[i]*bi[i]
		}
		box7(pr, pr, tmp, p.h, p.w)
		box7(pi, pi, tmp, p.h, p.w)
		box7(pv, pv, tmp, p.h, p.w)
		for i := range pr {
			rr, ri, v := float64(pr[i]), float64(pi[i]), float64(pv[i])
			m := math.Hypot(rr, ri)
			den := v + cwK
			s := (2*m + cwK) / den
			sim[i] += float32(s)
			if grad {
				// ∂S/∂R = 2/den·R/|R| (0 where R = 0), ∂S/∂V = −S/den.
				var k float64
				if m > 0 {
					k = 2 / den / m
				}
				pr[i], pi[i], pv[i] = gscale*float32(k*rr), gscale*float32(k*ri), gscale*float32(-s/den)
			}
		}
		if !grad {
			continue
		}
		box7(pr, pr, tmp, p.h, p.w)
		box7(pi, pi, tmp, p.h, p.w)
		box7(pv, pv, tmp, p.h, p.w)
		// Gradient with respect to each side's coefficients, then through
		// the filter: the pyramid band is Hermitian (a real filter between
		// a DFT and its inverse), so its adjoint is the same filtering and
		// the real image gets the real part.
		for side, acc := range [2][2][]float32{{gxr, gxi}, {gyr, gyi}} {
			for i := range fr {
				gr, gi, gv := pr[i], pi[i], 2*pv[i]
				if side == 0 {
					fr[i] = gr*br[i] - gi*bi[i] + gv*ar[i]
					fi[i] = gr*bi[i] + gi*br[i] + gv*ai[i]
				} else {
					fr[i] = gr*ar[i] + gi*ai[i] + gv*br[i]
					fi[i] = gr*ai[i] - gi*ar[i] + gv*bi[i]
				}
			}
			// The output may alias fr: the row pass reads all of it into
			// tr, ti before the column pass writes.
			p.dft(-1, fr, fi, tmp, fr, tr, ti)
			for i, fv := range f {
				acc[0][i] += fv * tmp[i]
				acc[1][i] += fv * fr[i]
			}
		}
	}
	if grad {
		p.dft(1, gxr, gxi, gx, nil, tr, ti)
		p.dft(1, gyr, gyi, gy, nil, tr, ti)
		for i := range gx {
			gx[i] *= inv
			gy[i] *= inv
		}
	}
}

// cwssim computes the per-plane CW-SSIM map (mean over subbands) of x and
// y, and with grad the gradient of the mean of that map over everything.
func cwssim(x, y *tensor.Tensor, grad bool) (sim, dx, dy *tensor.Tensor) {
	n, c, h, w := x.Dims4("nn.cwssim")
	hw := h * w
	plan := cwPlanFor(h, w)
	sim = like(x)
	if grad {
		dx, dy = like(x), like(y)
	}
	nb := float32(len(plan.filters))
	gscale := 1 / (nb * float32(n*c*hw))
	tensor.Parallel(n*c, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			sl := func(t *tensor.Tensor) []float32 {
				if t == nil {
					return nil
				}
				return t.Data[p*hw : (p+1)*hw]
			}
			s := sl(sim)
			plan.cwPlane(sl(x), sl(y), s, sl(dx), sl(dy), gscale)
			for i := range s {
				s[i] /= nb
			}
		}
	})
	return sim, dx, dy
}

// CWSSIMLoss returns 1 − CW-SSIM(x, y), the index averaged over the 12
// subbands, pixels, channels and images ([N,C,H,W]). The gradient (the
// pyramid is linear, so it is the adjoint filtering of the coefficients'
// gradients) is computed with the value when a graph is recorded; the
// backward pass only scales it.
func CWSSIMLoss(x, y *Var) *Var {
	const op = "CWSSIMLoss"
	xv, yv := x.Value, y.Value
	checkPair(op, xv, yv, cwWindow, "CW-SSIM's 7×7 window")
	sim, dx, dy := cwssim(xv, yv, track(x, y))
	var sum float64
	for _, v := range sim.Data {
		sum += float64(v)
	}
	loss := []float32{float32(1 - sum/float64(len(sim.Data)))}
	finite(op, loss)
	var res *Var
	res = result(tensor.From(loss, 1), []*Var{x, y}, func() {
		k := -res.Grad.Data[0]
		for _, d := range []*tensor.Tensor{dx, dy} {
			for i := range d.Data {
				d.Data[i] *= k
			}
		}
		x.accum(dx)
		y.accum(dy)
	})
	return res
}

// CWSSIMMap returns the per-pixel CW-SSIM dissimilarity 1 − S, S averaged
// over the 12 subbands and the channels: [N,1,H,W].
func CWSSIMMap(x, y *tensor.Tensor) *tensor.Tensor {
	const op = "CWSSIMMap"
	checkPair(op, x, y, cwWindow, "CW-SSIM's 7×7 window")
	sim, _, _ := cwssim(x, y, false)
	for i, v := range sim.Data {
		sim.Data[i] = 1 - v
	}
	m := channelMean(sim)
	finite(op, m.Data)
	return m
}
