package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// gammaSample draws Gamma(a, 1) by Marsaglia and Tsang (2000), with the
// a < 1 boost U^(1/a).
func gammaSample(r *rand.Rand, a float64) float64 {
	if a < 1 {
		return gammaSample(r, a+1) * math.Pow(r.Float64(), 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

// dirichletLogSamples draws n points from Dir(alpha) as log-probabilities.
func dirichletLogSamples(alpha []float64, n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	k := len(alpha)
	out := make([]float64, n*k)
	g := make([]float64, k)
	for i := 0; i < n; i++ {
		var s float64
		for j, a := range alpha {
			g[j] = gammaSample(r, a)
			s += g[j]
		}
		for j := range g {
			out[i*k+j] = math.Log(g[j] / s)
		}
	}
	return out
}

func TestDigammaKnownValues(t *testing.T) {
	const euler = 0.5772156649015329
	for _, c := range []struct{ x, want float64 }{
		{1, -euler},
		{0.5, -euler - 2*math.Ln2},
		{2, 1 - euler},
		{10, 2.251752589066721},
		{0.01, -100.56088545786867},
	} {
		if got := Digamma(c.x); math.Abs(got-c.want) > 1e-10 {
			t.Errorf("Digamma(%g) = %.15g, want %.15g", c.x, got, c.want)
		}
	}
	// ψ' against a central difference of ψ.
	for _, x := range []float64{0.05, 0.7, 3, 40} {
		h := 1e-5 * x
		num := (Digamma(x+h) - Digamma(x-h)) / (2 * h)
		if got := trigamma(x); math.Abs(got-num) > 1e-5*math.Abs(num) {
			t.Errorf("trigamma(%g) = %g, central difference %g", x, got, num)
		}
	}
	for _, x := range []float64{1e-3, 0.2, 1, 7.5, 300} {
		if got := InvDigamma(Digamma(x)); math.Abs(got-x) > 1e-9*x {
			t.Errorf("InvDigamma(Digamma(%g)) = %.15g", x, got)
		}
	}
}

// Minka's fixed point recovers known parameters from samples, including a
// peaked Dirichlet with small α as softmax outputs look like, and the
// likelihood trace never decreases.
func TestFitDirichletRecoversAlpha(t *testing.T) {
	for ci, alpha := range [][]float64{
		{2, 5, 1},
		{0.3, 0.05, 0.1, 4},
	} {
		const n = 20000
		lp := dirichletLogSamples(alpha, n, uint64(ci+1))
		d, err := FitDirichlet(lp, n, len(alpha), DirichletConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for j, a := range alpha {
			if rel := math.Abs(d.Alpha[j]-a) / a; rel > 0.05 {
				t.Errorf("case %d: alpha[%d] = %.4f, want %.4f (rel err %.3f)", ci, j, d.Alpha[j], a, rel)
			}
		}
		if len(d.Trace) < 3 {
			t.Errorf("case %d: %d iterations: the moment start should not already be the fixed point", ci, len(d.Trace))
		}
		for i := 1; i < len(d.Trace); i++ {
			if d.Trace[i] < d.Trace[i-1]-1e-9*math.Abs(d.Trace[i-1]) {
				t.Fatalf("case %d: log-likelihood fell at iteration %d: %.12g -> %.12g", ci, i, d.Trace[i-1], d.Trace[i])
			}
		}
		// The MLE beats the true parameters on its own training data.
		truth := &Dirichlet{Alpha: alpha}
		var llTrue, llFit float64
		k := len(alpha)
		for i := 0; i < n; i++ {
			llTrue += truth.LogPDF(lp[i*k : (i+1)*k])
			llFit += d.LogPDF(lp[i*k : (i+1)*k])
		}
		if llFit < llTrue {
			t.Errorf("case %d: fitted log-likelihood %g below the true parameters' %g", ci, llFit, llTrue)
		}
		if got := d.Trace[len(d.Trace)-1]; math.Abs(got-llFit/n) > 1e-9*math.Abs(got) {
			t.Errorf("case %d: trace ends at %g, mean log-likelihood is %g", ci, got, llFit/n)
		}
	}
}

// LogPDF matches the closed form of Dir(1,1) (uniform: log Γ(2) = 0) and
// Dir(2,3) at a hand-computed point: Γ(5)/(Γ(2)Γ(3)) p·q² = 12·0.4·0.36.
func TestDirichletLogPDF(t *testing.T) {
	u := &Dirichlet{Alpha: []float64{1, 1}}
	if got := u.LogPDF([]float64{math.Log(0.3), math.Log(0.7)}); math.Abs(got) > 1e-12 {
		t.Errorf("uniform log density %g, want 0", got)
	}
	d := &Dirichlet{Alpha: []float64{2, 3}}
	want := math.Log(12 * 0.4 * 0.36)
	if got := d.LogPDF([]float64{math.Log(0.4), math.Log(0.6)}); math.Abs(got-want) > 1e-12 {
		t.Errorf("Dir(2,3) log density %g, want %g", got, want)
	}
}

func TestFitDirichletRejectsBadInput(t *testing.T) {
	if _, err := FitDirichlet([]float64{0, math.Inf(-1), -1, -0.5}, 2, 2, DirichletConfig{}); err == nil {
		t.Error("a -Inf log-probability was accepted")
	}
	if _, err := FitDirichlet([]float64{math.NaN(), -1, -1, -0.5}, 2, 2, DirichletConfig{}); err == nil {
		t.Error("a NaN log-probability was accepted")
	}
	if _, err := FitDirichlet([]float64{-1, -1}, 1, 2, DirichletConfig{}); err == nil {
		t.Error("one row was accepted")
	}
}
