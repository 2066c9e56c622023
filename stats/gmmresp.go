package stats

import (
	"fmt"
	"math"
)

// GMMFromResponsibilities returns the mixture whose weights, means and
// covariances (plus reg on the diagonal) are the moments of the n rows of
// x (n×d) weighted by the given responsibilities resp (n×K, each row a
// membership distribution): one M-step. It is how DAGMM turns the
// memberships its estimation network predicts into a mixture.
func GMMFromResponsibilities(x []float32, n, d int, resp []float64, k int, reg float64, diag bool) (*GMM, error) {
	switch {
	case n < 1 || d < 1 || len(x) < n*d:
		return nil, fmt.Errorf("gmm: %d values for %d rows of dimension %d", len(x), n, d)
	case k < 1 || len(resp) != n*k:
		return nil, fmt.Errorf("gmm: %d responsibilities for %d rows and %d components", len(resp), n, k)
	case !(reg >= 0):
		return nil, fmt.Errorf("gmm: reg %v must be >= 0", reg)
	}
	if i, ok := firstNonFinite(x[:n*d]); !ok {
		return nil, fmt.Errorf("gmm: row %d has a non-finite value", i/d)
	}
	for i, r := range resp {
		if !(r >= 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("gmm: responsibility %d of row %d is %v", i%k, i/k, r)
		}
	}
	g := &GMM{Weights: make([]float64, k), Components: make([]*Gaussian, k)}
	if err := g.mStep(x, n, d, resp, GMMConfig{Reg: reg, Diag: diag}); err != nil {
		return nil, err
	}
	return g, nil
}
