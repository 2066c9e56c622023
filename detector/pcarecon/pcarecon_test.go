package pcarecon

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
)

// stripes makes a c×h×w texture of diagonal sinusoid stripes with a
// random phase plus a little noise: every normal image differs, but all
// share the same local structure.
func stripes(rng *rand.Rand, c, h, w int) *imageio.Image {
	img := imageio.New(c, h, w)
	phase := rng.Float64() * 2 * math.Pi
	for ch := 0; ch < c; ch++ {
		amp := 0.25 + 0.05*float64(ch)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := 0.5 + amp*math.Sin(2*math.Pi*float64(x+y)/8+phase) + 0.02*rng.NormFloat64()
				img.Set(ch, y, x, float32(v))
			}
		}
	}
	return img
}

// plant paints a bright square of side s at (y0, x0) in every channel.
func plant(img *imageio.Image, y0, x0, s int) {
	for ch := 0; ch < img.C; ch++ {
		for y := y0; y < y0+s; y++ {
			for x := x0; x < x0+s; x++ {
				img.Set(ch, y, x, 1)
			}
		}
	}
}

func trainSet(seed uint64, n, c, h, w int) []*imageio.Image {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]*imageio.Image, n)
	for i := range out {
		out[i] = stripes(rng, c, h, w)
	}
	return out
}

func fitted(t *testing.T, cfg string, train []*imageio.Image) *Detector {
	t.Helper()
	d, err := New(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	return d
}

func argmax(m *imageio.Map) (int, int) {
	best := 0
	for i, v := range m.Pix {
		if v > m.Pix[best] {
			best = i
		}
	}
	return best / m.W, best % m.W
}

func TestPlantedDefectScoresHigherAndIsLocalised(t *testing.T) {
	for _, cfg := range []string{
		`{"size":64,"components":8}`,
		`{"size":64,"components":8,"scales":[1,2],"score":"topk","top_k":0.02}`,
		`{"size":0,"gray":true,"components":6,"patch":6,"stride":3}`,
	} {
		t.Run(cfg, func(t *testing.T) {
			// Non-square inputs: the detector squashes them to 64×64 and
			// must map the result back.
			d := fitted(t, cfg, trainSet(1, 12, 3, 72, 88))
			test := trainSet(2, 5, 3, 72, 88)
			bad := test[4].Clone()
			const y0, x0, s = 30, 50, 10
			plant(bad, y0, x0, s)
			res, err := d.Score(context.Background(), append(test[:4], bad))
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res[:4] {
				if r.Score >= res[4].Score {
					t.Errorf("normal image %d scores %g >= defect %g", i, r.Score, res[4].Score)
				}
			}
			m := res[4].Map
			if m.H != 72 || m.W != 88 {
				t.Fatalf("map is %dx%d, want 88x72", m.W, m.H)
			}
			y, x := argmax(m)
			if y < y0 || y >= y0+s || x < x0 || x >= x0+s {
				t.Errorf("map argmax (%d,%d) outside the planted square [%d,%d)x[%d,%d)", y, x, y0, y0+s, x0, x0+s)
			}
		})
	}
}

// TestPCASpanIsExact: vectors drawn from a k-dimensional affine subspace
// are reconstructed exactly; a vector off the subspace leaves exactly its
// orthogonal part.
func TestPCASpanIsExact(t *testing.T) {
	const dim, k, n = 12, 3, 500
	rng := rand.New(rand.NewPCG(7, 7))
	// Orthonormal basis of the subspace (Gram-Schmidt) and an offset.
	basis := make([][]float64, k+1)
	for i := range basis {
		v := make([]float64, dim)
		for j := range v {
			v[j] = rng.NormFloat64()
		}
		for _, b := range basis[:i] {
			dot := 0.0
			for j := range v {
				dot += v[j] * b[j]
			}
			for j := range v {
				v[j] -= dot * b[j]
			}
		}
		nv := 0.0
		for _, x := range v {
			nv += x * x
		}
		for j := range v {
			v[j] /= math.Sqrt(nv)
		}
		basis[i] = v
	}
	offset := make([]float64, dim)
	for j := range offset {
		offset[j] = rng.Float64()
	}
	point := func(ortho float64) []float64 {
		x := append([]float64(nil), offset...)
		for _, b := range basis[:k] {
			a := rng.NormFloat64() * 0.3
			for j := range x {
				x[j] += a * b[j]
			}
		}
		for j := range x {
			x[j] += ortho * basis[k][j]
		}
		return x
	}
	m := stats.NewMoments(dim, nil)
	for i := 0; i < n; i++ {
		r := m.Row()
		for j, v := range point(0) {
			r[j] = float32(v)
		}
	}
	p, err := stats.FitPCA(m, k)
	if err != nil {
		t.Fatal(err)
	}
	// Components are orthonormal.
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			dot := 0.0
			for j := 0; j < dim; j++ {
				dot += float64(p.Components[a*dim+j]) * float64(p.Components[b*dim+j])
			}
			want := 0.0
			if a == b {
				want = 1
			}
			if math.Abs(dot-want) > 1e-5 {
				t.Fatalf("components %d·%d = %g, want %g", a, b, dot, want)
			}
		}
	}
	for _, ortho := range []float64{0, 0.5} {
		x := point(ortho)
		row := make([]float32, dim)
		for j := range row {
			row[j] = float32(x[j]) - p.Mean[j]
		}
		p.Residual(row, make([]float32, k), 1)
		r := 0.0
		for _, v := range row {
			r += float64(v) * float64(v)
		}
		if want := ortho * ortho; math.Abs(r-want) > 1e-5 {
			t.Errorf("orthogonal offset %g: squared residual %g, want %g", ortho, r, want)
		}
	}
}

// TestResidualMapMatchesBruteForce compares the batched GEMM path with a
// direct float64 computation of the overlapping-patch average.
func TestResidualMapMatchesBruteForce(t *testing.T) {
	d := fitted(t, `{"size":0,"patch":5,"stride":3,"components":4,"smooth":0}`, trainSet(3, 4, 3, 23, 19))
	img := trainSet(4, 1, 3, 23, 19)[0]
	plant(img, 3, 4, 5)
	got := d.residualMap(&workspace{}, d.scales[0].pca, img)
	p := d.scales[0].pca
	ps := 5
	sum := make([]float64, 23*19)
	cnt := make([]float64, 23*19)
	for _, py := range positions(23, ps, 3) {
		for _, px := range positions(19, ps, 3) {
			x := make([]float64, p.Dim())
			for c := 0; c < 3; c++ {
				for dy := 0; dy < ps; dy++ {
					for dx := 0; dx < ps; dx++ {
						j := c*ps*ps + dy*ps + dx
						x[j] = float64(img.At(c, py+dy, px+dx)) - float64(p.Mean[j])
					}
				}
			}
			r := append([]float64(nil), x...)
			for a := 0; a < p.K(); a++ {
				z := 0.0
				for j := range x {
					z += x[j] * float64(p.Components[a*p.Dim()+j])
				}
				for j := range r {
					r[j] -= z * float64(p.Components[a*p.Dim()+j])
				}
			}
			for dy := 0; dy < ps; dy++ {
				for dx := 0; dx < ps; dx++ {
					o := (py+dy)*19 + px + dx
					for c := 0; c < 3; c++ {
						v := r[c*ps*ps+dy*ps+dx]
						sum[o] += v * v
					}
					cnt[o]++
				}
			}
		}
	}
	for i := range sum {
		want := sum[i] / cnt[i]
		if math.Abs(float64(got.Pix[i])-want) > 1e-4*(1+want) {
			t.Fatalf("pixel %d: %g, brute force %g", i, got.Pix[i], want)
		}
	}
}

func TestSaveLoadGivesIdenticalScores(t *testing.T) {
	d := fitted(t, `{"size":48,"components":5,"scales":[1,2],"seed":3}`, trainSet(5, 8, 3, 40, 56))
	test := trainSet(6, 3, 3, 40, 56)
	plant(test[2], 5, 5, 8)
	want, err := d.Score(context.Background(), test)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, ts := range d.Tensors() {
		names[ts.Name] = true
	}
	for _, n := range []string{"mean", "components", "norm", "scale2.mean", "scale2.components", "scale2.norm"} {
		if !names[n] {
			t.Errorf("tensor %q not saved (have %v)", n, names)
		}
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := detector.Save(path, d, detector.Meta{}); err != nil {
		t.Fatal(err)
	}
	d2, meta, err := detector.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Method != Name {
		t.Errorf("method %q", meta.Method)
	}
	got, err := d2.Score(context.Background(), test)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i].Score != want[i].Score || !reflect.DeepEqual(got[i].Map, want[i].Map) {
			t.Errorf("image %d: score %g after load, %g before (or maps differ)", i, got[i].Score, want[i].Score)
		}
	}
}

func TestRestoreNamesBadTensor(t *testing.T) {
	d := fitted(t, `{"size":32,"components":4,"scales":[1,2]}`, trainSet(8, 3, 1, 32, 32))
	cfg, _ := json.Marshal(d.Config())
	base := map[string]safetensors.Tensor{}
	for _, ts := range d.Tensors() {
		base[ts.Name] = ts
	}
	missing := map[string]safetensors.Tensor{}
	for k, v := range base {
		if k != "scale2.components" {
			missing[k] = v
		}
	}
	if err := new(Detector).Restore(cfg, missing); err == nil || !strings.Contains(err.Error(), "scale2.components") {
		t.Errorf("missing tensor: err %v", err)
	}
	wrong := map[string]safetensors.Tensor{}
	for k, v := range base {
		wrong[k] = v
	}
	wrong["mean"] = safetensors.F32("mean", []int{10}, make([]float32, 10))
	if err := new(Detector).Restore(cfg, wrong); err == nil || !strings.Contains(err.Error(), `"mean"`) {
		t.Errorf("wrong shape: err %v", err)
	}
	if err := new(Detector).Restore(cfg, base); err != nil {
		t.Errorf("good tensors refused: %v", err)
	}
	// Values, not just shapes: each crafted tensor is refused by name.
	with := func(name string, edit func(v []float32)) map[string]safetensors.Tensor {
		out := map[string]safetensors.Tensor{}
		for k, v := range base {
			out[k] = v
		}
		v, err := base[name].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		v = append([]float32(nil), v...)
		edit(v)
		out[name] = safetensors.F32(name, base[name].Shape, v)
		return out
	}
	for _, c := range []struct {
		name, why string
		edit      func(v []float32)
	}{
		{"mean", "NaN mean", func(v []float32) { v[3] = float32(math.NaN()) }},
		{"scale2.components", "infinite component", func(v []float32) { v[0] = float32(math.Inf(1)) }},
		{"components", "component not of unit length", func(v []float32) { v[1] += 0.5 }},
		{"scale2.norm", "infinite normaliser", func(v []float32) { v[0] = float32(math.Inf(1)) }},
		{"norm", "negative normaliser", func(v []float32) { v[0] = -1 }},
	} {
		if err := new(Detector).Restore(cfg, with(c.name, c.edit)); err == nil || !strings.Contains(err.Error(), `"`+c.name+`"`) {
			t.Errorf("%s: err %v, want one naming %q", c.why, err, c.name)
		}
	}
}

// A working-size image scores exactly as the original: the detector's own
// resize is the identity at InputSize, so the pipeline may resize first.
func TestPreResizedToInputSizeScoresTheSame(t *testing.T) {
	d := fitted(t, `{"size":48,"components":5,"scales":[1,2],"seed":3}`, trainSet(5, 6, 3, 40, 56))
	h, w := d.InputSize()
	if h != 48 || w != 48 {
		t.Fatalf("InputSize = %d, %d, want 48, 48", h, w)
	}
	img := trainSet(14, 1, 3, 70, 90)[0]
	plant(img, 10, 20, 8)
	res, err := d.Score(context.Background(), []*imageio.Image{img, imageio.Resize(img, h, w)})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Score != res[1].Score {
		t.Fatalf("pre-resized image scores %v, original %v", res[1].Score, res[0].Score)
	}
	var _ detector.InputSizer = d
}

func TestMapsMatchEachInputSize(t *testing.T) {
	for _, cfg := range []string{`{"size":32,"components":4}`, `{"size":0,"components":4,"scales":[1,2]}`} {
		d := fitted(t, cfg, append(trainSet(9, 3, 3, 40, 40), trainSet(10, 3, 3, 33, 57)...))
		imgs := []*imageio.Image{trainSet(11, 1, 3, 20, 70)[0], trainSet(12, 1, 1, 64, 31)[0], trainSet(13, 1, 3, 32, 32)[0]}
		res, err := d.Score(context.Background(), imgs)
		if err != nil {
			t.Fatalf("%s: %v", cfg, err)
		}
		for i, r := range res {
			if r.Map.H != imgs[i].H || r.Map.W != imgs[i].W {
				t.Errorf("%s: image %d is %dx%d, map %dx%d", cfg, i, imgs[i].W, imgs[i].H, r.Map.W, r.Map.H)
			}
			if math.IsNaN(r.Score) || r.Score < 0 {
				t.Errorf("%s: image %d score %g", cfg, i, r.Score)
			}
		}
	}
}

func TestDeterministicWithSeed(t *testing.T) {
	train := trainSet(14, 6, 3, 32, 32)
	// 6 images × 49 patches = 294 > 100: the sample is active.
	cfg := `{"size":32,"components":4,"max_patches":100,"seed":%d}`
	a := fitted(t, strings.Replace(cfg, "%d", "5", 1), train)
	b := fitted(t, strings.Replace(cfg, "%d", "5", 1), train)
	c := fitted(t, strings.Replace(cfg, "%d", "6", 1), train)
	if !reflect.DeepEqual(a.Tensors(), b.Tensors()) {
		t.Error("same seed, different models")
	}
	if reflect.DeepEqual(a.Tensors(), c.Tensors()) {
		t.Error("different seeds drew the same sample")
	}
}

func TestSampleIsExactAndUniform(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, 50)
	const trials = 4000
	for tr := 0; tr < trials; tr++ {
		b := samplePatches(50, 10, rng)
		n := 0
		for i := 0; i < 50; i++ {
			if b.has(i) {
				n++
				counts[i]++
			}
		}
		if n != 10 {
			t.Fatalf("sampled %d, want 10", n)
		}
	}
	for i, c := range counts {
		// Expected 800 each; 5 sigma ≈ 127.
		if c < 670 || c > 930 {
			t.Errorf("index %d chosen %d times of %d, want ≈800", i, c, trials)
		}
	}
}

func TestPositionsCoverEdges(t *testing.T) {
	for _, tc := range []struct {
		n, p, s int
		want    []int
	}{{16, 8, 4, []int{0, 4, 8}}, {17, 8, 4, []int{0, 4, 8, 9}}, {8, 8, 4, []int{0}}, {10, 3, 5, []int{0, 5, 7}}} {
		if got := positions(tc.n, tc.p, tc.s); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("positions(%d,%d,%d) = %v, want %v", tc.n, tc.p, tc.s, got, tc.want)
		}
	}
}

func TestConfigErrorsNameField(t *testing.T) {
	for raw, field := range map[string]string{
		`{"patch":0}`:                "patch",
		`{"stride":-1}`:              "stride",
		`{"score":"mean"}`:           "score",
		`{"scales":[1,0]}`:           "scales",
		`{"size":16,"scales":[4]}`:   "scales",
		`{"score":"topk","top_k":2}`: "top_k",
		`{"size":"big"}`:             "size",
	} {
		if _, err := New(json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err %v, want one naming %q", raw, err, field)
		}
	}
	d, err := New(nil)
	if err != nil || !reflect.DeepEqual(d.Config(), DefaultConfig()) {
		t.Errorf("defaults: %+v %v", d.Config(), err)
	}
	// Too many components for the patch dimension is refused at Fit.
	d, _ = New(json.RawMessage(`{"size":16,"patch":2,"components":5,"gray":true}`))
	if err := d.Fit(context.Background(), trainSet(1, 2, 1, 16, 16)); err == nil || !strings.Contains(err.Error(), "components") {
		t.Errorf("components > dim: %v", err)
	}
}

func TestBadInputsAreErrors(t *testing.T) {
	d := fitted(t, `{"size":0,"components":4}`, trainSet(1, 3, 3, 32, 32))
	if _, err := d.Score(context.Background(), []*imageio.Image{imageio.New(3, 4, 4)}); err == nil || !strings.Contains(err.Error(), "image 0") {
		t.Errorf("too small: %v", err)
	}
	if _, err := d.Score(context.Background(), []*imageio.Image{nil}); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := d.Score(context.Background(), []*imageio.Image{imageio.New(5, 32, 32)}); err == nil || !strings.Contains(err.Error(), "channels") {
		t.Errorf("5 channels: %v", err)
	}
	if _, err := new(Detector).Score(context.Background(), nil); err == nil {
		t.Error("unfitted detector scored")
	}
	if err := d.Fit(context.Background(), nil); err == nil {
		t.Error("fit on nothing")
	}
}

// TestContract runs the shared detector contract checks (planted defects
// above every normal image, map location, odd sizes, save/load, refit).
func TestContract(t *testing.T) {
	detectortest.Run(t, Name, `{"size":64,"components":8}`, detectortest.Options{})
	detectortest.Run(t, Name, `{"size":0,"components":8,"scales":[1,2],"score":"topk"}`, detectortest.Options{})
}

func TestRegistered(t *testing.T) {
	d, err := detector.New(Name, json.RawMessage(`{"components":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Method() != Name {
		t.Errorf("method %q", d.Method())
	}
}

// BenchmarkFit80 fits the default configuration on 80 RGB 128×128 images.
func BenchmarkFit80(b *testing.B) {
	train := trainSet(1, 80, 3, 128, 128)
	for b.Loop() {
		d, _ := New(nil)
		if err := d.Fit(context.Background(), train); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScore128 scores one RGB 128×128 image with the default model.
func BenchmarkScore128(b *testing.B) {
	d, _ := New(nil)
	if err := d.Fit(context.Background(), trainSet(1, 80, 3, 128, 128)); err != nil {
		b.Fatal(err)
	}
	img := trainSet(2, 1, 3, 128, 128)
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Score(context.Background(), img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScoreBatch80 scores 80 RGB 128×128 images in one call (parallel
// over images); divide ns/op by 80 for the per-image cost.
func BenchmarkScoreBatch80(b *testing.B) {
	d, _ := New(nil)
	if err := d.Fit(context.Background(), trainSet(1, 80, 3, 128, 128)); err != nil {
		b.Fatal(err)
	}
	imgs := trainSet(2, 80, 3, 128, 128)
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Score(context.Background(), imgs); err != nil {
			b.Fatal(err)
		}
	}
}
