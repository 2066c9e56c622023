package backbone

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
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
	x := photoBatch(t, models, photoFiles(), 224, nil)
	t0 := time.Now()
	out, err := ex.Run(map[string]*tensor.Tensor{m.Inputs[0]: normaliseCaffe(x)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("forward of %d images at 224: %v", len(testPhotos), time.Since(t0))
	probs := out[m.Outputs[0]]
	if s := probs.Shape; len(s) != 2 || s[0] != len(testPhotos) || s[1] != 1000 {
		t.Fatalf("classifier output shape %v", s)
	}
	checkTop5(t, probs.Data, 1000, labels)
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

// TestNormaliseCaffe: RGB [0,1] becomes BGR 0-255 minus the caffe mean.
func TestNormaliseCaffe(t *testing.T) {
	x := tensor.From([]float32{0.1, 0.2, 0.5}, 1, 3, 1, 1) // R, G, B
	y := normaliseCaffe(x)
	want := []float32{0.5*255 - 103.939, 0.2*255 - 116.779, 0.1*255 - 123.68}
	for i := range want {
		if math.Abs(float64(y.Data[i]-want[i])) > 1e-4 {
			t.Fatalf("channel %d = %g, want %g", i, y.Data[i], want[i])
		}
	}
}

// tinyTarball writes an npm-style .tgz holding dir/model.json (input ->
// 1×1 conv with 2 filters -> ReLU) and one shard; the shard's name is long
// enough to need a pax header. It returns the tarball and its integrity.
func tinyTarball(t *testing.T, dir string, shardBytes func([]byte) []byte) ([]byte, string) {
	t.Helper()
	kernel := []float32{1, -1, 0.5, 2, -0.25, 0} // HWIO 1×1×3×2: k[ci][co]
	bias := []float32{0.1, -0.2}
	var data []byte
	for _, v := range append(append([]float32(nil), kernel...), bias...) {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	shard := strings.Repeat("s", 120) + ".bin"
	mj := `{"format":"layers-model","modelTopology":{"model_config":{"class_name":"Model","config":{"name":"t","layers":[
{"name":"in","class_name":"InputLayer","config":{"batch_input_shape":[null,null,null,3]},"inbound_nodes":[]},
{"name":"conv","class_name":"Conv2D","config":{"filters":2,"kernel_size":[1,1],"strides":[1,1],"padding":"valid","activation":"linear","use_bias":true},"inbound_nodes":[[["in",0,0,{}]]]},
{"name":"act","class_name":"Activation","config":{"activation":"relu"},"inbound_nodes":[[["conv",0,0,{}]]]}],
"input_layers":[["in",0,0]],"output_layers":[["act",0,0]]}}},
"weightsManifest":[{"paths":["` + shard + `"],"weights":[{"name":"conv/kernel","shape":[1,1,3,2],"dtype":"float32"},{"name":"conv/bias","shape":[2],"dtype":"float32"}]}]}`
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"package/README.md", []byte("x")}, {dir + "/model.json", []byte(mj)}, {dir + "/" + shard, shardBytes(data)}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.b)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(buf.Bytes())
	return buf.Bytes(), "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// withNPMBuiltin registers a TF.js backbone for the test's duration.
func withNPMBuiltin(t *testing.T, integrity string) Builtin {
	t.Helper()
	b := Builtin{Name: "tinyjs", File: "tinyjs.safetensors", Taps: []Tap{{Name: "relu", Stride: 1, Channels: 2}},
		npm: &npmSource{spec: "tinyjs@1.0.0", integrity: integrity, dir: "package/M", aliases: map[string]string{"relu": "act"}, norm: func(x *tensor.Tensor) *tensor.Tensor { return x }}}
	saved := builtins
	builtins = append(slices.Clone(builtins), b)
	t.Cleanup(func() { builtins = saved })
	return b
}

// TestImportRoundTrip: a tarball is integrity-checked, converted to
// safetensors and opened by name; features match a hand computation.
func TestImportRoundTrip(t *testing.T) {
	tgz, integrity := tinyTarball(t, "package/M", func(b []byte) []byte { return b })
	withNPMBuiltin(t, integrity)
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "tiny.tgz")
	if err := os.WriteFile(src, tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Import("tinyjs", src, dir, nil); err != nil {
		t.Fatal(err)
	}
	e, err := Open("tinyjs", OpenOptions{BackboneDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Taps(); len(got) != 1 || got[0] != (Tap{Name: "relu", Stride: 1, Channels: 2}) {
		t.Fatalf("taps %v", got)
	}
	x := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 1, 3, 1, 2) // pixels (1,3,5) and (2,4,6)
	f, err := e.Features(x)
	if err != nil {
		t.Fatal(err)
	}
	// out[co] = relu(bias[co] + sum_ci x[ci]*k[ci][co]), k = [[1,-1],[0.5,2],[-0.25,0]].
	want := []float32{
		1*1 + 3*0.5 + 5*-0.25 + 0.1, 2*1 + 4*0.5 + 6*-0.25 + 0.1, // channel 0: 1.35, 2.6
		1*-1 + 3*2 - 0.2, 2*-1 + 4*2 - 0.2, // channel 1: 4.8, 5.8
	}
	if !slices.EqualFunc(f[0].Data, want, func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }) {
		t.Fatalf("features %v, want %v", f[0].Data, want)
	}
}

// TestImportRefuses: a tarball with the wrong integrity, and one whose
// shard is short, leave no file behind and say why.
func TestImportRefuses(t *testing.T) {
	good, _ := tinyTarball(t, "package/M", func(b []byte) []byte { return b })
	short, shortIntegrity := tinyTarball(t, "package/M", func(b []byte) []byte { return b[:len(b)-4] })
	for _, tc := range []struct {
		name      string
		tgz       []byte
		integrity string
		want      string
	}{
		{"integrity", good, shortIntegrity, "integrity sha512-"},
		{"short shard", short, shortIntegrity, `weight "conv/bias"`},
		{"not gzip", []byte("not a tarball"), "sha512-" + base64.StdEncoding.EncodeToString(func() []byte { s := sha512.Sum512([]byte("not a tarball")); return s[:] }()), "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withNPMBuiltin(t, tc.integrity)
			dir := t.TempDir()
			src := filepath.Join(t.TempDir(), "x.tgz")
			if err := os.WriteFile(src, tc.tgz, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Import("tinyjs", src, dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("left %v in the cache", ents)
			}
		})
	}
}

// BenchmarkResNet50 measures opening the converted file and a b1 224×224
// forward pass to the three taps (skips without the converted file).
func BenchmarkResNet50(b *testing.B) {
	p, err := Locate("resnet50", OpenOptions{})
	if err != nil {
		b.Skipf("resnet50 not converted: %v", err)
	}
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			if _, err := Open("resnet50", OpenOptions{BackboneDir: filepath.Dir(p)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	e, err := Open("resnet50", OpenOptions{BackboneDir: filepath.Dir(p)})
	if err != nil {
		b.Fatal(err)
	}
	x := tensor.New(1, 3, 224, 224)
	for i := range x.Data {
		x.Data[i] = float32(i%255) / 255
	}
	b.Run("Features224b1", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Features(x); err != nil {
				b.Fatal(err)
			}
		}
	})
}
