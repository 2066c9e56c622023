package stats

import (
	"fmt"
	"math"
)

// Dirichlet is a Dirichlet distribution on the probability simplex of
// len(Alpha) categories.
type Dirichlet struct {
	Alpha []float64
	// Trace is the mean log-likelihood per training row after every
	// fixed-point iteration (set by FitDirichlet); it never decreases.
	Trace []float64
}

// DirichletConfig tunes FitDirichlet; zero fields take the defaults noted.
type DirichletConfig struct {
	Iters int     // maximum fixed-point iterations (default 1000)
	Tol   float64 // stop when no α_k moves by more than Tol·α_k (default 1e-8)
}

// FitDirichlet fits a Dirichlet by maximum likelihood to n points given by
// their log-probabilities (logP: n rows of k values, row i holding log p_i).
// Working from log-probabilities (a log-softmax) keeps points with
// vanishing components finite. The fit is Minka's fixed point (Estimating
// a Dirichlet distribution, 2000, eq. 9): ψ(α_k) ← ψ(Σα) + mean_i log p_ik,
// solved for α_k by Newton on the digamma, from the moment-matching start;
// each step cannot lower the likelihood.
func FitDirichlet(logP []float64, n, k int, cfg DirichletConfig) (*Dirichlet, error) {
	if cfg.Iters == 0 {
		cfg.Iters = 1000
	}
	if cfg.Tol == 0 {
		cfg.Tol = 1e-8
	}
	switch {
	case k < 2:
		return nil, fmt.Errorf("dirichlet: %d categories, need at least 2", k)
	case n < 2 || len(logP) < n*k:
		return nil, fmt.Errorf("dirichlet: %d values for %d rows of %d categories (need at least 2 rows)", len(logP), n, k)
	case cfg.Iters < 1 || cfg.Tol < 0:
		return nil, fmt.Errorf("dirichlet: iters must be >= 1 and tol >= 0")
	}
	meanLog := make([]float64, k)
	m1 := make([]float64, k) // E[p_k]
	m2 := make([]float64, k) // E[p_k²]
	for i := 0; i < n; i++ {
		row := logP[i*k : (i+1)*k]
		for j, l := range row {
			if math.IsNaN(l) || l > 1e-6 || math.IsInf(l, 0) {
				return nil, fmt.Errorf("dirichlet: row %d category %d: log-probability %g is not finite and <= 0", i, j, l)
			}
			meanLog[j] += l
			p := math.Exp(l)
			m1[j] += p
			m2[j] += p * p
		}
	}
	for j := range meanLog {
		meanLog[j] /= float64(n)
		m1[j] /= float64(n)
		m2[j] /= float64(n)
	}
	// Moment start (Minka eq. 21 averaged over categories): the precision
	// s = Σα from E[p_k](1−E[p_k])/Var(p_k) − 1, then α_k = s·E[p_k].
	var sLog float64
	var cnt int
	for j := range m1 {
		v := m2[j] - m1[j]*m1[j]
		if v > 0 && m1[j] > 0 && m1[j] < 1 {
			if s := m1[j]*(1-m1[j])/v - 1; s > 0 {
				sLog += math.Log(s)
				cnt++
			}
		}
	}
	s := float64(k) // no usable moment: a flat start
	if cnt > 0 {
		s = math.Exp(sLog / float64(cnt))
	}
	alpha := make([]float64, k)
	for j := range alpha {
		alpha[j] = max(s*m1[j], 1e-6)
	}
	d := &Dirichlet{Alpha: alpha}
	d.Trace = append(d.Trace, d.LogPDF(meanLog))
	for it := 0; it < cfg.Iters; it++ {
		var a0 float64
		for _, a := range alpha {
			a0 += a
		}
		psi0 := Digamma(a0)
		moved := false
		for j := range alpha {
			na := InvDigamma(psi0 + meanLog[j])
			if math.Abs(na-alpha[j]) > cfg.Tol*alpha[j] {
				moved = true
			}
			alpha[j] = na
		}
		d.Trace = append(d.Trace, d.LogPDF(meanLog))
		if !moved {
			break
		}
	}
	for j, a := range alpha {
		if !(a > 0) || math.IsInf(a, 0) {
			return nil, fmt.Errorf("dirichlet: fit diverged (alpha[%d] = %g)", j, a)
		}
	}
	return d, nil
}

// LogPDF returns the log density at the point whose log-probabilities are
// logp: log Γ(Σα) − Σ log Γ(α_k) + Σ (α_k − 1) log p_k. It is linear in
// logp, so LogPDF of the mean log-probabilities is the mean log density.
func (d *Dirichlet) LogPDF(logp []float64) float64 {
	var a0, ll float64
	for j, a := range d.Alpha {
		a0 += a
		lg, _ := math.Lgamma(a)
		ll += (a-1)*logp[j] - lg
	}
	lg0, _ := math.Lgamma(a0)
	return ll + lg0
}

// Digamma returns ψ(x) = d/dx log Γ(x) for x > 0: the recurrence
// ψ(x) = ψ(x+1) − 1/x up to x >= 6, then the asymptotic series.
func Digamma(x float64) float64 {
	if !(x > 0) {
		return math.NaN()
	}
	var r float64
	for x < 6 {
		r -= 1 / x
		x++
	}
	f := 1 / (x * x)
	return r + math.Log(x) - 0.5/x - f*(1.0/12-f*(1.0/120-f*(1.0/252-f*(1.0/240-f/132))))
}

// trigamma returns ψ'(x) for x > 0 by the same recurrence and series.
func trigamma(x float64) float64 {
	var r float64
	for x < 6 {
		r += 1 / (x * x)
		x++
	}
	f := 1 / (x * x)
	return r + 1/x + f/2 + f/x*(1.0/6-f*(1.0/30-f*(1.0/42-f/30)))
}

// InvDigamma returns x with ψ(x) = y: Minka's start (appendix C) and
// Newton steps, which converge in a handful of iterations.
func InvDigamma(y float64) float64 {
	var x float64
	if y >= -2.22 {
		x = math.Exp(y) + 0.5
	} else {
		x = -1 / (y + 0.5772156649015329) // ψ(1) = −γ
	}
	for i := 0; i < 50; i++ {
		step := (Digamma(x) - y) / trigamma(x)
		nx := x - step
		if nx <= 0 {
			nx = x / 2 // keep the iterate in ψ's domain
		}
		if math.Abs(nx-x) <= 1e-14*x {
			return nx
		}
		x = nx
	}
	return x
}
