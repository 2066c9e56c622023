package stats

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/tensor"
)

// PCA is a fitted principal component analysis: x ↦ U(x − mean) with the K
// rows of U the leading principal directions, orthonormal, in decreasing
// order of variance. Each direction's sign is fixed (its largest-magnitude
// entry is positive) so fits are reproducible bit for bit whatever path
// the eigensolver takes.
type PCA struct {
	Mean       []float32 // [D]
	Components []float32 // [K×D] row-major
	// Variances are the eigenvalues of the K directions (the covariance
	// MeanCov(1) gives); nil for a PCA made by NewPCA.
	Variances []float64
}

// Dim is the input dimension D.
func (p *PCA) Dim() int { return len(p.Mean) }

// K is the number of components.
func (p *PCA) K() int { return len(p.Components) / len(p.Mean) }

// FitPCA returns the top-k principal directions of the rows accumulated in
// m, by an eigendecomposition of the d×d covariance (far cheaper than an
// SVD of the n×d data when n ≫ d).
func FitPCA(m *Moments, k int) (*PCA, error) {
	d := m.Dim()
	if k < 1 || k > d {
		return nil, fmt.Errorf("PCA: components %d out of range 1..%d (the dimension)", k, d)
	}
	if m.N() < 2 {
		return nil, fmt.Errorf("PCA: %d rows, need at least 2", m.N())
	}
	mean, cov, err := m.MeanCov(1)
	if err != nil {
		return nil, fmt.Errorf("PCA: %w", err)
	}
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(d, cov), true) {
		return nil, errors.New("PCA: eigendecomposition of the covariance did not converge")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	p := &PCA{Mean: make([]float32, d), Components: make([]float32, k*d), Variances: make([]float64, k)}
	for i, v := range mean {
		p.Mean[i] = float32(v)
	}
	// Eigenvalues come in ascending order: the leading directions are the
	// last columns.
	for r := 0; r < k; r++ {
		col := d - 1 - r
		p.Variances[r] = vals[col]
		best, sign := 0.0, 1.0
		for i := 0; i < d; i++ {
			if v := vecs.At(i, col); math.Abs(v) > best {
				best = math.Abs(v)
				sign = math.Copysign(1, v)
			}
		}
		for i := 0; i < d; i++ {
			p.Components[r*d+i] = float32(sign * vecs.At(i, col))
		}
	}
	return p, nil
}

// NewPCA wraps a stored mean (d) and components (k×d, not copied), checking
// the values: finite, and every component of unit length (within 1e-3) so a
// corrupted model fails here rather than scoring nonsense.
func NewPCA(mean, comp []float32, k int) (*PCA, error) {
	d := len(mean)
	if d < 1 || k < 1 || len(comp) != k*d {
		return nil, fmt.Errorf("PCA: %d component values for %d components of dimension %d", len(comp), k, d)
	}
	if i, ok := firstNonFinite(mean); !ok {
		return nil, fmt.Errorf("PCA: mean[%d] is %v", i, mean[i])
	}
	for r := 0; r < k; r++ {
		var s float64
		for _, v := range comp[r*d : (r+1)*d] {
			s += float64(v) * float64(v)
		}
		if !(math.Abs(math.Sqrt(s)-1) <= 1e-3) {
			return nil, fmt.Errorf("PCA: component %d has length %v, want 1", r, math.Sqrt(s))
		}
	}
	return &PCA{Mean: mean, Components: comp}, nil
}

// firstNonFinite returns the index of the first NaN or infinite value and
// false, or (0, true) when all are finite.
func firstNonFinite(v []float32) (int, bool) {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i, false
		}
	}
	return 0, true
}

// Transform writes the coordinates (x − mean)Uᵀ of the n rows of x (n×D)
// into dst (n×K) and returns it: one parallel GEMM and a bias.
func (p *PCA) Transform(dst, x []float32, n int) []float32 {
	d, k := p.Dim(), p.K()
	dst = grow(dst, n*k)
	if n == 0 {
		return dst
	}
	gemm.Sgemm(false, true, n, k, d, 1, x, d, p.Components, d, 0, dst, k)
	bias := make([]float32, k)
	for j := range bias {
		var s float64
		for a, v := range p.Components[j*d : (j+1)*d] {
			s += float64(v) * float64(p.Mean[a])
		}
		bias[j] = float32(s)
	}
	tensor.ParallelChunks(n, 1024, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := dst[i*k : (i+1)*k]
			for j := range row {
				row[j] -= bias[j]
			}
		}
	})
	return dst
}

// InverseTransform writes the reconstructions mean + zU of the n coordinate
// rows of z (n×K) into dst (n×D) and returns it.
func (p *PCA) InverseTransform(dst, z []float32, n int) []float32 {
	d, k := p.Dim(), p.K()
	dst = grow(dst, n*d)
	for i := 0; i < n; i++ {
		copy(dst[i*d:(i+1)*d], p.Mean)
	}
	if n > 0 {
		gemm.Sgemm(false, false, n, d, k, 1, z, k, p.Components, d, 1, dst, d)
	}
	return dst
}

// Residual replaces each of the n already centred rows of x (n×D) by its
// reconstruction residual (I − UᵀU)x, using z (at least n×K) as scratch:
// two GEMMs, z = xUᵀ then x −= zU.
func (p *PCA) Residual(x, z []float32, n int) {
	if n == 0 {
		return
	}
	d, k := p.Dim(), p.K()
	gemm.Sgemm(false, true, n, k, d, 1, x, d, p.Components, d, 0, z, k)
	gemm.Sgemm(false, false, n, d, k, -1, z, k, p.Components, d, 1, x, d)
}
