package stats

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/tensor"
)

// GMMConfig tunes FitGMM; zero fields take the defaults noted.
type GMMConfig struct {
	Components int     // mixture components (default 1)
	Diag       bool    // diagonal covariances instead of full ones
	Iters      int     // maximum EM iterations (default 100)
	Tol        float64 // stop when the mean log-likelihood gains less (default 1e-6)
	Reg        float64 // added to every covariance diagonal, keeping it positive definite (default 1e-6)
	Seed       uint64  // seeds the k-means initialisation
}

// GMM is a Gaussian mixture: density Σ_k Weights[k]·N(x; Components[k]).
type GMM struct {
	Weights    []float64
	Components []*Gaussian
	// Trace is the mean log-likelihood per sample of the training rows at
	// every EM iteration (set by FitGMM); the last is the returned model's.
	Trace []float64
}

// FitGMM fits a mixture to the n rows of x (n×d) by expectation-
// maximisation from a seeded k-means initialisation (hard assignments to
// the k-means centroids give the first parameters). Responsibilities are
// computed with log-sum-exp so far-away rows do not underflow to 0/0.
func FitGMM(x []float32, n, d int, cfg GMMConfig) (*GMM, error) {
	if cfg.Components == 0 {
		cfg.Components = 1
	}
	if cfg.Iters == 0 {
		cfg.Iters = 100
	}
	if cfg.Tol == 0 {
		cfg.Tol = 1e-6
	}
	if cfg.Reg == 0 {
		cfg.Reg = 1e-6
	}
	K := cfg.Components
	switch {
	case d < 1 || len(x) < n*d:
		return nil, fmt.Errorf("gmm: %d values for %d rows of dimension %d", len(x), n, d)
	case K < 1 || K > n:
		return nil, fmt.Errorf("gmm: components %d out of range 1..%d (the rows)", K, n)
	case cfg.Iters < 1 || cfg.Tol < 0 || cfg.Reg < 0:
		return nil, fmt.Errorf("gmm: iters must be >= 1, tol and reg >= 0")
	}
	if i, ok := firstNonFinite(x[:n*d]); !ok {
		return nil, fmt.Errorf("gmm: row %d has a non-finite value", i/d)
	}
	cent := KMeans(x, n, d, K, 10, cfg.Seed)
	lab := Assign(nil, cent, K, x, n, d)
	resp := make([]float64, n*K)
	for i, c := range lab {
		resp[i*K+int(c)] = 1
	}
	g := &GMM{Weights: make([]float64, K), Components: make([]*Gaussian, K)}
	if err := g.mStep(x, n, d, resp, cfg); err != nil {
		return nil, err
	}
	ll := make([]float64, n)
	for it := 0; ; it++ {
		g.eStep(x, n, resp, ll)
		var mean float64
		for _, v := range ll {
			mean += v
		}
		mean /= float64(n)
		g.Trace = append(g.Trace, mean)
		if it > 0 && mean-g.Trace[it-1] < cfg.Tol || it == cfg.Iters-1 {
			break
		}
		if err := g.mStep(x, n, d, resp, cfg); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// eStep writes the responsibilities (n×K) and per-row log-likelihoods.
func (g *GMM) eStep(x []float32, n int, resp, ll []float64) {
	K, d := len(g.Weights), g.Components[0].Dim()
	tensor.ParallelChunks(n, 256, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := resp[i*K : (i+1)*K]
			ll[i] = g.logJoint(r, x[i*d:(i+1)*d])
			for k := range r {
				r[k] = math.Exp(r[k] - ll[i])
			}
		}
	})
}

// logJoint writes log π_k + log N(x; k) into lp and returns their
// log-sum-exp, log p(x).
func (g *GMM) logJoint(lp []float64, x []float32) float64 {
	hi := math.Inf(-1)
	for k, c := range g.Components {
		lp[k] = math.Log(g.Weights[k]) + c.LogDensity(x)
		hi = max(hi, lp[k])
	}
	if math.IsInf(hi, -1) {
		return hi
	}
	var s float64
	for _, v := range lp {
		s += math.Exp(v - hi)
	}
	return hi + math.Log(s)
}

// mStep sets weights, means and (regularised) covariances from the
// responsibilities. A component that lost every row keeps its parameters
// with a vanishing weight.
func (g *GMM) mStep(x []float32, n, d int, resp []float64, cfg GMMConfig) error {
	K := len(g.Weights)
	errs := make([]error, K)
	tensor.ParallelChunks(K, 1, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			var nk float64
			mu := make([]float64, d)
			for i := 0; i < n; i++ {
				r := resp[i*K+k]
				nk += r
				for a, v := range x[i*d : (i+1)*d] {
					mu[a] += r * float64(v)
				}
			}
			if nk < 1e-10 && g.Components[k] != nil {
				g.Weights[k] = 1e-10 / float64(n)
				continue
			}
			nk = max(nk, 1e-10)
			for a := range mu {
				mu[a] /= nk
			}
			var cov []float64
			diff := make([]float64, d)
			if cfg.Diag {
				cov = make([]float64, d)
			} else {
				cov = make([]float64, d*d)
			}
			for i := 0; i < n; i++ {
				r := resp[i*K+k]
				if r == 0 {
					continue
				}
				for a, v := range x[i*d : (i+1)*d] {
					diff[a] = float64(v) - mu[a]
				}
				if cfg.Diag {
					for a, t := range diff {
						cov[a] += r * t * t
					}
					continue
				}
				for a := 0; a < d; a++ {
					ra := r * diff[a]
					row := cov[a*d : a*d+a+1]
					for b := range row {
						row[b] += ra * diff[b]
					}
				}
			}
			for a := range cov {
				cov[a] /= nk
			}
			c, err := NewGaussian(mu, cov, cfg.Reg, cfg.Diag)
			if err != nil {
				errs[k] = fmt.Errorf("gmm: component %d: %w (increase reg)", k, err)
				continue
			}
			g.Components[k] = c
			g.Weights[k] = nk / float64(n)
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	var s float64
	for _, w := range g.Weights {
		s += w
	}
	for k := range g.Weights {
		g.Weights[k] /= s
	}
	return nil
}

// Dim is the row dimension.
func (g *GMM) Dim() int { return g.Components[0].Dim() }

// LogLikelihood writes log p(x) of each of the n rows of x into dst (n)
// and returns it.
func (g *GMM) LogLikelihood(dst []float64, x []float32, n int) []float64 {
	d, K := g.Dim(), len(g.Weights)
	dst = grow(dst, n)
	tensor.ParallelChunks(n, 256, func(lo, hi int) {
		lp := make([]float64, K)
		for i := lo; i < hi; i++ {
			dst[i] = g.logJoint(lp, x[i*d:(i+1)*d])
		}
	})
	return dst
}

// Score writes the anomaly score −log p(x) of each of the n rows of x into
// dst (n) and returns it.
func (g *GMM) Score(dst []float64, x []float32, n int) []float64 {
	dst = g.LogLikelihood(dst, x, n)
	for i := range dst {
		dst[i] = -dst[i]
	}
	return dst
}
