package padim

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
)

func TestContract(t *testing.T) {
	detectortest.Run(t, "padim", `{"backbone":"random:1","size":64,"dim":40,"seed":3}`, detectortest.Options{Progress: true})
}

func TestHalfPrecisionRoundTrip(t *testing.T) {
	detectortest.Run(t, "padim", `{"backbone":"random:1","size":64,"dim":24,"seed":4,"half":true}`, detectortest.Options{NTrain: 16})
}

// invCholesky: W = L⁻¹ for A = [[4,2],[2,3]]: L = [[2,0],[1,√2]],
// W = [[1/2,0],[-1/(2√2),1/√2]], and WᵀW = A⁻¹ = 1/8 [[3,-2],[-2,4]].
func TestInvCholesky(t *testing.T) {
	a := []float64{4, 0, 2, 3} // upper triangle must not be read
	w := make([]float64, 4)
	if err := invCholesky(a, w, 2); err != nil {
		t.Fatal(err)
	}
	want := []float64{0.5, 0, -1 / (2 * math.Sqrt2), 1 / math.Sqrt2}
	for i := range w {
		if math.Abs(w[i]-want[i]) > 1e-12 {
			t.Fatalf("W = %v, want %v", w, want)
		}
	}
	inv := []float64{3.0 / 8, -2.0 / 8, -2.0 / 8, 4.0 / 8}
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			s := w[0*2+i]*w[0*2+j] + w[1*2+i]*w[1*2+j]
			if math.Abs(s-inv[i*2+j]) > 1e-12 {
				t.Fatalf("WᵀW[%d][%d] = %v, want %v", i, j, s, inv[i*2+j])
			}
		}
	}
	if err := invCholesky([]float64{1, 2, 2, 1}, w, 2); err == nil {
		t.Fatal("indefinite matrix accepted")
	}
}

// The batched GEMM Mahalanobis equals sqrt((x−μ)ᵀ Σ⁻¹ (x−μ)) computed
// directly in float64 with an independently inverted covariance.
func TestMahalanobisMatchesDirect(t *testing.T) {
	const k, L, n = 7, 5, 3
	r := rand.New(rand.NewPCG(1, 2))
	d := &Detector{channels: make([]int, k), h: 1, w: L}
	tri := k * (k + 1) / 2
	d.mean = make([]float32, L*k)
	d.chol = make([]float32, L*tri)
	covs := make([][]float64, L)
	for l := 0; l < L; l++ {
		// Σ = B Bᵀ + I, a random SPD matrix.
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
			cov[i*k+i]++
		}
		covs[l] = append([]float64(nil), cov...)
		w := make([]float64, k*k)
		if err := invCholesky(cov, w, k); err != nil {
			t.Fatal(err)
		}
		packLower(d.chol[l*tri:(l+1)*tri], w, k)
		for j := 0; j < k; j++ {
			d.mean[l*k+j] = float32(r.NormFloat64())
		}
	}
	d.prepare()
	rows := make([]float32, n*L*k)
	for i := range rows {
		rows[i] = float32(2 * r.NormFloat64())
	}
	got := d.mahalanobis(rows, n)
	for i := 0; i < n; i++ {
		for l := 0; l < L; l++ {
			diff := make([]float64, k)
			for j := range diff {
				diff[j] = float64(rows[(i*L+l)*k+j] - d.mean[l*k+j])
			}
			// Solve Σ y = diff by Gauss-Jordan; distance² = diffᵀ y.
			y := solve(covs[l], diff, k)
			var s float64
			for j := range y {
				s += diff[j] * y[j]
			}
			want := math.Sqrt(s)
			if math.Abs(float64(got[i*L+l])-want) > 1e-3*max(1, want) {
				t.Fatalf("image %d location %d: %v, want %v", i, l, got[i*L+l], want)
			}
		}
	}
}

// solve solves the k×k system a x = b by Gaussian elimination with partial
// pivoting (a and b are copied).
func solve(a0, b0 []float64, k int) []float64 {
	a := append([]float64(nil), a0...)
	b := append([]float64(nil), b0...)
	for c := 0; c < k; c++ {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r*k+c]) > math.Abs(a[p*k+c]) {
				p = r
			}
		}
		for j := 0; j < k; j++ {
			a[c*k+j], a[p*k+j] = a[p*k+j], a[c*k+j]
		}
		b[c], b[p] = b[p], b[c]
		for r := 0; r < k; r++ {
			if r == c {
				continue
			}
			f := a[r*k+c] / a[c*k+c]
			for j := c; j < k; j++ {
				a[r*k+j] -= f * a[c*k+j]
			}
			b[r] -= f * b[c]
		}
	}
	for i := range b {
		b[i] /= a[i*k+i]
	}
	return b
}

func TestConfigRefusesUnknownField(t *testing.T) {
	if _, err := New([]byte(`{"dimm":3}`)); err == nil {
		t.Fatal("misspelt field accepted")
	}
	if _, err := New([]byte(`{"size":100}`)); err == nil {
		t.Fatal("size not a multiple of 32 accepted")
	}
}

// Fit's streamed moments give, at every location, the mean and a factor
// W with WᵀW = (Σ + eps·I)⁻¹ of the features computed directly.
func TestFitMatchesDirectGaussian(t *testing.T) {
	d, err := New([]byte(`{"backbone":"random:3","size":32,"dim":6,"eps":0.5,"seed":2,"batch":3}`))
	if err != nil {
		t.Fatal(err)
	}
	var train []*imageio.Image
	for i := 0; i < 7; i++ {
		train = append(train, detectortest.Texture(uint64(i), 40, 48))
	}
	if err := d.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	ex, _ := d.Extractor(d.cfg.Source)
	x, err := d.cfg.Geometry.Batch(train)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ex.Features(x)
	if err != nil {
		t.Fatal(err)
	}
	feat, err := d.features(ex, f)
	if err != nil {
		t.Fatal(err)
	}
	n, k, L := len(train), len(d.channels), d.h*d.w
	tri := k * (k + 1) / 2
	for l := 0; l < L; l++ {
		mu := make([]float64, k)
		for i := 0; i < n; i++ {
			for j := 0; j < k; j++ {
				mu[j] += float64(feat.Data[(i*k+j)*L+l]) / float64(n)
			}
		}
		cov := make([]float64, k*k)
		for a := 0; a < k; a++ {
			if math.Abs(mu[a]-float64(d.mean[l*k+a])) > 1e-5*(1+math.Abs(mu[a])) {
				t.Fatalf("location %d mean[%d] = %v, want %v", l, a, d.mean[l*k+a], mu[a])
			}
			for b := 0; b < k; b++ {
				for i := 0; i < n; i++ {
					cov[a*k+b] += (float64(feat.Data[(i*k+a)*L+l]) - mu[a]) * (float64(feat.Data[(i*k+b)*L+l]) - mu[b]) / float64(n-1)
				}
			}
			cov[a*k+a] += 0.5
		}
		// Unpack W and compare WᵀW e_b with Σ⁻¹ e_b for every b.
		w := make([]float64, k*k)
		o := 0
		for a := 0; a < k; a++ {
			for b := 0; b <= a; b++ {
				w[a*k+b] = float64(d.chol[l*tri+o])
				o++
			}
		}
		for b := 0; b < k; b++ {
			e := make([]float64, k)
			e[b] = 1
			want := solve(cov, e, k)
			for a := 0; a < k; a++ {
				var s float64
				for p := 0; p < k; p++ {
					s += w[p*k+a] * w[p*k+b]
				}
				if math.Abs(s-want[a]) > 1e-3*(1+math.Abs(want[a])) {
					t.Fatalf("location %d: (WᵀW)[%d][%d] = %v, want %v", l, a, b, s, want[a])
				}
			}
		}
	}
}
