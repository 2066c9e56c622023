package backbone

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/tensor"
)

// sharedModels finds the read-only shared/models folder: $VIGIL_SHARED
// (the shared folder holding models/, or models/ itself), else the first
// shared/models found walking up from the package directory (CI keeps the
// shared folder beside the repository, as ../shared). Tests that need it
// skip when it is absent, or fail when VIGIL_REQUIRE_SHARED=1 (.ci/run sets
// it when ../shared exists, so these tests cannot silently stop running).
func sharedModels(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("VIGIL_SHARED"); d != "" {
		for _, p := range []string{filepath.Join(d, "models"), d} {
			if st, err := os.Stat(filepath.Join(p, "testimages")); err == nil && st.IsDir() {
				return p
			}
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		skipNoShared(t, "no working directory to search from")
	}
	for {
		p := filepath.Join(dir, "shared", "models")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			skipNoShared(t, "no shared/models in any parent folder (set VIGIL_SHARED)")
		}
		dir = parent
	}
}

// skipNoShared skips a test that needs ../shared, or fails it when
// VIGIL_REQUIRE_SHARED=1.
func skipNoShared(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("VIGIL_REQUIRE_SHARED") == "1" {
		t.Fatalf("../shared absent but VIGIL_REQUIRE_SHARED=1: %s", why)
	}
	t.Skipf("../shared absent: %s; skipping pretrained-model test", why)
}

// photoBatch loads the test photos resized to size×size as one batch.
func photoBatch(t testing.TB, models string, names []string, size int, resize func(*imageio.Image) *imageio.Image) *tensor.Tensor {
	t.Helper()
	x := tensor.New(len(names), 3, size, size)
	for i, n := range names {
		img, err := imageio.Load(filepath.Join(models, "testimages", n))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = imageio.ToRGB(img); err != nil {
			t.Fatal(err)
		}
		if resize != nil {
			img = resize(img)
		}
		img = imageio.Resize(img, size, size)
		copy(x.Data[i*3*size*size:], img.Pix)
	}
	return x
}

func readLabels(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		out = append(out, s.Text())
	}
	return out
}

func topK(p []float32, k int) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	return idx[:k]
}

// TestMobileNetV2ClassifiesPhotos is the end-to-end correctness check of
// the TFLite import: the dequantised float MobileNetV2 classifier must put
// each photo's subject in its top 5 of 1001 ImageNet classes.
func TestMobileNetV2ClassifiesPhotos(t *testing.T) {
	models := sharedModels(t)
	e, err := Open("mobilenet_v2", OpenOptions{BackboneDir: models})
	if err != nil {
		t.Fatal(err)
	}
	tf := e.(*TFLite)
	labels := readLabels(t, filepath.Join(models, "mobilenet_v2_1.0_224_quant", "imagenet_labels_coral.txt"))
	if len(labels) != 1001 {
		t.Fatalf("%d labels", len(labels))
	}
	x := photoBatch(t, models, photoFiles(), 224, nil)
	out, err := tf.Outputs(x)
	if err != nil {
		t.Fatal(err)
	}
	probs := out[0]
	if s := probs.Shape; len(s) != 2 || s[0] != len(testPhotos) || s[1] != 1001 {
		t.Fatalf("classifier output shape %v", s)
	}
	checkTop5(t, probs.Data, 1001, labels)
}

// testPhotos are ../shared/models/testimages with the ImageNet label
// lines (first name) accepted for each.
var testPhotos = []struct {
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

func photoFiles() []string {
	var files []string
	for _, p := range testPhotos {
		files = append(files, p.file)
	}
	return files
}

// checkTop5 checks a classifier's probabilities for testPhotos (one row
// of classes per photo): each row sums to 1 and its top 5 contain the
// photo's subject.
func checkTop5(t *testing.T, probs []float32, classes int, labels []string) {
	t.Helper()
	for i, p := range testPhotos {
		row := probs[i*classes : (i+1)*classes]
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

func checkTapShapes(t *testing.T, e Extractor, feats []*tensor.Tensor, n, h, w int) {
	t.Helper()
	taps := e.Taps()
	if len(feats) != len(taps) {
		t.Fatalf("%d maps for %d taps", len(feats), len(taps))
	}
	for i, f := range feats {
		s, tp := f.Shape, taps[i]
		want := []int{n, tp.Channels, (h + tp.Stride - 1) / tp.Stride, (w + tp.Stride - 1) / tp.Stride}
		if !slices.Equal(s, want) {
			t.Errorf("%s tap %s (stride %d): shape %v, want %v", e.Name(), tp.Name, tp.Stride, s, want)
		}
	}
}

func TestMobileNetTapsAtAnySize(t *testing.T) {
	models := sharedModels(t)
	for _, name := range []string{"mobilenet_v2", "mobilenet_v1"} {
		e, err := Open(name, OpenOptions{BackboneDir: models})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := lookup(name)
		if !slices.Equal(e.Taps(), b.Taps) {
			t.Fatalf("%s taps %v, want %v", name, e.Taps(), b.Taps)
		}
		// The same file opened by path gets the built-in's taps.
		path, err := Locate(name, OpenOptions{BackboneDir: models})
		if err != nil {
			t.Fatal(err)
		}
		byPath, err := Open(path, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(byPath.Taps(), b.Taps) || byPath.Name() != b.File {
			t.Fatalf("%s by path: name %q taps %v", name, byPath.Name(), byPath.Taps())
		}
		for _, hw := range [][2]int{{224, 224}, {256, 256}, {100, 150}} {
			x := tensor.New(1, 3, hw[0], hw[1])
			x.Fill(0.5)
			f, err := e.Features(x)
			if err != nil {
				t.Fatal(err)
			}
			checkTapShapes(t, e, f, 1, hw[0], hw[1])
		}
	}
}

func cosineDist(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return 1 - ab/math.Sqrt(aa*bb+1e-30)
}

// TestMobileNetV1EmbeddingSanity: the embedding extractor has no
// classifier, so check the 1024-d output and that a photo seen through a
// different resampling (down to 112 then up) stays closer to itself than
// to any other photo.
func TestMobileNetV1EmbeddingSanity(t *testing.T) {
	models := sharedModels(t)
	e, err := Open("mobilenet_v1", OpenOptions{BackboneDir: models})
	if err != nil {
		t.Fatal(err)
	}
	tf := e.(*TFLite)
	files := []string{"cat.bmp", "bird.bmp", "parrot.jpg", "dragonfly.bmp", "grace_hopper.bmp", "hot_dog.jpg"}
	a := photoBatch(t, models, files, 224, nil)
	b := photoBatch(t, models, files, 224, func(img *imageio.Image) *imageio.Image { return imageio.Resize(img, 112, 112) })
	ea, err := tf.Outputs(a)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := tf.Outputs(b)
	if err != nil {
		t.Fatal(err)
	}
	if s := ea[0].Shape; !slices.Equal(s, []int{len(files), 1024, 1, 1}) {
		t.Fatalf("embedding shape %v", s)
	}
	emb := func(t *tensor.Tensor, i int) []float32 { return t.Data[i*1024 : (i+1)*1024] }
	for i := range files {
		self := cosineDist(emb(ea[0], i), emb(eb[0], i))
		for j := range files {
			if j == i {
				continue
			}
			if other := cosineDist(emb(ea[0], i), emb(ea[0], j)); other <= self {
				t.Errorf("%s: distance to its resampled self %.4f >= distance to %s %.4f", files[i], self, files[j], other)
			}
		}
	}
}

// benchRun times the network from the input to the named tensors.
func benchRun(b *testing.B, size int, tensors ...string) {
	models := sharedModels(b)
	e, err := Open("mobilenet_v2", OpenOptions{BackboneDir: models})
	if err != nil {
		b.Fatal(err)
	}
	tf := e.(*TFLite)
	var idx []int
	for _, n := range tensors {
		i, err := tf.Net().TensorIndex(n)
		if err != nil {
			b.Fatal(err)
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		idx = tf.Net().OutputIndices()
	}
	x := tensor.New(1, 3, size, size)
	x.Fill(0.5)
	in, err := tf.normalise(x)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tf.Net().Run(in, idx); err != nil {
			b.Fatal(err)
		}
	}
}

// trunk is the last feature map of MobileNetV2 (Conv_1, 1280 channels,
// stride 32), i.e. the whole network but the 7×7 pool and classifier.
const trunk = "MobilenetV2/Conv_1/Relu6"

// BenchmarkMobileNetV2Forward224 times the full network (to Conv_1) at 224×224.
func BenchmarkMobileNetV2Forward224(b *testing.B) { benchRun(b, 224, trunk) }

// BenchmarkMobileNetV2Forward256 times the full network (to Conv_1) at 256×256.
func BenchmarkMobileNetV2Forward256(b *testing.B) { benchRun(b, 256, trunk) }

// BenchmarkMobileNetV2Classify224 times the classifier to its softmax.
func BenchmarkMobileNetV2Classify224(b *testing.B) { benchRun(b, 224) }

// BenchmarkMobileNetV2Features224 times the three taps only (the network
// up to block 12), what the feature-based detectors pay per image.
func BenchmarkMobileNetV2Features224(b *testing.B) {
	benchRun(b, 224, tapNames(builtins[0].Taps)...)
}

// BenchmarkMobileNetV2Features256 is BenchmarkMobileNetV2Features224 at 256×256.
func BenchmarkMobileNetV2Features256(b *testing.B) {
	benchRun(b, 256, tapNames(builtins[0].Taps)...)
}
