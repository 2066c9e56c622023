package padim

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
)

func TestContract(t *testing.T) {
	detectortest.Run(t, "padim", `{"backbone":"random:1","size":64,"dim":40,"seed":3}`, detectortest.Options{Progress: true})
}

func TestHalfPrecisionRoundTrip(t *testing.T) {
	detectortest.Run(t, "padim", `{"backbone":"random:1","size":64,"dim":24,"seed":4,"half":true}`, detectortest.Options{NTrain: 16})
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
		mu := make([]float64, k)
		for j := range mu {
			mu[j] = r.NormFloat64()
		}
		g, err := stats.NewGaussian(mu, cov, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		copy(d.chol[l*tri:(l+1)*tri], g.W)
		copy(d.mean[l*k:(l+1)*k], g.Mean)
	}
	if err := d.prepare(); err != nil {
		t.Fatal(err)
	}
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

// A crafted model whose values (not shapes) are bad is refused with an
// error naming the tensor, before Score could index with them; the
// untouched model restores.
func TestRestoreRefusesCraftedValues(t *testing.T) {
	const cfg = `{"backbone":"random:1","size":64,"dim":2}`
	good := func() map[string][]float32 {
		return map[string][]float32{
			"channels": {1, 4},
			"grid":     {1, 2},
			"mean":     {0, 1, 2, 3},
			"chol_inv": {1, 0.5, 2, 1, 0, 1}, // per location: W = [[w00,0],[w10,w11]]
		}
	}
	shapes := map[string][]int{"channels": {2}, "grid": {2}, "mean": {2, 2}, "chol_inv": {2, 3}}
	restore := func(v map[string][]float32) error {
		ts := map[string]safetensors.Tensor{}
		for name, x := range v {
			ts[name] = safetensors.F32(name, shapes[name], x)
		}
		return new(Detector).Restore(json.RawMessage(cfg), ts)
	}
	if err := restore(good()); err != nil {
		t.Fatalf("good model refused: %v", err)
	}
	for _, c := range []struct {
		why, name string
		edit      func(v map[string][]float32)
	}{
		{"negative channel", "channels", func(v map[string][]float32) { v["channels"][0] = -3 }},
		{"decreasing channels", "channels", func(v map[string][]float32) { v["channels"] = []float32{4, 1} }},
		{"repeated channel", "channels", func(v map[string][]float32) { v["channels"] = []float32{4, 4} }},
		{"fractional channel", "channels", func(v map[string][]float32) { v["channels"][1] = 4.5 }},
		{"NaN channel", "channels", func(v map[string][]float32) { v["channels"][1] = float32(math.NaN()) }},
		{"zero grid", "grid", func(v map[string][]float32) { v["grid"][0] = 0 }},
		{"NaN mean", "mean", func(v map[string][]float32) { v["mean"][3] = float32(math.NaN()) }},
		{"infinite factor", "chol_inv", func(v map[string][]float32) { v["chol_inv"][1] = float32(math.Inf(-1)) }},
		{"zero factor diagonal", "chol_inv", func(v map[string][]float32) { v["chol_inv"][5] = 0 }},
		{"negative factor diagonal", "chol_inv", func(v map[string][]float32) { v["chol_inv"][0] = -1 }},
	} {
		v := good()
		c.edit(v)
		if err := restore(v); err == nil || !strings.Contains(err.Error(), `"`+c.name+`"`) {
			t.Errorf("%s: err %v, want one naming %q", c.why, err, c.name)
		}
	}
}
