package nn

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// cwFilterRef is the subband filter of scale s, orientation k at frequency
// (wy, wx), written out from the definition: radial band
// hi(2ˢr)·lo(2ˢ⁻¹r) with raised-cosine log-radius transitions between
// π/4 and π/2, angular 2·√0.8·cos³(θ − kπ/4) on the half plane around kπ/4.
func cwFilterRef(s, k int, wy, wx float64) float64 {
	lo := func(r float64) float64 {
		if r <= math.Pi/4 {
			return 1
		}
		if r >= math.Pi/2 {
			return 0
		}
		return math.Cos(math.Pi / 2 * math.Log2(4*r/math.Pi))
	}
	hi := func(r float64) float64 { return math.Sqrt(1 - lo(r)*lo(r)) }
	r := math.Sqrt(wx*wx + wy*wy)
	rad := hi(r*math.Pow(2, float64(s))) * lo(r*math.Pow(2, float64(s)-1))
	d := math.Atan2(wy, wx) - float64(k)*math.Pi/4
	for d > math.Pi {
		d -= 2 * math.Pi
	}
	for d <= -math.Pi {
		d += 2 * math.Pi
	}
	if math.Abs(d) >= math.Pi/2 {
		return 0
	}
	c := math.Cos(d)
	return rad * 2 * math.Sqrt(0.8) * c * c * c
}

// cwssimRefPlane is the CW-SSIM map of two planes in float64: direct DFT,
// filter, direct inverse DFT per subband, explicit 7×7 window sums.
func cwssimRefPlane(a, b plane64) []float64 {
	h, w := a.h, a.w
	fr := func(i, n int) float64 {
		if 2*i >= n {
			i -= n
		}
		return 2 * math.Pi * float64(i) / float64(n)
	}
	spectrum := func(p plane64) []complex128 {
		out := make([]complex128, h*w)
		for u := 0; u < h; u++ {
			for v := 0; v < w; v++ {
				var z complex128
				for i := 0; i < h; i++ {
					for j := 0; j < w; j++ {
						z += complex(p.v[i*w+j], 0) * cmplx.Exp(complex(0, -2*math.Pi*(float64(u*i)/float64(h)+float64(v*j)/float64(w))))
					}
				}
				out[u*w+v] = z
			}
		}
		return out
	}
	band := func(X []complex128, s, k int) []complex128 {
		out := make([]complex128, h*w)
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				var z complex128
				for u := 0; u < h; u++ {
					for v := 0; v < w; v++ {
						f := cwFilterRef(s, k, fr(u, h), fr(v, w))
						if f != 0 {
							z += X[u*w+v] * complex(f, 0) * cmplx.Exp(complex(0, 2*math.Pi*(float64(u*i)/float64(h)+float64(v*j)/float64(w))))
						}
					}
				}
				out[i*w+j] = z / complex(float64(h*w), 0)
			}
		}
		return out
	}
	X, Y := spectrum(a), spectrum(b)
	sim := make([]float64, h*w)
	for s := 0; s < 3; s++ {
		for k := 0; k < 4; k++ {
			cx, cy := band(X, s, k), band(Y, s, k)
			for i := 0; i < h; i++ {
				for j := 0; j < w; j++ {
					var corr complex128
					var vsum float64
					for u := i - 3; u <= i+3; u++ {
						for v := j - 3; v <= j+3; v++ {
							if u < 0 || v < 0 || u >= h || v >= w {
								continue
							}
							p, q := cx[u*w+v], cy[u*w+v]
							corr += p * cmplx.Conj(q) / 49
							vsum += (real(p)*real(p) + imag(p)*imag(p) + real(q)*real(q) + imag(q)*imag(q)) / 49
						}
					}
					sim[i*w+j] += (2*cmplx.Abs(corr) + 0.0009) / (vsum + 0.0009) / 12
				}
			}
		}
	}
	return sim
}

func TestCWSSIMAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	x := randT(rng, 0, 1, 2, 2, 10, 9)
	y := jitter(rng, x, 0.4)
	n, c, h, w := x.Dims4("test")
	ref := make([][]float64, n)
	for b := 0; b < n; b++ {
		ref[b] = make([]float64, h*w)
		for ci := 0; ci < c; ci++ {
			for i, v := range cwssimRefPlane(planeOf(x, b, ci), planeOf(y, b, ci)) {
				ref[b][i] += (1 - v) / float64(c)
			}
		}
	}
	checkMapLoss(t, "CW-SSIM", CWSSIMMap(x, y), CWSSIMLoss(NewVar(x), NewVar(y)).Item(), ref, 1e-4)
}

// TestCWSSIMTightFrame: the real parts of the subbands, with the residual
// low-pass lo(4r) and high-pass hi(r/2), tile the spectrum: Σ_b
// (F_b(ω)² + F_b(−ω)²)/4 + lo(4r)² + hi(r/2)² = 1 at every frequency (odd
// sizes: no Nyquist row or column, where −ω is not on the grid).
func TestCWSSIMTightFrame(t *testing.T) {
	const h, w = 15, 17
	f := cwFilters(h, w)
	for u := 0; u < h; u++ {
		for v := 0; v < w; v++ {
			wy, wx := 2*math.Pi*float64(u)/h, 2*math.Pi*float64(v)/w
			if 2*u >= h {
				wy -= 2 * math.Pi
			}
			if 2*v >= w {
				wx -= 2 * math.Pi
			}
			r := math.Hypot(wx, wy)
			sum := cwLow(4*r)*cwLow(4*r) + cwHigh(r/2)*cwHigh(r/2)
			mu, mv := (h-u)%h, (w-v)%w
			for _, fb := range f {
				a, b := float64(fb[u*w+v]), float64(fb[mu*w+mv])
				sum += (a*a + b*b) / 4
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Fatalf("frequency (%d,%d): Σ = %v, want 1", u, v, sum)
			}
		}
	}
}

func TestCWSSIMIdentityAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	identityAndNaN(t, "CWSSIMLoss", CWSSIMLoss, randT(rng, 0, 1, 2, 3, 16, 12))
	mustPanic(t, "6×20", func() { CWSSIMMap(tensor.New(1, 1, 6, 20), tensor.New(1, 1, 6, 20)) })
}

// TestCWSSIMTranslationInsensitive: a smooth periodic texture shifted by one
// pixel keeps a high CW-SSIM (the shift only turns the coefficients'
// phases) while plain SSIM drops.
func TestCWSSIMTranslationInsensitive(t *testing.T) {
	const s = 32
	tex := func(di int) *tensor.Tensor {
		x := tensor.New(1, 1, s, s)
		for i := 0; i < s; i++ {
			for j := 0; j < s; j++ {
				jj := float64(j + di)
				v := 0.5 + 0.2*math.Sin(2*math.Pi*(5*jj+2*float64(i))/s) + 0.15*math.Cos(2*math.Pi*(3*float64(i)-4*jj)/s)
				x.Data[i*s+j] = float32(v)
			}
		}
		return x
	}
	x, y := tex(0), tex(1)
	cw := 1 - float64(CWSSIMLoss(NewVar(x), NewVar(y)).Item())
	ss := 1 - float64(SSIMLoss(NewVar(x), NewVar(y)).Item())
	t.Logf("1-pixel shift: CW-SSIM %.4f, SSIM %.4f", cw, ss)
	if cw < 0.9 || 1-cw > 0.25*(1-ss) {
		t.Fatalf("1-pixel shift: CW-SSIM %.4f, SSIM %.4f: want CW-SSIM ≥ 0.9 and its dissimilarity under a quarter of SSIM's", cw, ss)
	}
	// It still tells structure apart: the texture against the same one
	// mirrored (other orientations, same intensities) costs far more than
	// the shift. (Subbands with no energy in either image count as similar,
	// as flat patches do in SSIM, so the index stays well above 0.)
	z := x.Clone()
	for i := 0; i < s; i++ {
		for j := 0; j < s; j++ {
			z.Data[i*s+j] = x.Data[i*s+s-1-j]
		}
	}
	other := 1 - float64(CWSSIMLoss(NewVar(x), NewVar(z)).Item())
	t.Logf("mirrored texture: CW-SSIM %.4f", other)
	if 1-other < 10*(1-cw) {
		t.Fatalf("mirrored texture: CW-SSIM %.4f, 1-pixel shift %.4f: want the mirror's dissimilarity over 10 times the shift's", other, cw)
	}
}

func TestCWSSIMMapPeak(t *testing.T) { plantedPeak(t, "CW-SSIM", CWSSIMMap) }

func TestGradCWSSIM(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	x := randT(rng, 0, 1, 1, 2, 9, 10)
	gradCheckOpt(t, "CWSSIMLoss", 1e-2, 2e-2, func(in []*Var) *Var { return Scale(CWSSIMLoss(in[0], in[1]), 1000) }, x, jitter(rng, x, 0.3))
	x = randT(rng, 0, 1, 2, 1, 16, 16)
	gradCheckOpt(t, "CWSSIMLoss16", 1e-2, 2e-2, func(in []*Var) *Var { return Scale(CWSSIMLoss(in[0], in[1]), 1000) }, x, jitter(rng, x, 0.3))
}

// TestCWSSIMBatchMatchesSingles: planes are computed independently with
// reused scratch, so a batch's map and gradient must equal those of its
// images one at a time (the loss averages over N: gradients scale by 1/N).
func TestCWSSIMBatchMatchesSingles(t *testing.T) {
	rng := rand.New(rand.NewPCG(57, 58))
	const n, c, h, w = 5, 2, 12, 11
	x := randT(rng, 0, 1, n, c, h, w)
	y := jitter(rng, x, 0.3)
	xb := NewParamVar(x)
	Backward(CWSSIMLoss(xb, NewVar(y)))
	m := CWSSIMMap(x, y)
	per := c * h * w
	for b := 0; b < n; b++ {
		xs := NewParamVar(tensor.From(append([]float32(nil), x.Data[b*per:(b+1)*per]...), 1, c, h, w))
		ys := tensor.From(append([]float32(nil), y.Data[b*per:(b+1)*per]...), 1, c, h, w)
		Backward(CWSSIMLoss(xs, NewVar(ys)))
		ms := CWSSIMMap(xs.Value, ys)
		for i, v := range ms.Data {
			if math.Abs(float64(v-m.Data[b*h*w+i])) > 1e-6 {
				t.Fatalf("image %d: batch map %v, single %v", b, m.Data[b*h*w+i], v)
			}
		}
		for i, g := range xs.Grad.Data {
			if got := xb.Grad.Data[b*per+i] * n; math.Abs(float64(got-g)) > 1e-6+1e-4*math.Abs(float64(g)) {
				t.Fatalf("image %d: batch gradient %v ×N, single %v", b, got, g)
			}
		}
	}
}

// TestBox7: the running-sum window against direct 7×7 sums, from the
// smallest size allowed.
func TestBox7(t *testing.T) {
	rng := rand.New(rand.NewPCG(59, 60))
	for _, hw := range [][2]int{{7, 7}, {7, 9}, {12, 8}, {9, 15}} {
		h, w := hw[0], hw[1]
		src := randT(rng, -1, 1, h, w).Data
		got := make([]float32, h*w)
		box7(got, src, make([]float32, h*w), make([]float32, w), h, w)
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				var s float64
				for u := max(i-3, 0); u <= min(i+3, h-1); u++ {
					for v := max(j-3, 0); v <= min(j+3, w-1); v++ {
						s += float64(src[u*w+v])
					}
				}
				if math.Abs(s/49-float64(got[i*w+j])) > 1e-6 {
					t.Fatalf("%d×%d at (%d,%d): %v, direct %v", h, w, i, j, got[i*w+j], s/49)
				}
			}
		}
	}
}
