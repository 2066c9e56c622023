package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Moments match the mean and covariance computed directly in float64, and
// merging two halves equals adding everything to one accumulator.
func TestMomentsMatchDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const n, d = 1300, 4 // more than one internal batch
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(5 + r.NormFloat64()*float64(1+i%d))
	}
	m := NewMoments(d, []float32{5, 5, 5, 5})
	m.Add(x, n)
	a, b := NewMoments(d, []float32{5, 5, 5, 5}), NewMoments(d, []float32{5, 5, 5, 5})
	a.Add(x[:700*d], 700)
	b.Add(x[700*d:], n-700)
	a.Merge(b)
	mean, cov, err := m.MeanCov(1)
	if err != nil {
		t.Fatal(err)
	}
	mean2, cov2, _ := a.MeanCov(1)
	want := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			want[j] += float64(x[i*d+j]) / n
		}
	}
	for p := 0; p < d; p++ {
		if math.Abs(mean[p]-want[p]) > 1e-6 || math.Abs(mean2[p]-mean[p]) > 1e-6 {
			t.Fatalf("mean %v / merged %v, want %v", mean, mean2, want)
		}
		for q := 0; q < d; q++ {
			var s float64
			for i := 0; i < n; i++ {
				s += (float64(x[i*d+p]) - want[p]) * (float64(x[i*d+q]) - want[q])
			}
			s /= n - 1
			if math.Abs(cov[p*d+q]-s) > 1e-4*(1+math.Abs(s)) || math.Abs(cov2[p*d+q]-cov[p*d+q]) > 1e-6*(1+math.Abs(s)) {
				t.Fatalf("cov[%d][%d] = %v (merged %v), want %v", p, q, cov[p*d+q], cov2[p*d+q], s)
			}
		}
	}
	if _, _, err := NewMoments(2, nil).MeanCov(1); err == nil {
		t.Fatal("covariance of no rows accepted")
	}
}

// PCA of a hand-made covariance: rows ±(3,4)/5·a along one direction and
// ±(−4,3)/5·b along the other recover the directions in variance order,
// with the sign convention (largest-magnitude entry positive).
func TestPCAHandComputed(t *testing.T) {
	u := [2]float32{0.6, 0.8}
	v := [2]float32{-0.8, 0.6}
	var x []float32
	for _, s := range []float32{3, -3} {
		x = append(x, 1+s*u[0], 2+s*u[1])
	}
	for _, s := range []float32{1, -1} {
		x = append(x, 1+s*v[0], 2+s*v[1])
	}
	m := NewMoments(2, nil)
	m.Add(x, 4)
	p, err := FitPCA(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.6, 0.8, 0.8, -0.6} // second flipped: |−0.8| is largest
	for i, w := range want {
		if math.Abs(float64(p.Components[i]-w)) > 1e-6 {
			t.Fatalf("components %v, want %v", p.Components, want)
		}
	}
	// Variances (n−1 = 3): 2·9/3 = 6 and 2·1/3.
	if math.Abs(p.Variances[0]-6) > 1e-5 || math.Abs(p.Variances[1]-2.0/3) > 1e-5 {
		t.Fatalf("variances %v, want [6 0.667]", p.Variances)
	}
	if p.Mean[0] != 1 || p.Mean[1] != 2 {
		t.Fatalf("mean %v, want [1 2]", p.Mean)
	}
	z := p.Transform(nil, x, 4)
	wantZ := []float32{3, 0, -3, 0, 0, -1, 0, 1}
	for i := range z {
		if math.Abs(float64(z[i]-wantZ[i])) > 1e-5 {
			t.Fatalf("coordinates %v, want %v", z, wantZ)
		}
	}
	// Full rank: the inverse transform reconstructs the rows.
	back := p.InverseTransform(nil, z, 4)
	for i := range back {
		if math.Abs(float64(back[i]-x[i])) > 1e-5 {
			t.Fatalf("reconstruction %v, want %v", back, x)
		}
	}
}

// On random data Transform equals centred dot products computed directly,
// InverseTransform∘Transform equals mean + projection, and Residual is the
// difference.
func TestPCATransformRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const n, d, k = 600, 7, 3
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(r.NormFloat64() * float64(1+i%d))
	}
	m := NewMoments(d, nil)
	m.Add(x, n)
	p, err := FitPCA(m, k)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			var s float64
			for a := 0; a < d; a++ {
				s += float64(p.Components[i*d+a]) * float64(p.Components[j*d+a])
			}
			if want := map[bool]float64{true: 1, false: 0}[i == j]; math.Abs(s-want) > 1e-5 {
				t.Fatalf("components not orthonormal: <%d,%d> = %v", i, j, s)
			}
		}
	}
	z := p.Transform(nil, x, n)
	rec := p.InverseTransform(nil, z, n)
	res := make([]float32, n*d)
	for i := range res {
		res[i] = x[i] - p.Mean[i%d]
	}
	p.Residual(res, make([]float32, n*k), n)
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			var s float64
			for a := 0; a < d; a++ {
				s += float64(p.Components[j*d+a]) * float64(x[i*d+a]-p.Mean[a])
			}
			if math.Abs(float64(z[i*k+j])-s) > 1e-4*(1+math.Abs(s)) {
				t.Fatalf("row %d coordinate %d: %v, want %v", i, j, z[i*k+j], s)
			}
		}
		for a := 0; a < d; a++ {
			if got := rec[i*d+a] + res[i*d+a]; math.Abs(float64(got-x[i*d+a])) > 1e-4*(1+math.Abs(float64(x[i*d+a]))) {
				t.Fatalf("row %d: reconstruction + residual = %v, want %v", i, got, x[i*d+a])
			}
		}
	}
	if _, err := FitPCA(m, d+1); err == nil {
		t.Fatal("more components than dimensions accepted")
	}
}

func TestNewPCARefusesBadValues(t *testing.T) {
	if _, err := NewPCA([]float32{0, 0}, []float32{0.6, 0.8}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPCA([]float32{float32(math.NaN()), 0}, []float32{0.6, 0.8}, 1); err == nil {
		t.Fatal("NaN mean accepted")
	}
	if _, err := NewPCA([]float32{0, 0}, []float32{3, 4}, 1); err == nil {
		t.Fatal("component of length 5 accepted")
	}
	if _, err := NewPCA([]float32{0, 0}, []float32{float32(math.Inf(1)), 0}, 1); err == nil {
		t.Fatal("infinite component accepted")
	}
}
