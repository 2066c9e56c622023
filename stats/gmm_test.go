package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// twoBlobs draws n rows from 0.3·N((0,0), [[1,.5],[.5,1]]) +
// 0.7·N((8,5), [[2,0],[0,0.5]]) through explicit Cholesky factors.
func twoBlobs(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		z0, z1 := r.NormFloat64(), r.NormFloat64()
		if r.Float64() < 0.3 {
			// L = [[1,0],[.5,√.75]]
			x[2*i], x[2*i+1] = float32(z0), float32(0.5*z0+math.Sqrt(0.75)*z1)
		} else {
			x[2*i], x[2*i+1] = float32(8+math.Sqrt2*z0), float32(5+math.Sqrt(0.5)*z1)
		}
	}
	return x
}

// EM recovers the weights, means and covariances of a well separated
// two-component mixture, and the log-likelihood never decreases.
func TestGMMRecoversMixture(t *testing.T) {
	const n = 4000
	x := twoBlobs(n, 1)
	g, err := FitGMM(x, n, 2, GMMConfig{Components: 2, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	a, b := 0, 1
	if g.Components[0].Mean[0] > g.Components[1].Mean[0] {
		a, b = 1, 0
	}
	type want struct {
		w      float64
		mu     [2]float64
		cov    [3]float64 // Σ00, Σ10, Σ11
		compIx int
	}
	for _, c := range []want{{0.3, [2]float64{0, 0}, [3]float64{1, 0.5, 1}, a}, {0.7, [2]float64{8, 5}, [3]float64{2, 0, 0.5}, b}} {
		comp := g.Components[c.compIx]
		if math.Abs(g.Weights[c.compIx]-c.w) > 0.03 {
			t.Errorf("weight %v, want %v", g.Weights[c.compIx], c.w)
		}
		for j := 0; j < 2; j++ {
			if math.Abs(float64(comp.Mean[j])-c.mu[j]) > 0.1 {
				t.Errorf("mean %v, want %v", comp.Mean, c.mu)
			}
		}
		cov := covOf(comp)
		for j := range cov {
			if math.Abs(cov[j]-c.cov[j]) > 0.15 {
				t.Errorf("covariance %v, want %v", cov, c.cov)
			}
		}
	}
	if len(g.Trace) < 2 {
		t.Fatalf("trace %v: EM did not iterate", g.Trace)
	}
	for i := 1; i < len(g.Trace); i++ {
		// Parameters are stored in float32: allow their rounding.
		if g.Trace[i] < g.Trace[i-1]-1e-6*math.Abs(g.Trace[i-1]) {
			t.Fatalf("log-likelihood fell at iteration %d: %v", i, g.Trace)
		}
	}
}

// covOf recovers Σ = (WᵀW)⁻¹ of a 2-D full Gaussian: Σ = L Lᵀ, L = W⁻¹.
func covOf(g *Gaussian) [3]float64 {
	w00, w10, w11 := float64(g.W[0]), float64(g.W[1]), float64(g.W[2])
	l00, l11 := 1/w00, 1/w11
	l10 := -w10 * l00 / w11
	return [3]float64{l00 * l00, l10 * l00, l10*l10 + l11*l11}
}

// The mixture's log-likelihood and score equal the density formula
// evaluated by hand (2×2 inverse and determinant) at a point.
func TestGMMLogLikelihoodMatchesFormula(t *testing.T) {
	const n = 1000
	x := twoBlobs(n, 2)
	g, err := FitGMM(x, n, 2, GMMConfig{Components: 2, Seed: 1, Iters: 5})
	if err != nil {
		t.Fatal(err)
	}
	pt := []float32{3, 2}
	var p float64
	for k, c := range g.Components {
		s := covOf(c)
		detS := s[0]*s[2] - s[1]*s[1]
		dx, dy := float64(pt[0]-c.Mean[0]), float64(pt[1]-c.Mean[1])
		m2 := (s[2]*dx*dx - 2*s[1]*dx*dy + s[0]*dy*dy) / detS
		p += g.Weights[k] * math.Exp(-0.5*m2) / (2 * math.Pi * math.Sqrt(detS))
	}
	ll := g.LogLikelihood(nil, pt, 1)
	if math.Abs(ll[0]-math.Log(p)) > 1e-6*math.Abs(math.Log(p)) {
		t.Fatalf("log-likelihood %v, formula %v", ll[0], math.Log(p))
	}
	if s := g.Score(nil, pt, 1); s[0] != -ll[0] {
		t.Fatalf("score %v, want %v", s[0], -ll[0])
	}
	// Far from both components the density underflows but log-sum-exp
	// stays finite.
	if far := g.LogLikelihood(nil, []float32{1e4, -1e4}, 1); math.IsInf(far[0], 0) || math.IsNaN(far[0]) {
		t.Fatalf("log-likelihood far away is %v", far[0])
	}
}

// Diagonal covariances: the fitted variances of axis-aligned blobs.
func TestGMMDiagonal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const n = 3000
	x := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			x[2*i], x[2*i+1] = float32(3*r.NormFloat64()), float32(0.5*r.NormFloat64())
		} else {
			x[2*i], x[2*i+1] = float32(40+r.NormFloat64()), float32(40+2*r.NormFloat64())
		}
	}
	g, err := FitGMM(x, n, 2, GMMConfig{Components: 2, Diag: true, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	a, b := 0, 1
	if g.Components[0].Mean[0] > 20 {
		a, b = 1, 0
	}
	check := func(c *Gaussian, sd [2]float64) {
		for j := 0; j < 2; j++ {
			got := 1 / float64(c.W[j])
			if math.Abs(got-sd[j]) > 0.08*sd[j] {
				t.Errorf("standard deviation %d is %v, want %v", j, got, sd[j])
			}
		}
	}
	check(g.Components[a], [2]float64{3, 0.5})
	check(g.Components[b], [2]float64{1, 2})
	if _, err := FitGMM(x, n, 2, GMMConfig{Components: n + 1}); err == nil {
		t.Error("more components than rows accepted")
	}
}
