package pcarecon

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/vigil-ad/vigil/gemm"
)

// moments accumulates the first and second moments of D-dimensional
// vectors: sum of (x − s) and sum of (x − s)(x − s)ᵀ for a fixed shift s
// close to the mean. Rows arrive in batches so the second moment is one
// float32 SGEMM per batch (the engine's fast path), added into float64
// totals; the shift removes most of the mean before squaring, so the
// one-pass covariance E[yyᵀ] − E[y]E[y]ᵀ (y = x − s) does not lose the
// small patch variances to cancellation.
type moments struct {
	d     int
	n     int
	shift []float32
	sum   []float64
	xtx   []float64 // d×d row-major, full (both triangles)
	batch []float32 // batchRows × d
	prod  []float32 // d×d scratch for one batch's product
	rows  int
}

// batchRows is the number of vectors per second-moment update: large
// enough for the product to run at BLAS-3 speed, small enough that its
// float32 partial sums stay accurate.
const batchRows = 512

// newMoments makes an accumulator; shift may be nil (no shift).
func newMoments(d int, shift []float32) *moments {
	if shift == nil {
		shift = make([]float32, d)
	}
	return &moments{d: d, shift: shift, sum: make([]float64, d), xtx: make([]float64, d*d),
		batch: make([]float32, batchRows*d), prod: make([]float32, d*d)}
}

// row returns the next batch row to fill; the caller writes d raw values.
func (m *moments) row() []float32 {
	if m.rows == batchRows {
		m.flush()
	}
	r := m.batch[m.rows*m.d : (m.rows+1)*m.d]
	m.rows++
	return r
}

func (m *moments) flush() {
	if m.rows == 0 {
		return
	}
	d := m.d
	b := m.batch[:m.rows*d]
	for i := 0; i < m.rows; i++ {
		r := b[i*d : (i+1)*d]
		for j := range r {
			r[j] -= m.shift[j]
			m.sum[j] += float64(r[j])
		}
	}
	gemm.Sgemm(true, false, d, d, m.rows, 1, b, d, b, d, 0, m.prod, d)
	for i, v := range m.prod {
		m.xtx[i] += float64(v)
	}
	m.n += m.rows
	m.rows = 0
}

// merge adds o's moments into m (both flushed); they must share the shift.
func (m *moments) merge(o *moments) {
	m.flush()
	o.flush()
	m.n += o.n
	for i, v := range o.sum {
		m.sum[i] += v
	}
	for i, v := range o.xtx {
		m.xtx[i] += v
	}
}

// pca is a fitted linear autoencoder: x ↦ mean + Uᵀ U (x − mean), with the
// K rows of U the leading principal directions (orthonormal).
type pca struct {
	d, k int
	mean []float32 // d
	comp []float32 // k×d row-major
}

// fitPCA turns accumulated moments into the top-k principal directions of
// the covariance matrix (an eigendecomposition of the d×d covariance:
// d ≤ 768 here, far cheaper than an SVD of the n×d patch matrix).
func fitPCA(m *moments, k int) (*pca, error) {
	m.flush()
	d := m.d
	if k < 1 || k > d {
		return nil, fmt.Errorf("components %d out of range 1..%d (patch dimension)", k, d)
	}
	if m.n < 2 {
		return nil, fmt.Errorf("only %d training patches; need at least 2", m.n)
	}
	n := float64(m.n)
	mu := make([]float64, d)
	for i, v := range m.sum {
		mu[i] = v / n
	}
	cov := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			// Average the two triangles: they are equal up to rounding.
			v := 0.5*(m.xtx[i*d+j]+m.xtx[j*d+i])/n - mu[i]*mu[j]
			cov.SetSym(i, j, v)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, errors.New("eigendecomposition of the patch covariance did not converge")
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	p := &pca{d: d, k: k, mean: make([]float32, d), comp: make([]float32, k*d)}
	for i, v := range mu {
		p.mean[i] = float32(v + float64(m.shift[i]))
	}
	// Eigenvalues come in ascending order: the leading directions are the
	// last columns. Each direction's sign is fixed (largest-magnitude entry
	// positive) so fits are reproducible bit for bit across LAPACK paths.
	for r := 0; r < k; r++ {
		col := d - 1 - r
		best, sign := 0.0, 1.0
		for i := 0; i < d; i++ {
			if v := vecs.At(i, col); math.Abs(v) > best {
				best = math.Abs(v)
				if v < 0 {
					sign = -1
				} else {
					sign = 1
				}
			}
		}
		for i := 0; i < d; i++ {
			p.comp[r*d+i] = float32(sign * vecs.At(i, col))
		}
	}
	return p, nil
}

// residualRows replaces each of the n centred rows of x (n×d, row-major)
// by its reconstruction residual (I − UᵀU) x, using z (n×k) as scratch.
// Two GEMMs: z = x Uᵀ, then x −= z U.
func (p *pca) residualRows(x, z []float32, n int) {
	if n == 0 {
		return
	}
	d, k := p.d, p.k
	gemm.Sgemm(false, true, n, k, d, 1, x, d, p.comp, d, 0, z, k)
	gemm.Sgemm(false, false, n, d, k, -1, z, k, p.comp, d, 1, x, d)
}
