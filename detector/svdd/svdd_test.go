package svdd

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
)

func TestContractPixels(t *testing.T) {
	detectortest.Run(t, Name, `{"features":"pixels","size":32,"nu":0.1}`, detectortest.Options{NoMap: true, NTrain: 40})
}

func TestContractPixelsGCN(t *testing.T) {
	detectortest.Run(t, Name, `{"features":"pixels","size":24,"gray":false,"norm":"gcn","nu":0.2}`, detectortest.Options{NoMap: true, NTrain: 40})
}

// blobImage is a gray image of one bright Gaussian spot at (cy, cx).
func blobImage(cy, cx float64) *imageio.Image {
	img := imageio.New(1, 16, 16)
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			d2 := (float64(y)-cy)*(float64(y)-cy) + (float64(x)-cx)*(float64(x)-cx)
			img.Set(0, y, x, float32(math.Exp(-d2/8)))
		}
	}
	return img
}

// TestTrainingFractionOutside fits on images whose only variation is a
// spot's position and checks the detector-level ν-property: about ν of the
// training images score above 0 (outside the sphere), and a spot far from
// every training position scores higher than all of them.
func TestTrainingFractionOutside(t *testing.T) {
	var train []*imageio.Image
	for i := 0; i < 200; i++ {
		// positions on a seeded-free deterministic spiral around (8, 8)
		a := float64(i) * 2.399963
		r := 2.5 * math.Sqrt(float64(i)/200)
		train = append(train, blobImage(8+r*math.Sin(a), 8+r*math.Cos(a)))
	}
	ctx := context.Background()
	for _, nu := range []float64{0.1, 0.25} {
		d, err := New(json.RawMessage(`{"features":"pixels","size":16,"tol":1e-5,"nu":` + jsonFloat(nu) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Fit(ctx, train); err != nil {
			t.Fatal(err)
		}
		res, err := d.Score(ctx, append(train, blobImage(2, 13)))
		if err != nil {
			t.Fatal(err)
		}
		out := 0
		maxTrain := math.Inf(-1)
		for _, r := range res[:len(train)] {
			if r.Score > 1e-6 {
				out++
			}
			maxTrain = max(maxTrain, r.Score)
		}
		if f := float64(out) / float64(len(train)); math.Abs(f-nu) > 0.03 {
			t.Errorf("nu=%g: %.3f of the training images are outside the sphere", nu, f)
		}
		if far := res[len(train)].Score; !(far > maxTrain) {
			t.Errorf("nu=%g: a far spot scores %g, not above the training maximum %g", nu, far, maxTrain)
		}
	}
}

func jsonFloat(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestMedianHeuristic(t *testing.T) {
	// Three points on a line at 0, 1, 3: squared distances 1, 4, 9.
	x := []float32{0, 1, 3}
	g, err := medianGamma(x, 3, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g != 0.25 {
		t.Errorf("gamma = %v, want 1/4", g)
	}
	if _, err := medianGamma([]float32{2, 2, 2}, 3, 1, 0); err == nil {
		t.Error("identical vectors: no error")
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"nu":0}`:                   "nu 0 must be in (0,1]",
		`{"nu":1.5}`:                 "nu 1.5",
		`{"features":"hog"}`:         "features",
		`{"norm":"zca"}`:             "norm",
		`{"gama":1}`:                 "gama",
		`{"max_train":1}`:            "max_train",
		`{"gamma":-1}`:               "gamma",
		`{"size":0}`:                 "size 0",
		`{"features":"pca","dim":0}`: "dim 0",
		`{"tol":0}`:                  "tol 0",
		`{"gray":true,"channels":3}`: "channels 3",
	} {
		_, err := detector.New(Name, json.RawMessage(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", cfg, err, want)
		}
	}
}

func TestRestoreRefusesBadTensors(t *testing.T) {
	ctx := context.Background()
	var train []*imageio.Image
	for i := 0; i < 30; i++ {
		train = append(train, detectortest.Texture(uint64(i), 16, 16))
	}
	d, err := New(json.RawMessage(`{"features":"pca","size":16,"dim":8}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(ctx, train); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(d.Config())
	base := map[string]safetensors.Tensor{}
	for _, ts := range d.Tensors() {
		base[ts.Name] = ts
	}
	re := new(Detector)
	if err := re.Restore(cfg, base); err != nil {
		t.Fatalf("restore of a good model: %v", err)
	}
	test := []*imageio.Image{detectortest.Texture(100, 16, 16), detectortest.Texture(101, 20, 20)}
	r1, err := d.Score(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := re.Score(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r1 {
		if r1[i].Score != r2[i].Score {
			t.Errorf("image %d: score %v before, %v after restore", i, r1[i].Score, r2[i].Score)
		}
	}
	nsv := len(d.alpha)
	bad := func(name string, v []float32, shape ...int) map[string]safetensors.Tensor {
		m := map[string]safetensors.Tensor{}
		for k, t := range base {
			m[k] = t
		}
		if v == nil {
			delete(m, name)
		} else {
			m[name] = safetensors.F32(name, shape, v)
		}
		return m
	}
	alpha := make([]float32, nsv)
	alpha[0] = float32(math.NaN())
	neg := make([]float32, nsv)
	for i := range neg {
		neg[i] = 2 / float32(nsv)
	}
	for what, ts := range map[string]map[string]safetensors.Tensor{
		`"alpha"`:          bad("alpha", nil),
		`"sv"`:             bad("sv", make([]float32, nsv), nsv, 1),
		`non-finite`:       bad("alpha", alpha, nsv),
		`sum to 2`:         bad("alpha", neg, nsv),
		`gamma 0`:          bad("sphere", []float32{0, 0.5, 0.1}, 3),
		`"pca_components"`: bad("pca_components", nil),
	} {
		err := new(Detector).Restore(cfg, ts)
		if err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("want an error mentioning %s, got %v", what, err)
		}
	}
}

func TestScoreUnfittedAndWrongChannels(t *testing.T) {
	d, _ := New(nil)
	if _, err := d.Score(context.Background(), []*imageio.Image{imageio.New(1, 8, 8)}); err == nil {
		t.Error("unfitted model scored")
	}
	d, _ = New(json.RawMessage(`{"gray":false,"size":8,"features":"pixels"}`))
	var train []*imageio.Image
	for i := 0; i < 10; i++ {
		train = append(train, detectortest.Texture(uint64(i), 8, 8))
	}
	if err := d.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	// A gray image is replicated to the model's three channels.
	if _, err := d.Score(context.Background(), []*imageio.Image{imageio.New(1, 8, 8)}); err != nil {
		t.Errorf("gray image on a colour model: %v", err)
	}
}

// TestExport runs the exported graph with Vigil's executor against Score:
// gray pixels with gcn, and the PCA projection of colour pixels.
func TestExport(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
		size      int
	}{
		{"pixels-gray-gcn", `{"size":10,"gray":true,"norm":"gcn","nu":0.3}`, 10},
		{"pca-rgb", `{"features":"pca","size":8,"gray":false,"dim":5,"nu":0.2}`, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			detectortest.CheckExport(t, Name, c.cfg, c.size, 1e-4)
		})
	}
}
