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

// dftFactor is one side of a 2-D DFT, e^(±2πi·jk/n) for j, k in index
// lists: its cosine and sine parts as a rows×cols matrix, stored as is or
// (t) transposed.
type dftFactor struct {
	c, s       []float32
	rows, cols int
	t          bool
}

// dftRows returns the rows idx (all when nil) of the n×n DFT matrix.
func dftRows(n int, idx []int) dftFactor {
	if idx == nil {
		idx = make([]int, n)
		for i := range idx {
			idx[i] = i
		}
	}
	f := dftFactor{c: make([]float32, len(idx)*n), s: make([]float32, len(idx)*n), rows: len(idx), cols: n}
	for r, i := range idx {
		for j := 0; j < n; j++ {
			a := 2 * math.Pi * float64((i*j)%n) / float64(n)
			f.c[r*n+j], f.s[r*n+j] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	return f
}

// transposed views the stored matrix as its transpose (the DFT matrix is
// symmetric, so the rows idx transposed are its columns idx).
func (f dftFactor) transposed() dftFactor {
	f.rows, f.cols, f.t = f.cols, f.rows, !f.t
	return f
}

func (f dftFactor) ld() int {
	if f.t {
		return f.rows
	}
	return f.cols
}

// cwBand is one subband restricted to its filter's support: the rows U and
// columns V of the spectrum where the filter is not zero (a band-pass,
// half-plane filter leaves out much of the spectrum, the more so at the
// coarser scales), the filter there divided by h·w (the inverse DFT's
// normalisation), and the DFT factors from and to that support.
type cwBand struct {
	u, v  []int
	f     []float32 // |U|×|V|
	rowsU dftFactor // h×|U|: E_h restricted to columns U
	colsV dftFactor // |V|×w: E_w restricted to rows V
}

// cwPlan holds, for one image size, the full DFT factors and the 12
// subbands.
type cwPlan struct {
	h, w   int
	eh, ew dftFactor
	bands  []cwBand
}

var cwPlans sync.Map // [2]int{h, w} -> *cwPlan

func cwPlanFor(h, w int) *cwPlan {
	if p, ok := cwPlans.Load([2]int{h, w}); ok {
		return p.(*cwPlan)
	}
	p := &cwPlan{h: h, w: w, eh: dftRows(h, nil), ew: dftRows(w, nil)}
	inv := 1 / float32(h*w)
	for _, f := range cwFilters(h, w) {
		var b cwBand
		for u := 0; u < h; u++ {
			for v := 0; v < w; v++ {
				if f[u*w+v] != 0 {
					b.u = append(b.u, u)
					break
				}
			}
		}
		for v := 0; v < w; v++ {
			for u := 0; u < h; u++ {
				if f[u*w+v] != 0 {
					b.v = append(b.v, v)
					break
				}
			}
		}
		b.f = make([]float32, len(b.u)*len(b.v))
		for i, u := range b.u {
			for j, v := range b.v {
				b.f[i*len(b.v)+j] = f[u*w+v] * inv
			}
		}
		b.rowsU = dftRows(h, b.u).transposed()
		b.colsV = dftRows(w, b.v)
		p.bands = append(p.bands, b)
	}
	v, _ := cwPlans.LoadOrStore([2]int{h, w}, p)
	return v.(*cwPlan)
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

// sandwich computes O = L·Z·R for the complex k1×k2 matrix Z (zi nil for
// a real one), with L = Lc + i·sign·Ls and R likewise: a 2-D DFT (sign −1)
// or unnormalised inverse (+1), full or restricted to index sets. It writes
// (or, oi), or only the real part when oi is nil; tr, ti are scratch for
// the intermediate product (at most h·w). The 1-D passes are GEMMs against
// the cosine and sine tables: any size, and at the sizes trained on faster
// than a scalar FFT. Of (Z·R) first or (L·Z) first it takes the one with
// fewer multiplications: restricted to a filter's support the two differ.
func sandwich(sign float32, l, r dftFactor, zr, zi, or, oi, tr, ti []float32) {
	k1, k2, n, m := l.cols, r.rows, r.cols, l.rows
	if k1*k2*n+m*k1*n <= m*k1*k2+m*k2*n {
		// T = Z·R (k1×n), then O = L·T.
		rmul(sign, r, k1, zr, zi, tr, ti)
		lmul(sign, l, n, tr, ti, or, oi)
		return
	}
	// T = L·Z (m×k2), then O = T·R.
	lmul(sign, l, k2, zr, zi, tr, ti)
	rmul(sign, r, m, tr, ti, or, oi)
}

// rmul writes O = A·R for the complex rows×R.rows matrix A (ai nil: real),
// only the real part when oi is nil.
func rmul(sign float32, r dftFactor, rows int, ar, ai, or, oi []float32) {
	k, n := r.rows, r.cols
	gemm.SgemmSerial(false, r.t, rows, n, k, 1, ar, k, r.c, r.ld(), 0, or, n)
	if ai != nil {
		gemm.SgemmSerial(false, r.t, rows, n, k, -sign, ai, k, r.s, r.ld(), 1, or, n)
	}
	if oi == nil {
		return
	}
	gemm.SgemmSerial(false, r.t, rows, n, k, sign, ar, k, r.s, r.ld(), 0, oi, n)
	if ai != nil {
		gemm.SgemmSerial(false, r.t, rows, n, k, 1, ai, k, r.c, r.ld(), 1, oi, n)
	}
}

// lmul writes O = L·A for the complex L.cols×cols matrix A (ai nil: real),
// only the real part when oi is nil.
func lmul(sign float32, l dftFactor, cols int, ar, ai, or, oi []float32) {
	m, k := l.rows, l.cols
	gemm.SgemmSerial(l.t, false, m, cols, k, 1, l.c, l.ld(), ar, cols, 0, or, cols)
	if ai != nil {
		gemm.SgemmSerial(l.t, false, m, cols, k, -sign, l.s, l.ld(), ai, cols, 1, or, cols)
	}
	if oi == nil {
		return
	}
	gemm.SgemmSerial(l.t, false, m, cols, k, sign, l.s, l.ld(), ar, cols, 0, oi, cols)
	if ai != nil {
		gemm.SgemmSerial(l.t, false, m, cols, k, 1, l.c, l.ld(), ai, cols, 1, oi, cols)
	}
}

// box7 is the uniform 7×7 mean with zero padding (divisor always 49), by
// running sums along rows, then down columns a whole row at a time (acc
// holds the column sums); the loops are split where the window enters and
// leaves the image so that none branches. It is symmetric, hence its own
// adjoint. h and w are at least 7; tmp holds h·w floats, acc w; dst may
// be src.
func box7(dst, src, tmp, acc []float32, h, w int) {
	const r = cwWindow / 2
	for i := 0; i < h; i++ {
		row, o := src[i*w:(i+1)*w], tmp[i*w:(i+1)*w]
		var s float32
		for _, v := range row[:r] {
			s += v
		}
		for j := 0; j <= r; j++ {
			s += row[j+r]
			o[j] = s
		}
		for j := r + 1; j < w-r; j++ {
			s += row[j+r] - row[j-r-1]
			o[j] = s
		}
		for j := max(w-r, r+1); j < w; j++ {
			s -= row[j-r-1]
			o[j] = s
		}
	}
	const inv = 1.0 / (cwWindow * cwWindow)
	acc = acc[:w]
	clear(acc)
	for i := 0; i < r; i++ {
		addTo(acc, tmp[i*w:(i+1)*w])
	}
	for i := 0; i < h; i++ {
		o := dst[i*w : (i+1)*w]
		switch in, out := i+r < h, i-r-1 >= 0; {
		case in && out:
			add, sub := tmp[(i+r)*w:(i+r+1)*w], tmp[(i-r-1)*w:(i-r)*w]
			for j := range acc {
				acc[j] += add[j] - sub[j]
				o[j] = acc[j] * inv
			}
		case in:
			add := tmp[(i+r)*w : (i+r+1)*w]
			for j := range acc {
				acc[j] += add[j]
				o[j] = acc[j] * inv
			}
		default:
			sub := tmp[(i-r-1)*w : (i-r)*w]
			for j := range acc {
				acc[j] -= sub[j]
				o[j] = acc[j] * inv
			}
		}
	}
}

// cwScratch is the number of floats cwPlane needs as scratch.
func (p *cwPlan) cwScratch() int { return 21*p.h*p.w + p.w }

// cwPlane adds, for one pair of planes, the sum over the 12 subbands of
// the CW-SSIM map into sim; with gx (gy) non-nil it also writes
// gscale·∂(Σ_bands Σ_pixels S)/∂x (y). buf holds cwScratch floats.
func (p *cwPlan) cwPlane(x, y, sim, gx, gy []float32, gscale float32, buf []float32) {
	h, w := p.h, p.w
	hw := h * w
	grad := gx != nil || gy != nil
	acc := buf[21*hw:]
	next := func() []float32 { b := buf[:hw:hw]; buf = buf[hw:]; return b }
	tr, ti := next(), next()
	xr, xi, yr, yi := next(), next(), next(), next() // spectra
	ar, ai, br, bi := next(), next(), next(), next() // subband coefficients
	pr, pi, pv, tmp := next(), next(), next(), next()
	zr, zi := next(), next() // a subband's restricted spectrum
	ws := next()
	var gxs, gys [2][]float32 // the gradients' spectra, accumulated over bands
	if grad {
		gxs = [2][]float32{next(), next()}
		gys = [2][]float32{next(), next()}
		for _, g := range [...][]float32{gxs[0], gxs[1], gys[0], gys[1]} {
			clear(g)
		}
	}
	sandwich(-1, p.eh, p.ew, x, nil, xr, xi, tr, ti)
	sandwich(-1, p.eh, p.ew, y, nil, yr, yi, tr, ti)
	for _, b := range p.bands {
		nv := len(b.v)
		nz := len(b.u) * nv
		// Subband coefficients: inverse DFT of spectrum × filter on the
		// filter's support.
		for _, side := range [2][4][]float32{{xr, xi, ar, ai}, {yr, yi, br, bi}} {
			for i, u := range b.u {
				for j, v := range b.v {
					f := b.f[i*nv+j]
					zr[i*nv+j], zi[i*nv+j] = side[0][u*w+v]*f, side[1][u*w+v]*f
				}
			}
			sandwich(1, b.rowsU, b.colsV, zr[:nz], zi[:nz], side[2], side[3], tr, ti)
		}
		// Local sums of c_x·c̄_y and |c_x|² + |c_y|².
		for i := range pr {
			pr[i] = ar[i]*br[i] + ai[i]*bi[i]
			pi[i] = ai[i]*br[i] - ar[i]*bi[i]
			pv[i] = ar[i]*ar[i] + ai[i]*ai[i] + br[i]*br[i] + bi[i]*bi[i]
		}
		box7(pr, pr, tmp, acc, h, w)
		box7(pi, pi, tmp, acc, h, w)
		box7(pv, pv, tmp, acc, h, w)
		for i := range pr {
			rr, ri, v := float64(pr[i]), float64(pi[i]), float64(pv[i])
			m := math.Sqrt(rr*rr + ri*ri)
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
		box7(pr, pr, tmp, acc, h, w)
		box7(pi, pi, tmp, acc, h, w)
		box7(pv, pv, tmp, acc, h, w)
		// Gradient with respect to each side's coefficients, then through
		// the filter: the pyramid band is Hermitian (a real filter between
		// a DFT and its inverse), so its adjoint is the same filtering and
		// the real image gets the real part. Only the filter's support of
		// the coefficients' gradient spectrum is needed.
		for side, gs := range [2][2][]float32{gxs, gys} {
			if side == 0 && gx == nil || side == 1 && gy == nil {
				continue
			}
			for i := range tmp {
				gr, gi, gv := pr[i], pi[i], 2*pv[i]
				if side == 0 {
					tmp[i] = gr*br[i] - gi*bi[i] + gv*ar[i]
					ws[i] = gr*bi[i] + gi*br[i] + gv*ai[i]
				} else {
					tmp[i] = gr*ar[i] + gi*ai[i] + gv*br[i]
					ws[i] = gr*ai[i] - gi*ar[i] + gv*bi[i]
				}
			}
			sandwich(-1, b.rowsU.transposed(), b.colsV.transposed(), tmp, ws, zr[:nz], zi[:nz], tr, ti)
			for i, u := range b.u {
				for j, v := range b.v {
					f := b.f[i*nv+j]
					gs[0][u*w+v] += f * zr[i*nv+j]
					gs[1][u*w+v] += f * zi[i*nv+j]
				}
			}
		}
	}
	if gx != nil {
		sandwich(1, p.eh, p.ew, gxs[0], gxs[1], gx, nil, tr, ti)
	}
	if gy != nil {
		sandwich(1, p.eh, p.ew, gys[0], gys[1], gy, nil, tr, ti)
	}
}

// cwssim computes the per-plane CW-SSIM map (mean over subbands) of x and
// y, and with gradX (gradY) the gradient of the mean of that map over
// everything with respect to x (y).
func cwssim(x, y *tensor.Tensor, gradX, gradY bool) (sim, dx, dy *tensor.Tensor) {
	n, c, h, w := x.Dims4("nn.cwssim")
	hw := h * w
	plan := cwPlanFor(h, w)
	sim = like(x)
	if gradX {
		dx = like(x)
	}
	if gradY {
		dy = like(y)
	}
	nb := float32(len(plan.bands))
	gscale := 1 / (nb * float32(n*c*hw))
	tensor.Parallel(n*c, func(lo, hi int) {
		buf := tensor.GetDirty(plan.cwScratch())
		defer tensor.Put(buf)
		for p := lo; p < hi; p++ {
			sl := func(t *tensor.Tensor) []float32 {
				if t == nil {
					return nil
				}
				return t.Data[p*hw : (p+1)*hw]
			}
			s := sl(sim)
			plan.cwPlane(sl(x), sl(y), s, sl(dx), sl(dy), gscale, buf)
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
	grad := track(x, y)
	sim, dx, dy := cwssim(xv, yv, grad && needs(x), grad && needs(y))
	var sum float64
	for _, v := range sim.Data {
		sum += float64(v)
	}
	loss := []float32{float32(1 - sum/float64(len(sim.Data)))}
	finite(op, loss)
	var res *Var
	res = result(tensor.From(loss, 1), []*Var{x, y}, func() {
		k := -res.Grad.Data[0]
		for i, d := range []*tensor.Tensor{dx, dy} {
			if d == nil {
				continue
			}
			for j := range d.Data {
				d.Data[j] *= k
			}
			[]*Var{x, y}[i].accum(d)
		}
	})
	return res
}

// CWSSIMMap returns the per-pixel CW-SSIM dissimilarity 1 − S, S averaged
// over the 12 subbands and the channels: [N,1,H,W].
func CWSSIMMap(x, y *tensor.Tensor) *tensor.Tensor {
	const op = "CWSSIMMap"
	checkPair(op, x, y, cwWindow, "CW-SSIM's 7×7 window")
	sim, _, _ := cwssim(x, y, false, false)
	for i, v := range sim.Data {
		sim.Data[i] = 1 - v
	}
	m := channelMean(sim)
	finite(op, m.Data)
	return m
}
