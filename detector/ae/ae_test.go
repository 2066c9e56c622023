package ae

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
)

// smallConfig trains a tiny network briefly: enough to reconstruct the
// generated stripes and not a dark square.
const smallConfig = `{"size":0,"width":8,"depth":0,"stride":4,"latent":4,"smooth":1,
	"train":{"epochs":4,"steps_per_epoch":25,"patch":32,"batch_size":8,"lr":0.003,"val_fraction":0}}`

// TestContract runs the shared detector checks: planted defects score
// above every normal image with the map peak inside the square, maps of
// odd-sized inputs have the input's size, save/load gives identical
// scores, a refit with the same seed gives the same scores.
func TestContract(t *testing.T) {
	for _, loss := range []string{"l2", "ssim+0.5*l2", "msssim", "cwssim", "msgms"} {
		t.Run(loss, func(t *testing.T) {
			cfg := map[string]any{}
			if err := json.Unmarshal([]byte(smallConfig), &cfg); err != nil {
				t.Fatal(err)
			}
			cfg["loss"] = loss
			if loss == "cwssim" {
				// CW-SSIM costs ten times SSIM per step: a shorter run.
				cfg["train"].(map[string]any)["epochs"] = 2
				cfg["train"].(map[string]any)["steps_per_epoch"] = 15
			}
			raw, _ := json.Marshal(cfg)
			detectortest.Run(t, Name, string(raw), detectortest.Options{})
		})
	}
}

func TestRegistered(t *testing.T) {
	d, err := detector.New(Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Method() != Name {
		t.Errorf("method %q", d.Method())
	}
}

// A loss spec is a sum of distinct criteria with optional positive
// weights; errors name the bad term.
func TestParseLoss(t *testing.T) {
	for in, want := range map[string][]term{
		"l2":                 {{name: "l2", weight: 1}},
		"ssim+0.5*l2":        {{name: "ssim", weight: 1}, {name: "l2", weight: 0.5}},
		" 2*ssim + 1e-1*l2 ": {{name: "ssim", weight: 2}, {name: "l2", weight: 0.1}},
	} {
		got, err := parseLoss(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%q: %d terms, want %d", in, len(got), len(want))
			continue
		}
		for i := range got {
			if got[i].name != want[i].name || got[i].weight != want[i].weight {
				t.Errorf("%q term %d: %s*%g, want %s*%g", in, i, got[i].name, got[i].weight, want[i].name, want[i].weight)
			}
		}
	}
	for in, mention := range map[string]string{
		"":            "empty",
		"l3":          `"l3"`,
		"ssim+0.5*l1": `"0.5*l1"`,
		"ssim+-1*l2":  `"-1*l2"`,
		"ssim+x*l2":   `"x*l2"`,
		"ssim+0*l2":   `"0*l2"`,
		"ssim++l2":    `""`,
		"l2+2*l2":     `"2*l2"`,
		"ssim+inf*l2": `"inf*l2"`,
	} {
		_, err := parseLoss(in)
		if err == nil || !strings.Contains(err.Error(), mention) {
			t.Errorf("%q: error %v, want one naming %s", in, err, mention)
		}
	}
}

// The training loss is the weighted sum of the criteria's losses, and the
// map is the same weighted sum computed per pixel and averaged over
// channels: here checked against MSE and SSIM computed separately.
func TestLossAndMapAreTheWeightedSum(t *testing.T) {
	spec, err := parseLoss("ssim+0.5*l2")
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(1, 2, 12, 10)
	r := tensor.New(1, 2, 12, 10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x.Data {
		x.Data[i] = rng.Float32()
		r.Data[i] = x.Data[i] + 0.2*(rng.Float32()-0.5)
	}
	got := float64(spec.Loss(nn.NewVar(r), nn.NewVar(x)).Item())
	want := float64(nn.SSIMLoss(nn.NewVar(r), nn.NewVar(x)).Item()) + 0.5*float64(nn.MSELoss(nn.NewVar(r), nn.NewVar(x)).Item())
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("loss %v, want %v", got, want)
	}
	m := spec.Map(r, x, 0)
	s := nn.SSIMMap(r, x)
	hw := 12 * 10
	var mean float64
	for i := 0; i < hw; i++ {
		var w float64
		for c := 0; c < 2; c++ {
			d := float64(r.Data[c*hw+i] - x.Data[c*hw+i])
			w += (1 - float64(s.Data[c*hw+i]) + 0.5*d*d) / 2
		}
		if math.Abs(float64(m[i])-w) > 1e-6 {
			t.Fatalf("map pixel %d: %v, want %v", i, m[i], w)
		}
		mean += w
	}
	// The loss is the map's mean: one criterion in training and at test.
	if math.Abs(mean/float64(hw)-got) > 1e-5 {
		t.Errorf("map mean %v, loss %v", mean/float64(hw), got)
	}
}

// With blur, the l2 map squares the blurred residual: a constant residual
// c gives c² everywhere, a zero-mean checkerboard (pixel noise) nearly
// vanishes while unblurred it gives its full square.
func TestBlurredL2Map(t *testing.T) {
	spec, _ := parseLoss("l2")
	x := tensor.New(1, 1, 16, 16)
	r := tensor.New(1, 1, 16, 16)
	for i := range r.Data {
		x.Data[i] = 0.5
		r.Data[i] = 0.5 + 0.2
	}
	for i, v := range spec.Map(r, x, 2) {
		if math.Abs(float64(v)-0.04) > 1e-6 {
			t.Fatalf("constant residual 0.2: pixel %d is %v, want 0.04", i, v)
		}
	}
	for i := range r.Data {
		r.Data[i] = 0.5 + 0.2*float32(1-2*((i/16+i%16)%2))
	}
	raw, blurred := spec.Map(r, x, 0), spec.Map(r, x, 2)
	for i := range raw {
		if math.Abs(float64(raw[i])-0.04) > 1e-6 || blurred[i] > 1e-4 {
			t.Fatalf("checkerboard pixel %d: raw %v (want 0.04), blurred %v (want ~0)", i, raw[i], blurred[i])
		}
	}
}

// Criteria that pool channels themselves (MS-SSIM, CW-SSIM) enter the
// weighted sum with their own maps and losses.
func TestPooledCriteriaInTheSum(t *testing.T) {
	spec, err := parseLoss("cwssim+2*msssim")
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(1, 3, 20, 24)
	r := tensor.New(1, 3, 20, 24)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x.Data {
		x.Data[i] = rng.Float32()
		r.Data[i] = min(1, max(0, x.Data[i]+0.3*(rng.Float32()-0.5)))
	}
	got := float64(spec.Loss(nn.NewVar(r), nn.NewVar(x)).Item())
	want := float64(nn.CWSSIMLoss(nn.NewVar(r), nn.NewVar(x)).Item()) + 2*float64(nn.MSSSIMLoss(nn.NewVar(r), nn.NewVar(x)).Item())
	if math.Abs(got-want) > 1e-5 {
		t.Errorf("loss %v, want %v", got, want)
	}
	m := spec.Map(r, x, 0)
	cw, ms := nn.CWSSIMMap(r, x), nn.MSSSIMMap(r, x)
	for i := range m {
		if w := cw.Data[i] + 2*ms.Data[i]; math.Abs(float64(m[i]-w)) > 1e-5 {
			t.Fatalf("map pixel %d: %v, want %v", i, m[i], w)
		}
	}
}

// Padding replicates the last row and column up to a multiple of the
// stride; the working size keeps the aspect ratio.
func TestPaddedAndWorkSize(t *testing.T) {
	d, err := New(json.RawMessage(`{"stride":4,"train":{"patch":8}}`))
	if err != nil {
		t.Fatal(err)
	}
	img := imageio.New(1, 3, 5)
	for i := range img.Pix {
		img.Pix[i] = float32(i)
	}
	p := d.Padded(img)
	m := d.Margin()
	if m != 8 || !tensor.SameShape(p.Shape, []int{1, 1, 4 + 2*m, 8 + 2*m}) {
		t.Fatalf("margin %d, padded shape %v", m, p.Shape)
	}
	// Mirrored about the end pixels: index -1 is 1, index n is n-2.
	// Far out the reflection repeats with period 2(n-1).
	row := []int{0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1}
	col := []int{0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1}
	for y := 0; y < p.Shape[2]; y++ {
		for x := 0; x < p.Shape[3]; x++ {
			if got, want := p.Data[y*p.Shape[3]+x], img.At(0, col[y], row[x]); got != want {
				t.Fatalf("padded (%d,%d) = %v, want %v", y, x, got, want)
			}
		}
	}
	c := DefaultConfig()
	c.Size = 256
	for _, tc := range [][4]int{{361, 494, 187, 256}, {500, 250, 256, 128}, {100, 100, 256, 256}, {1, 1000, 1, 256}} {
		if h, w := c.workSize(tc[0], tc[1]); h != tc[2] || w != tc[3] {
			t.Errorf("work size of %dx%d: %dx%d, want %dx%d", tc[0], tc[1], h, w, tc[2], tc[3])
		}
	}
}

func TestConfigErrorsNameField(t *testing.T) {
	for raw, field := range map[string]string{
		`{"stride":3}`:               "stride",
		`{"width":0}`:                "width",
		`{"latent":0}`:               "latent",
		`{"depth":-1}`:               "depth",
		`{"loss":"l2+ms"}`:           `"ms"`,
		`{"score":"mean"}`:           "score",
		`{"score":"topk","top_k":0}`: "top_k",
		`{"smooth":-1}`:              "smooth",
		`{"train":{"patch":60}}`:     "train.patch",
		`{"train":{"lr":0}}`:         "train.lr",
		`{"size":4}`:                 "size",
		`{"bogus":1}`:                "bogus",
	} {
		_, err := New(json.RawMessage(raw))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v, want one naming %s", raw, err, field)
		}
	}
}

// Restore refuses a model with a missing, misshapen or non-finite tensor,
// naming it.
func TestRestoreNamesBadTensor(t *testing.T) {
	d, err := New(json.RawMessage(smallConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(context.Background(), []*imageio.Image{detectortest.Texture(1, 32, 32), detectortest.Texture(2, 32, 32)}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(d.Config())
	good := map[string]safetensors.Tensor{}
	for _, ts := range d.Tensors() {
		good[ts.Name] = ts
	}
	if err := new(Detector).Restore(cfg, good); err != nil {
		t.Fatalf("restore of a good model: %v", err)
	}
	name := "ae.dec.0.weight"
	shape := good[name].Shape
	nan := make([]float32, len(good[name].Data)/4)
	nan[3] = float32(math.NaN())
	for what, ts := range map[string]map[string]safetensors.Tensor{
		"missing":    without(good, name),
		"misshapen":  with(good, safetensors.F32(name, []int{1, len(nan)}, nan)),
		"non-finite": with(good, safetensors.F32(name, shape, nan)),
	} {
		if err := new(Detector).Restore(cfg, ts); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s tensor: error %v, want one naming %s", what, err, name)
		}
	}
	unfitted, _ := json.Marshal(DefaultConfig())
	if err := new(Detector).Restore(unfitted, good); err == nil || !strings.Contains(err.Error(), "channels") {
		t.Errorf("config without channels: %v", err)
	}
}

func without(m map[string]safetensors.Tensor, name string) map[string]safetensors.Tensor {
	out := maps.Clone(m)
	delete(out, name)
	return out
}

func with(m map[string]safetensors.Tensor, ts safetensors.Tensor) map[string]safetensors.Tensor {
	out := maps.Clone(m)
	out[ts.Name] = ts
	return out
}

// An image whose channels the model cannot use is an error naming it.
func TestBadInputsAreErrors(t *testing.T) {
	d, _ := New(json.RawMessage(smallConfig))
	if err := d.Fit(context.Background(), []*imageio.Image{detectortest.Texture(1, 32, 32)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Score(context.Background(), []*imageio.Image{detectortest.Texture(1, 32, 32), imageio.New(5, 32, 32)}); err == nil || !strings.Contains(err.Error(), "image 1") {
		t.Errorf("5-channel image: %v", err)
	}
	if err := d.Fit(context.Background(), []*imageio.Image{detectortest.Texture(1, 16, 16)}); err == nil || !strings.Contains(err.Error(), "train.patch") {
		t.Errorf("image smaller than the crop: %v", err)
	}
}

// With a train session, Fit checkpoints the stage; a resumed fit finds it
// finished and yields the same model (identical scores) without training.
func TestCheckpointResume(t *testing.T) {
	dir := t.TempDir()
	imgs := []*imageio.Image{detectortest.Texture(1, 32, 32), detectortest.Texture(2, 32, 40), detectortest.Texture(3, 40, 32)}
	test := []*imageio.Image{detectortest.Texture(9, 36, 30)}
	ctx := context.Background()
	d, _ := New(json.RawMessage(smallConfig))
	d.SetTrainSession(train.Session{CheckpointDir: dir})
	if err := d.Fit(ctx, imgs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(train.CheckpointPath(dir, Stage)); err != nil {
		t.Fatalf("no checkpoint: %v", err)
	}
	d2, _ := New(json.RawMessage(smallConfig))
	d2.SetTrainSession(train.Session{CheckpointDir: dir, Resume: true})
	if err := d2.Fit(ctx, imgs); err != nil {
		t.Fatal(err)
	}
	if s := d2.TrainReport().Stopped; s != "resumed-finished" {
		t.Errorf("resumed fit stopped by %q, want resumed-finished", s)
	}
	a, err := d.Score(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d2.Score(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	if a[0].Score != b[0].Score || !slices.Equal(a[0].Map.Pix, b[0].Map.Pix) {
		t.Errorf("resumed model scores %v, original %v", b[0].Score, a[0].Score)
	}
	// Another loss is another task: its checkpoint is refused on resume.
	other, _ := New(json.RawMessage(strings.Replace(smallConfig, `"smooth":1`, `"smooth":1,"loss":"ssim"`, 1)))
	other.SetTrainSession(train.Session{CheckpointDir: dir, Resume: true})
	if err := other.Fit(ctx, imgs); err == nil {
		t.Error("a checkpoint trained with another loss was resumed")
	}
}
