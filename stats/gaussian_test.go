package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// InvCholesky: W = L⁻¹ for A = [[4,2],[2,3]]: L = [[2,0],[1,√2]],
// W = [[1/2,0],[-1/(2√2),1/√2]], and WᵀW = A⁻¹ = 1/8 [[3,-2],[-2,4]].
func TestInvCholesky(t *testing.T) {
	a := []float64{4, 0, 2, 3} // upper triangle must not be read
	w := make([]float64, 4)
	if err := InvCholesky(a, w, 2); err != nil {
		t.Fatal(err)
	}
	want := []float64{0.5, 0, -1 / (2 * math.Sqrt2), 1 / math.Sqrt2}
	for i := range w {
		if math.Abs(w[i]-want[i]) > 1e-12 {
			t.Fatalf("W = %v, want %v", w, want)
		}
	}
	if err := InvCholesky([]float64{1, 2, 2, 1}, w, 2); err == nil {
		t.Fatal("indefinite matrix accepted")
	}
}

// invert inverts a k×k matrix by Gauss-Jordan elimination with partial
// pivoting, independently of the Cholesky path.
func invert(a0 []float64, k int) []float64 {
	a := append([]float64(nil), a0...)
	inv := make([]float64, k*k)
	for i := 0; i < k; i++ {
		inv[i*k+i] = 1
	}
	for c := 0; c < k; c++ {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r*k+c]) > math.Abs(a[p*k+c]) {
				p = r
			}
		}
		for j := 0; j < k; j++ {
			a[c*k+j], a[p*k+j] = a[p*k+j], a[c*k+j]
			inv[c*k+j], inv[p*k+j] = inv[p*k+j], inv[c*k+j]
		}
		f := a[c*k+c]
		for j := 0; j < k; j++ {
			a[c*k+j] /= f
			inv[c*k+j] /= f
		}
		for r := 0; r < k; r++ {
			if r == c {
				continue
			}
			f := a[r*k+c]
			for j := 0; j < k; j++ {
				a[r*k+j] -= f * a[c*k+j]
				inv[r*k+j] -= f * inv[c*k+j]
			}
		}
	}
	return inv
}

// det is the determinant by Laplace expansion (small k only).
func det(a []float64, k int) float64 {
	if k == 1 {
		return a[0]
	}
	var s float64
	for c := 0; c < k; c++ {
		minor := make([]float64, 0, (k-1)*(k-1))
		for r := 1; r < k; r++ {
			for j := 0; j < k; j++ {
				if j != c {
					minor = append(minor, a[r*k+j])
				}
			}
		}
		s += math.Pow(-1, float64(c)) * a[c] * det(minor, k-1)
	}
	return s
}

// Mahalanobis distances (batched GEMM and single-row float64) and the log
// density equal the formulas with a brute-force inverse and determinant of
// Σ + eps·I.
func TestGaussianMatchesBruteForce(t *testing.T) {
	const k, n, eps = 5, 6, 0.1
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]float64, k*k)
	for i := range b {
		b[i] = r.NormFloat64()
	}
	cov := make([]float64, k*k)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			for p := 0; p < k; p++ {
				cov[i*k+j] += b[i*k+p] * b[j*k+p]
			}
		}
	}
	mean := make([]float64, k)
	for i := range mean {
		mean[i] = r.NormFloat64()
	}
	g, err := NewGaussian(mean, cov, eps, false)
	if err != nil {
		t.Fatal(err)
	}
	reg := append([]float64(nil), cov...)
	for i := 0; i < k; i++ {
		reg[i*k+i] += eps
	}
	inv := invert(reg, k)
	logDet := math.Log(det(reg, k))
	// Rows with a stride wider than k, as a feature grid gives them.
	const ld = k + 3
	x := make([]float32, n*ld)
	for i := range x {
		x[i] = float32(2 * r.NormFloat64())
	}
	got := g.MahalanobisBatch(nil, x, n, ld, nil)
	for i := 0; i < n; i++ {
		diff := make([]float64, k)
		for j := range diff {
			diff[j] = float64(x[i*ld+j]) - float64(float32(mean[j]))
		}
		var m2 float64
		for p := 0; p < k; p++ {
			for q := 0; q < k; q++ {
				m2 += diff[p] * inv[p*k+q] * diff[q]
			}
		}
		if want := math.Sqrt(m2); math.Abs(float64(got[i])-want) > 1e-4*max(1, want) {
			t.Fatalf("row %d: batch distance %v, want %v", i, got[i], want)
		}
		if s := g.SqMahalanobis(x[i*ld : i*ld+k]); math.Abs(s-m2) > 1e-4*max(1, m2) {
			t.Fatalf("row %d: squared distance %v, want %v", i, s, m2)
		}
		want := -0.5 * (k*math.Log(2*math.Pi) + logDet + m2)
		if ld := g.LogDensity(x[i*ld : i*ld+k]); math.Abs(ld-want) > 1e-4*max(1, math.Abs(want)) {
			t.Fatalf("row %d: log density %v, want %v", i, ld, want)
		}
	}
	// The stored factor restores to the same distances.
	g2, err := GaussianFromFactor(g.Mean, g.W, false)
	if err != nil {
		t.Fatal(err)
	}
	got2 := g2.MahalanobisBatch(nil, x, n, ld, make([]float32, k*k+n*k))
	for i := range got {
		if got[i] != got2[i] {
			t.Fatalf("row %d: %v after restore, %v before", i, got2[i], got[i])
		}
	}
}

// A diagonal Gaussian: distances and log density by hand.
func TestDiagonalGaussianHandComputed(t *testing.T) {
	g, err := NewGaussian([]float64{1, -1}, []float64{4, 0.25}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{3, 0} // ((3−1)/2)² + ((0+1)/0.5)² = 1 + 4
	if s := g.SqMahalanobis(x); math.Abs(s-5) > 1e-12 {
		t.Fatalf("squared distance %v, want 5", s)
	}
	if d := g.MahalanobisBatch(nil, x, 1, 2, nil); math.Abs(float64(d[0])-math.Sqrt(5)) > 1e-6 {
		t.Fatalf("distance %v, want √5", d[0])
	}
	want := -math.Log(2*math.Pi) - 0.5*math.Log(4*0.25) - 2.5
	if ld := g.LogDensity(x); math.Abs(ld-want) > 1e-12 {
		t.Fatalf("log density %v, want %v", ld, want)
	}
}

func TestGaussianFromFactorRefusesBadValues(t *testing.T) {
	mean := []float32{0, 0}
	for name, w := range map[string][]float32{
		"zero diagonal":     {1, 0.5, 0},
		"negative diagonal": {-1, 0, 1},
		"NaN":               {1, float32(math.NaN()), 1},
		"infinite":          {1, 0, float32(math.Inf(1))},
	} {
		if _, err := GaussianFromFactor(mean, w, false); err == nil {
			t.Errorf("%s factor accepted", name)
		}
	}
	if _, err := GaussianFromFactor([]float32{float32(math.Inf(-1)), 0}, []float32{1, 0, 1}, false); err == nil {
		t.Error("infinite mean accepted")
	}
	if _, err := GaussianFromFactor(mean, []float32{1, 0}, false); err == nil {
		t.Error("short factor accepted")
	}
}
