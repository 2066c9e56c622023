package backbone

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/backbone/tfjs"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

// resnet50File finds the converted resnet50 file in the backbone cache
// (the folders Locate searches). Without it the test skips, or fails when
// VIGIL_REQUIRE_RESNET50=1 (.ci/run sets it after pulling the model).
func resnet50File(t *testing.T) string {
	t.Helper()
	p, err := Locate("resnet50", OpenOptions{})
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_RESNET50") == "1" {
			t.Fatalf("VIGIL_REQUIRE_RESNET50=1 but: %v", err)
		}
		t.Skipf("resnet50 not converted (run `vigil backbone pull resnet50`): %v", err)
	}
	return p
}

// npmClassifier builds the whole converted network up to its output
// layers (ResNet50's fc1000 softmax).
func npmClassifier(t *testing.T, file string) (*onnx.Executor, *tfjs.Model) {
	t.Helper()
	f, err := safetensors.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfjs.Parse([]byte(f.Metadata[metaModelJSON]))
	if err != nil {
		t.Fatal(err)
	}
	ws := tfjs.Weights{}
	for name, tt := range f.Tensors {
		v, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		ws[name] = tfjs.Weight{Shape: tt.Shape, Data: v}
	}
	om, err := m.ToONNX(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := onnx.NewExecutor(om, slices.Clone(m.Outputs))
	if err != nil {
		t.Fatal(err)
	}
	return ex, m
}

// TestResNet50ClassifiesPhotos is the end-to-end check of the TF.js
// import, the converted weights and the caffe preprocessing: each photo's
// subject is in the top 5 of ImageNet's 1000 classes.
func TestResNet50ClassifiesPhotos(t *testing.T) {
	file := resnet50File(t)
	models := sharedModels(t)
	// Coral's label file has "background" first; Keras' classes start at 1.
	labels := readLabels(t, filepath.Join(models, "mobilenet_v2_1.0_224_quant", "imagenet_labels_coral.txt"))[1:]
	if len(labels) != 1000 {
		t.Fatalf("%d labels", len(labels))
	}
	ex, m := npmClassifier(t, file)
	photos := []struct {
		file string
		want []string
	}{
		{"cat.bmp", []string{"tabby", "tiger cat", "Egyptian cat"}},
		{"bird.bmp", []string{"chickadee"}},
		{"parrot.jpg", []string{"macaw"}},
		{"dragonfly.bmp", []string{"dragonfly", "damselfly"}},
		{"grace_hopper.bmp", []string{"military uniform"}},
		{"hot_dog.jpg", []string{"hotdog"}},
	}
	var files []string
	for _, p := range photos {
		files = append(files, p.file)
	}
	x := photoBatch(t, models, files, 224, nil)
	t0 := time.Now()
	out, err := ex.Run(map[string]*tensor.Tensor{m.Inputs[0]: normaliseCaffe(x)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("forward of %d images at 224: %v", len(photos), time.Since(t0))
	probs := out[m.Outputs[0]]
	if s := probs.Shape; len(s) != 2 || s[0] != len(photos) || s[1] != 1000 {
		t.Fatalf("classifier output shape %v", s)
	}
	for i, p := range photos {
		row := probs.Data[i*1000 : (i+1)*1000]
		var sum float64
		for _, v := range row {
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-3 {
			t.Errorf("%s: probabilities sum to %g", p.file, sum)
		}
		top := topK(row, 5)
		var desc []string
		found := false
		for _, k := range top {
			first, _, _ := strings.Cut(labels[k], ",")
			desc = append(desc, first)
			found = found || slices.Contains(p.want, first)
		}
		t.Logf("%s: top-5 %q (p=%.3f)", p.file, desc, row[top[0]])
		if !found {
			t.Errorf("%s: top-5 %q does not contain any of %q", p.file, desc, p.want)
		}
	}
}

// TestResNet50Taps: Open gives the documented taps, named as documented,
// with maps of the documented shape at 224 and at a non-square size.
func TestResNet50Taps(t *testing.T) {
	file := resnet50File(t)
	e, err := Open("resnet50", OpenOptions{BackboneDir: filepath.Dir(file)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := lookup("resnet50")
	if !slices.Equal(e.Taps(), b.Taps) {
		t.Fatalf("taps %v, want %v", e.Taps(), b.Taps)
	}
	for _, hw := range [][2]int{{224, 224}, {160, 96}} {
		x := tensor.New(1, 3, hw[0], hw[1])
		for i := range x.Data {
			x.Data[i] = float32(i%251) / 250
		}
		t0 := time.Now()
		feats, err := e.Features(x)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Features b1 %dx%d: %v", hw[0], hw[1], time.Since(t0))
		checkTapShapes(t, e, feats, 1, hw[0], hw[1])
	}
}
