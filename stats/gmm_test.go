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

// threeBlobs draws n rows of a known 3-D three-component mixture: weights
// 0.2, 0.3, 0.5, means far apart, one covariance with correlation, one
// diagonal, one isotropic, each through an explicit Cholesky factor.
func threeBlobs(n int, seed uint64) (x []float32, w [3]float64, mu [3][3]float64, chol [3][3][3]float64) {
	w = [3]float64{0.2, 0.3, 0.5}
	mu = [3][3]float64{{0, 0, 0}, {10, -6, 4}, {-8, 9, 12}}
	chol = [3][3][3]float64{
		{{1, 0, 0}, {0.6, 0.8, 0}, {0.2, -0.3, 0.9}},
		{{2, 0, 0}, {0, 0.5, 0}, {0, 0, 1.5}},
		{{0.7, 0, 0}, {0, 0.7, 0}, {0, 0, 0.7}},
	}
	r := rand.New(rand.NewPCG(seed, 3))
	x = make([]float32, 3*n)
	for i := 0; i < n; i++ {
		u, k := r.Float64(), 2
		if u < w[0] {
			k = 0
		} else if u < w[0]+w[1] {
			k = 1
		}
		z := [3]float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		for a := 0; a < 3; a++ {
			v := mu[k][a]
			for b := 0; b <= a; b++ {
				v += chol[k][a][b] * z[b]
			}
			x[3*i+a] = float32(v)
		}
	}
	return x, w, mu, chol
}

// EM with k-means++ initialisation recovers a known three-component
// mixture (weights, means, full covariances), its log-likelihood never
// falls, and it stops once an iteration gains less than Tol.
func TestGMMRecoversThreeComponents(t *testing.T) {
	const n = 6000
	x, w, mu, chol := threeBlobs(n, 7)
	g, err := FitGMM(x, n, 3, GMMConfig{Components: 3, Seed: 11, Tol: 1e-7, Iters: 200})
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 3; k++ {
		// The fitted component nearest the true mean.
		best, bd := -1, math.Inf(1)
		for j, c := range g.Components {
			var d float64
			for a := 0; a < 3; a++ {
				d += math.Pow(float64(c.Mean[a])-mu[k][a], 2)
			}
			if d < bd {
				best, bd = j, d
			}
		}
		if math.Sqrt(bd) > 0.15 {
			t.Errorf("component %d: nearest fitted mean %v, want %v", k, g.Components[best].Mean, mu[k])
		}
		if math.Abs(g.Weights[best]-w[k]) > 0.02 {
			t.Errorf("component %d: weight %v, want %v", k, g.Weights[best], w[k])
		}
		// Σ = L Lᵀ of the true factor against the fitted one, rebuilt from
		// the precision WᵀW by inverting it.
		got := covariance3(g.Components[best])
		for a := 0; a < 3; a++ {
			for b := 0; b < 3; b++ {
				var want float64
				for c := 0; c < 3; c++ {
					want += chol[k][a][c] * chol[k][b][c]
				}
				if math.Abs(got[a][b]-want) > 0.1*math.Max(1, math.Abs(want)) {
					t.Errorf("component %d: covariance[%d][%d] %v, want %v", k, a, b, got[a][b], want)
				}
			}
		}
	}
	tr := g.Trace
	if len(tr) < 2 || len(tr) >= 200 {
		t.Fatalf("trace of %d iterations: EM did not iterate or did not stop on Tol", len(tr))
	}
	for i := 1; i < len(tr); i++ {
		if tr[i] < tr[i-1]-1e-6*math.Abs(tr[i-1]) {
			t.Fatalf("log-likelihood fell at iteration %d: %v -> %v", i, tr[i-1], tr[i])
		}
	}
	if gain := tr[len(tr)-1] - tr[len(tr)-2]; gain >= 1e-7 {
		t.Errorf("stopped with a last gain of %v, not below Tol", gain)
	}
	// A coarser Tol stops sooner, at the first gain below it.
	g2, err := FitGMM(x, n, 3, GMMConfig{Components: 3, Seed: 11, Tol: 1e-2, Iters: 200})
	if err != nil {
		t.Fatal(err)
	}
	t2 := g2.Trace
	for i := 1; i < len(t2)-1; i++ {
		if t2[i]-t2[i-1] < 1e-2 {
			t.Fatalf("iteration %d gained %v < Tol but EM went on", i, t2[i]-t2[i-1])
		}
	}
	if len(t2) > len(tr) {
		t.Errorf("Tol 1e-2 took %d iterations, Tol 1e-7 %d", len(t2), len(tr))
	}
}

// Regularisation keeps a degenerate component (all rows on a line)
// positive definite: its smallest variance is Reg.
func TestGMMRegularisesDegenerateCovariance(t *testing.T) {
	const n = 500
	x := make([]float32, 2*n)
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < n; i++ {
		v := float32(r.NormFloat64())
		x[2*i], x[2*i+1] = v, 2*v // rank 1
	}
	g, err := FitGMM(x, n, 2, GMMConfig{Components: 1, Reg: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	c := covOf(g.Components[0])
	// Eigenvalues of the 2×2 covariance: the smaller must be ≈ Reg.
	tr, det := c[0]+c[2], c[0]*c[2]-c[1]*c[1]
	small := tr/2 - math.Sqrt(tr*tr/4-det)
	if math.Abs(small-1e-2) > 2e-3 {
		t.Errorf("smallest variance %v, want the regularisation 1e-2", small)
	}
}

// covariance3 returns Σ = (WᵀW)⁻¹ of a 3-D full Gaussian by the adjugate.
func covariance3(g *Gaussian) [3][3]float64 {
	p := precision(g, 3)
	var inv [3][3]float64
	det := p[0][0]*(p[1][1]*p[2][2]-p[1][2]*p[2][1]) - p[0][1]*(p[1][0]*p[2][2]-p[1][2]*p[2][0]) + p[0][2]*(p[1][0]*p[2][1]-p[1][1]*p[2][0])
	for a := 0; a < 3; a++ {
		for b := 0; b < 3; b++ {
			a1, a2 := (b+1)%3, (b+2)%3
			b1, b2 := (a+1)%3, (a+2)%3
			inv[a][b] = (p[a1][b1]*p[a2][b2] - p[a1][b2]*p[a2][b1]) / det
		}
	}
	return inv
}

// precision returns WᵀW from the packed lower-triangular factor.
func precision(g *Gaussian, d int) [][]float64 {
	W := make([][]float64, d)
	o := 0
	for i := range W {
		W[i] = make([]float64, d)
		for j := 0; j <= i; j++ {
			W[i][j] = float64(g.W[o])
			o++
		}
	}
	p := make([][]float64, d)
	for i := range p {
		p[i] = make([]float64, d)
		for j := range p[i] {
			for r := 0; r < d; r++ {
				p[i][j] += W[r][i] * W[r][j]
			}
		}
	}
	return p
}
