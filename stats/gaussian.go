package stats

import (
	"errors"
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/gemm"
)

// Gaussian is a multivariate normal N(μ, Σ) held as μ and the inverse
// W = L⁻¹ of the Cholesky factor of Σ = LLᵀ, so that the squared
// Mahalanobis distance is |W(x − μ)|²: half the storage and half the work
// of the full inverse, and a batch of rows is one GEMM. W is stored as its
// lower triangle packed row by row (D(D+1)/2 values) or, for a diagonal
// covariance, as its D diagonal values.
type Gaussian struct {
	Mean []float32 // [D]
	W    []float32 // packed lower triangle of L⁻¹, or its diagonal when Diag
	Diag bool

	wmu    []float32 // W μ
	logDet float64   // log det Σ
}

// PackedLen is the number of stored factor values for dimension d.
func PackedLen(d int, diag bool) int {
	if diag {
		return d
	}
	return d * (d + 1) / 2
}

// NewGaussian fits the factor of cov + eps·I. cov is d×d row-major (only
// its lower triangle is read) or, when diag, the d variances. The inputs
// are not modified.
func NewGaussian(mean, cov []float64, eps float64, diag bool) (*Gaussian, error) {
	d := len(mean)
	g := &Gaussian{Mean: make([]float32, d), W: make([]float32, PackedLen(d, diag)), Diag: diag}
	if err := FactorInto(g.Mean, g.W, mean, cov, eps, diag, nil); err != nil {
		return nil, err
	}
	if err := g.prepare(); err != nil {
		return nil, err
	}
	return g, nil
}

// FactorInto is NewGaussian writing the float32 mean and packed factor
// into dstMean (d) and dstW (PackedLen), e.g. slices of a caller's bank of
// many Gaussians, with work as scratch (at least 2·d² values for a full
// covariance; nil or short: allocated). GaussianFromFactor then wraps them.
func FactorInto(dstMean, dstW []float32, mean, cov []float64, eps float64, diag bool, work []float64) error {
	d := len(mean)
	want := d * d
	if diag {
		want = d
	}
	if d < 1 || len(cov) != want || len(dstMean) != d || len(dstW) != PackedLen(d, diag) {
		return fmt.Errorf("gaussian: %d covariance values for dimension %d", len(cov), d)
	}
	for i, v := range mean {
		dstMean[i] = float32(v)
	}
	if diag {
		for i, v := range cov {
			s := v + eps
			if !(s > 0) || math.IsInf(s, 0) {
				return fmt.Errorf("gaussian: variance %d is %v, not positive", i, s)
			}
			dstW[i] = float32(1 / math.Sqrt(s))
		}
		return nil
	}
	work = grow(work, 2*d*d)
	a, w := work[:d*d], work[d*d:2*d*d]
	copy(a, cov)
	for i := 0; i < d; i++ {
		a[i*d+i] += eps
	}
	if err := InvCholesky(a, w, d); err != nil {
		return fmt.Errorf("gaussian: %w", err)
	}
	o := 0
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			dstW[o] = float32(w[i*d+j])
			o++
		}
	}
	return nil
}

// GaussianFromFactor wraps a stored mean and factor (not copied), checking
// the values: both finite and the factor's diagonal positive (a factor of
// a positive-definite covariance), so a corrupted model is refused.
func GaussianFromFactor(mean, w []float32, diag bool) (*Gaussian, error) {
	d := len(mean)
	if d < 1 || len(w) != PackedLen(d, diag) {
		return nil, fmt.Errorf("gaussian: %d factor values for dimension %d", len(w), d)
	}
	if i, ok := firstNonFinite(mean); !ok {
		return nil, fmt.Errorf("gaussian: mean[%d] is %v", i, mean[i])
	}
	if i, ok := firstNonFinite(w); !ok {
		return nil, fmt.Errorf("gaussian: factor value %d is %v", i, w[i])
	}
	g := &Gaussian{Mean: mean, W: w, Diag: diag}
	if err := g.prepare(); err != nil {
		return nil, err
	}
	return g, nil
}

// Dim is the dimension D.
func (g *Gaussian) Dim() int { return len(g.Mean) }

// diagAt returns W's diagonal entry i.
func (g *Gaussian) diagAt(i int) float32 {
	if g.Diag {
		return g.W[i]
	}
	return g.W[i*(i+1)/2+i]
}

// prepare checks W's diagonal and precomputes Wμ and log det Σ.
func (g *Gaussian) prepare() error {
	d := g.Dim()
	g.wmu = make([]float32, d)
	g.logDet = 0
	for i := 0; i < d; i++ {
		v := g.diagAt(i)
		if !(v > 0) {
			return fmt.Errorf("gaussian: factor diagonal %d is %v, must be positive", i, v)
		}
		// det Σ = det(W)⁻² and W is triangular.
		g.logDet -= 2 * math.Log(float64(v))
	}
	if g.Diag {
		for i := range g.wmu {
			g.wmu[i] = g.W[i] * g.Mean[i]
		}
		return nil
	}
	o := 0
	for i := 0; i < d; i++ {
		var s float64
		for j := 0; j <= i; j++ {
			s += float64(g.W[o]) * float64(g.Mean[j])
			o++
		}
		g.wmu[i] = float32(s)
	}
	return nil
}

// SqMahalanobis returns (x − μ)ᵀ Σ⁻¹ (x − μ) for one row, in float64.
func (g *Gaussian) SqMahalanobis(x []float32) float64 {
	d := g.Dim()
	x = x[:d]
	var s float64
	if g.Diag {
		for i, v := range x {
			t := float64(g.W[i]) * (float64(v) - float64(g.Mean[i]))
			s += t * t
		}
		return s
	}
	o := 0
	for i := 0; i < d; i++ {
		var t float64
		for j := 0; j <= i; j++ {
			t += float64(g.W[o]) * (float64(x[j]) - float64(g.Mean[j]))
			o++
		}
		s += t * t
	}
	return s
}

// LogDensity returns log N(x; μ, Σ) for one row.
func (g *Gaussian) LogDensity(x []float32) float64 {
	return -0.5 * (float64(g.Dim())*math.Log(2*math.Pi) + g.logDet + g.SqMahalanobis(x))
}

// LogDet returns log det Σ.
func (g *Gaussian) LogDet() float64 { return g.logDet }

// MahalanobisBatch writes into dst (n) the Mahalanobis distances
// sqrt((x − μ)ᵀΣ⁻¹(x − μ)) of n rows, row i at x[i·ldx:], and returns it.
// work is scratch (at least D² + n·D values; nil or short: allocated). It
// runs serially (one small GEMM, XWᵀ − Wμ) so callers parallelise over
// many Gaussians, each factor being read once per batch.
func (g *Gaussian) MahalanobisBatch(dst, x []float32, n, ldx int, work []float32) []float32 {
	d := g.Dim()
	dst = grow(dst, n)
	if g.Diag {
		for i := 0; i < n; i++ {
			var s float32
			for j, v := range x[i*ldx : i*ldx+d] {
				t := g.W[j]*v - g.wmu[j]
				s += t * t
			}
			dst[i] = float32(math.Sqrt(float64(s)))
		}
		return dst
	}
	work = grow(work, d*d+n*d)
	w, z := work[:d*d], work[d*d:d*d+n*d]
	o := 0
	for a := 0; a < d; a++ {
		copy(w[a*d:a*d+a+1], g.W[o:o+a+1])
		clear(w[a*d+a+1 : (a+1)*d])
		o += a + 1
	}
	gemm.SgemmSerial(false, true, n, d, d, 1, x, ldx, w, d, 0, z, d)
	for i := 0; i < n; i++ {
		var s float32
		for j, v := range z[i*d : (i+1)*d] {
			t := v - g.wmu[j]
			s += t * t
		}
		dst[i] = float32(math.Sqrt(float64(s)))
	}
	return dst
}

// InvCholesky writes into w (k×k, row-major, lower triangle; the upper
// triangle is left untouched) the inverse W = L⁻¹ of the Cholesky factor
// of the symmetric positive-definite a (only its lower triangle is read;
// a is overwritten by L).
func InvCholesky(a, w []float64, k int) error {
	for i := 0; i < k; i++ {
		for j := 0; j <= i; j++ {
			s := a[i*k+j]
			ri, rj := a[i*k:i*k+j], a[j*k:j*k+j]
			for p, v := range ri {
				s -= v * rj[p]
			}
			if i == j {
				if !(s > 0) || math.IsInf(s, 0) {
					return errors.New("covariance is not positive definite")
				}
				a[i*k+i] = math.Sqrt(s)
			} else {
				a[i*k+j] = s / a[j*k+j]
			}
		}
	}
	// Forward substitution column by column: L W = I.
	for j := 0; j < k; j++ {
		w[j*k+j] = 1 / a[j*k+j]
		for i := j + 1; i < k; i++ {
			var s float64
			for p := j; p < i; p++ {
				s -= a[i*k+p] * w[p*k+j]
			}
			w[i*k+j] = s / a[i*k+i]
		}
	}
	return nil
}
