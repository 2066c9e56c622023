package aegmm

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
)

const smallConfig = `{"size":0,"width":8,"depth":0,"stride":4,"loss":"l2","smooth":1,"latent":8,"components":4,
	"train":{"epochs":4,"steps_per_epoch":25,"patch":32,"batch_size":8,"lr":0.003,"val_fraction":0}}`

// TestContract runs the shared detector checks: planted defects above
// every normal image with the map peak in the square, maps at odd input
// sizes, identical scores after save/load and after a refit with one seed.
func TestContract(t *testing.T) {
	detectortest.Run(t, Name, smallConfig, detectortest.Options{})
}

func fitted(t *testing.T) *Detector {
	t.Helper()
	d, err := New(json.RawMessage(smallConfig))
	if err != nil {
		t.Fatal(err)
	}
	var imgs []*imageio.Image
	for i := 0; i < 6; i++ {
		imgs = append(imgs, detectortest.Texture(uint64(i), 32, 32))
	}
	if err := d.Fit(context.Background(), imgs); err != nil {
		t.Fatal(err)
	}
	return d
}

// The score of every location is −log Σ_k π_k N(z; μ_k, Σ_k) of its code,
// here recomputed by brute force: each Σ_k rebuilt from the stored factor
// W (Σ = (WᵀW)⁻¹), inverted and its determinant taken by Gauss-Jordan
// elimination in float64, the density summed directly.
func TestNLLMatchesBruteForceMixture(t *testing.T) {
	d := fitted(t)
	work, err := d.ae.Work(detectortest.Texture(99, 20, 27), 0)
	if err != nil {
		t.Fatal(err)
	}
	nll, hc, wc := d.NLLGrid(work)
	if hc != 5 || wc != 7 {
		t.Fatalf("grid %dx%d, want 5x7 (ceil of 20x27 / 4)", hc, wc)
	}
	rows, _, _ := d.codes(work)
	z := d.ae.Codes(d.ae.Padded(work))
	l := d.cfg.Latent
	// codes() reads the code tensor right: location (y,x) channel c.
	if off := d.ae.Margin() / d.cfg.Stride; rows[(2*wc+3)*l+1] != z.Data[(1*z.Shape[2]+2+off)*z.Shape[3]+3+off] {
		t.Fatal("code rows do not match the code tensor")
	}
	type comp struct {
		inv        [][]float64
		logDet, pi float64
		mu         []float64
	}
	var comps []comp
	for k, g := range d.gmm.Components {
		// W lower triangular, packed row by row.
		W := make([][]float64, l)
		o := 0
		for i := range W {
			W[i] = make([]float64, l)
			for j := 0; j <= i; j++ {
				W[i][j] = float64(g.W[o])
				o++
			}
		}
		// Σ⁻¹ = WᵀW; Σ = its inverse.
		prec := make([][]float64, l)
		for i := range prec {
			prec[i] = make([]float64, l)
			for j := range prec[i] {
				for r := 0; r < l; r++ {
					prec[i][j] += W[r][i] * W[r][j]
				}
			}
		}
		sigma, _ := gaussJordan(prec)
		inv, det := gaussJordan(sigma)
		mu := make([]float64, l)
		for i := range mu {
			mu[i] = float64(g.Mean[i])
		}
		comps = append(comps, comp{inv: inv, logDet: math.Log(det), pi: d.gmm.Weights[k], mu: mu})
	}
	for p := 0; p < hc*wc; p++ {
		x := rows[p*l : (p+1)*l]
		var dens float64
		for _, c := range comps {
			var m2 float64
			for i := 0; i < l; i++ {
				for j := 0; j < l; j++ {
					m2 += (float64(x[i]) - c.mu[i]) * c.inv[i][j] * (float64(x[j]) - c.mu[j])
				}
			}
			dens += c.pi * math.Exp(-0.5*m2-0.5*c.logDet-0.5*float64(l)*math.Log(2*math.Pi))
		}
		if want := -math.Log(dens); math.Abs(nll[p]-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Fatalf("location %d: NLL %v, brute force %v", p, nll[p], want)
		}
	}
}

// gaussJordan returns the inverse and determinant of a by Gauss-Jordan
// elimination with partial pivoting.
func gaussJordan(a [][]float64) ([][]float64, float64) {
	n := len(a)
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, 2*n)
		copy(m[i], a[i])
		m[i][n+i] = 1
	}
	det := 1.0
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if p != c {
			m[p], m[c] = m[c], m[p]
			det = -det
		}
		piv := m[c][c]
		det *= piv
		for j := range m[c] {
			m[c][j] /= piv
		}
		for r := 0; r < n; r++ {
			if r != c {
				f := m[r][c]
				for j := range m[r] {
					m[r][j] -= f * m[c][j]
				}
			}
		}
	}
	inv := make([][]float64, n)
	for i := range inv {
		inv[i] = m[i][n:]
	}
	return inv, det
}

// Restore refuses bad mixture tensors by name.
func TestRestoreNamesBadTensor(t *testing.T) {
	d := fitted(t)
	cfg, _ := json.Marshal(d.Config())
	good := map[string]safetensors.Tensor{}
	for _, ts := range d.Tensors() {
		good[ts.Name] = ts
	}
	if err := new(Detector).Restore(cfg, good); err != nil {
		t.Fatalf("restore of a good model: %v", err)
	}
	k := d.cfg.Components
	l := d.cfg.Latent
	bad := func(name string, shape []int, v []float32) map[string]safetensors.Tensor {
		m := maps.Clone(good)
		m[name] = safetensors.F32(name, shape, v)
		return m
	}
	zeroW := make([]float32, k)
	zeroW[0] = 1
	halfW := make([]float32, k)
	halfW[0] = 0.5
	for i := 1; i < k; i++ {
		halfW[i] = 0.1
	}
	negDiag := make([]float32, k*l*(l+1)/2)
	for what, c := range map[string]struct {
		ts   map[string]safetensors.Tensor
		name string
	}{
		"missing means":       {func() map[string]safetensors.Tensor { m := maps.Clone(good); delete(m, "gmm.means"); return m }(), "gmm.means"},
		"zero weight":         {bad("gmm.weights", []int{k}, zeroW), "gmm.weights"},
		"weights not summing": {bad("gmm.weights", []int{k}, halfW), "gmm.weights"},
		"singular factor":     {bad("gmm.factors", []int{k, l * (l + 1) / 2}, negDiag), "gmm.factors"},
		"misshapen means":     {bad("gmm.means", []int{k + 1, l}, make([]float32, (k+1)*l)), "gmm.means"},
		"missing ae weight":   {func() map[string]safetensors.Tensor { m := maps.Clone(good); delete(m, "ae.enc.0.weight"); return m }(), "ae.enc.0.weight"},
	} {
		if err := new(Detector).Restore(cfg, c.ts); err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: error %v, want one naming %s", what, err, c.name)
		}
	}
}

// A pooled code is the mean of the codes in the window, clipped at the
// grid's edges (checked at a corner and inside against the unpooled codes).
func TestPooledCodes(t *testing.T) {
	d := fitted(t)
	work, _ := d.ae.Work(detectortest.Texture(5, 24, 28), 0)
	raw, hc, wc := d.codes(work)
	d.cfg.Pool = 3
	pooled, _, _ := d.codes(work)
	l := d.cfg.Latent
	at := func(rows []float32, y, x, c int) float64 { return float64(rows[(y*wc+x)*l+c]) }
	for _, p := range [][2]int{{0, 0}, {2, 3}, {hc - 1, wc - 1}} {
		for c := 0; c < l; c++ {
			var s float64
			n := 0
			for y := max(0, p[0]-1); y <= min(hc-1, p[0]+1); y++ {
				for x := max(0, p[1]-1); x <= min(wc-1, p[1]+1); x++ {
					s += at(raw, y, x, c)
					n++
				}
			}
			if got := at(pooled, p[0], p[1], c); math.Abs(got-s/float64(n)) > 1e-5 {
				t.Fatalf("pooled code at %v channel %d: %v, want %v", p, c, got, s/float64(n))
			}
		}
	}
}

func TestConfigErrorsNameField(t *testing.T) {
	for raw, field := range map[string]string{
		`{"components":0}`:                  "components",
		`{"reg":0}`:                         "reg",
		`{"pool":2}`:                        "pool",
		`{"iters":0}`:                       "iters",
		`{"tol":-1}`:                        "tol",
		`{"max_codes":1,"components":2}`:    "max_codes",
		`{"stride":5,"train":{"patch":20}}`: "aegmm config: fcae: stride 5",
		`{"loss":"ssim+l4"}`:                `"l4"`,
	} {
		_, err := New(json.RawMessage(raw))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v, want one naming %s", raw, err, field)
		}
	}
	if _, err := detector.New(Name, nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
