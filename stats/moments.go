package stats

import (
	"fmt"

	"github.com/vigil-ad/vigil/gemm"
)

// Moments accumulates the first and second moments of d-dimensional rows:
// the sum of (x − s) and of (x − s)(x − s)ᵀ for a fixed shift s close to
// the mean. Rows are buffered so the second moment is one float32 SGEMM
// per batch (the engine's fast path) added into float64 totals; the shift
// removes most of the mean before squaring, so the one-pass covariance
// E[yyᵀ] − E[y]E[y]ᵀ (y = x − s) does not lose small variances to
// cancellation. The summation order depends only on the row order, so
// results do not depend on the machine.
type Moments struct {
	d     int
	n     int
	shift []float32
	sum   []float64
	xtx   []float64 // d×d row-major, both triangles
	batch []float32 // momentRows × d
	prod  []float32 // d×d scratch for one batch's product
	rows  int
}

// momentRows is the number of rows per second-moment update: large enough
// for the product to run at BLAS-3 speed, small enough that its float32
// partial sums stay accurate.
const momentRows = 512

// NewMoments makes an accumulator for d-dimensional rows; shift may be nil
// (no shift), else it must have d values and is kept, not copied.
func NewMoments(d int, shift []float32) *Moments {
	if d < 1 {
		panic(fmt.Sprintf("stats.NewMoments: dimension %d", d))
	}
	if shift == nil {
		shift = make([]float32, d)
	}
	if len(shift) != d {
		panic(fmt.Sprintf("stats.NewMoments: shift has %d values for dimension %d", len(shift), d))
	}
	return &Moments{d: d, shift: shift, sum: make([]float64, d), xtx: make([]float64, d*d),
		batch: make([]float32, momentRows*d), prod: make([]float32, d*d)}
}

// Dim is the row dimension.
func (m *Moments) Dim() int { return m.d }

// N is the number of rows added so far.
func (m *Moments) N() int { return m.n + m.rows }

// Row returns the next row to fill; the caller writes d raw values before
// the next call.
func (m *Moments) Row() []float32 {
	if m.rows == momentRows {
		m.flush()
	}
	r := m.batch[m.rows*m.d : (m.rows+1)*m.d]
	m.rows++
	return r
}

// Add adds the n rows of x (n×d).
func (m *Moments) Add(x []float32, n int) {
	if len(x) < n*m.d {
		panic(fmt.Sprintf("stats.Moments.Add: %d values for %d rows of %d", len(x), n, m.d))
	}
	for i := 0; i < n; i++ {
		copy(m.Row(), x[i*m.d:(i+1)*m.d])
	}
}

func (m *Moments) flush() {
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

// Merge adds o's rows into m; both must have the same dimension and shift
// values.
func (m *Moments) Merge(o *Moments) {
	if o.d != m.d {
		panic(fmt.Sprintf("stats.Moments.Merge: dimension %d into %d", o.d, m.d))
	}
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

// MeanCov returns the mean (d) and the covariance (d×d, row-major, both
// triangles) of the rows added, dividing the scatter by n − ddof (0: the
// maximum-likelihood estimate, 1: the unbiased one). It needs more than
// ddof rows.
func (m *Moments) MeanCov(ddof int) (mean, cov []float64, err error) {
	m.flush()
	if m.n <= ddof || m.n < 1 {
		return nil, nil, fmt.Errorf("covariance of %d rows needs more than %d", m.n, max(ddof, 0))
	}
	d := m.d
	n := float64(m.n)
	mu := make([]float64, d) // mean of the shifted rows
	for i, v := range m.sum {
		mu[i] = v / n
	}
	cov = make([]float64, d*d)
	scale := n / (n - float64(ddof))
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			// Average the two triangles: they are equal up to rounding.
			v := (0.5*(m.xtx[i*d+j]+m.xtx[j*d+i])/n - mu[i]*mu[j]) * scale
			cov[i*d+j], cov[j*d+i] = v, v
		}
	}
	mean = make([]float64, d)
	for i := range mu {
		mean[i] = mu[i] + float64(m.shift[i])
	}
	return mean, cov, nil
}
