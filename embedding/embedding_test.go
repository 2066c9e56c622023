package embedding

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/backbone"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/tensor"
)

func seq(shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(i)
	}
	return t
}

// Rows puts channel c of location (n, y, x) at row (n·H + y)·W + x.
func TestRowsTransposes(t *testing.T) {
	x := seq(2, 3, 2, 4)
	r := Rows(x)
	for n := 0; n < 2; n++ {
		for c := 0; c < 3; c++ {
			for p := 0; p < 8; p++ {
				if got, want := r[(n*8+p)*3+c], x.Data[(n*3+c)*8+p]; got != want {
					t.Fatalf("n=%d c=%d p=%d: %v, want %v", n, c, p, got, want)
				}
			}
		}
	}
}

// Concat keeps maps already at the target size unchanged, upsamples the
// others (a constant map stays constant), and stacks channels in order.
func TestConcat(t *testing.T) {
	a := seq(2, 2, 4, 4)
	b := tensor.New(2, 1, 2, 2)
	for i := range b.Data {
		b.Data[i] = float32(7 + i/4) // image 0: 7, image 1: 8
	}
	out := Concat([]*tensor.Tensor{a, b}, 4, 4)
	if out.Shape[1] != 3 || out.Shape[2] != 4 || out.Shape[3] != 4 {
		t.Fatalf("shape %v", out.Shape)
	}
	for n := 0; n < 2; n++ {
		for p := 0; p < 16; p++ {
			for c := 0; c < 2; c++ {
				if out.Data[(n*3+c)*16+p] != a.Data[(n*2+c)*16+p] {
					t.Fatalf("tap 0 changed at n=%d c=%d p=%d", n, c, p)
				}
			}
			if v := out.Data[(n*3+2)*16+p]; v != float32(7+n) {
				t.Fatalf("upsampled constant map gives %v, want %v", v, 7+n)
			}
		}
	}
}

// ChannelMeans appends image i's per-channel means in channel order.
func TestChannelMeans(t *testing.T) {
	x := seq(2, 2, 2, 2) // image 1: channel 0 holds 8..11, channel 1 holds 12..15
	got := ChannelMeans([]float32{-1}, x, 1)
	if len(got) != 3 || got[0] != -1 || got[1] != 9.5 || got[2] != 13.5 {
		t.Fatalf("channel means %v, want [-1 9.5 13.5]", got)
	}
}

// Aggregate averages the k×k window, excluding zero padding at borders.
func TestAggregate(t *testing.T) {
	x := seq(1, 1, 3, 3) // 0..8
	y := Aggregate(x, 3)
	// Centre: mean of 0..8 = 4; corner (0,0): mean of 0,1,3,4 = 2.
	if y.Data[4] != 4 || y.Data[0] != 2 {
		t.Fatalf("aggregate %v", y.Data)
	}
	if Aggregate(x, 1) != x {
		t.Fatal("k = 1 must return the input")
	}
}

func TestGeometry(t *testing.T) {
	for _, g := range []Geometry{{Size: 0}, {Size: 100}, {Size: 64, Crop: 96}, {Size: 96, Crop: 40}} {
		if g.Validate() == nil {
			t.Fatalf("%+v accepted", g)
		}
	}
	g := Geometry{Size: 96, Crop: 64}
	if err := g.Validate(); err != nil || g.Side() != 64 {
		t.Fatalf("valid geometry: %v, side %d", err, g.Side())
	}
	img := imageio.New(1, 50, 70)
	x, err := g.Batch([]*imageio.Image{img, img})
	if err != nil || x.Shape[0] != 2 || x.Shape[1] != 3 || x.Shape[2] != 64 || x.Shape[3] != 64 {
		t.Fatalf("batch %v, %v", x.Shape, err)
	}
	// A map on the crop goes back into the centre of the resized frame;
	// outside, it takes the map's minimum; then it is resized to H×W.
	m := imageio.NewMap(64, 64)
	for i := range m.Pix {
		m.Pix[i] = 1
	}
	m.Pix[0] = 0.5
	back := g.ToOriginal(m, 96, 96)
	if back.H != 96 || back.W != 96 {
		t.Fatalf("map %dx%d", back.H, back.W)
	}
	if back.At(0, 0) != 0.5 || back.At(48, 48) != 1 || back.At(16, 16) != 0.5 {
		t.Fatalf("border %v, centre %v, crop corner %v", back.At(0, 0), back.At(48, 48), back.At(16, 16))
	}
	side := g.ToSide([]float32{2, 2, 2, 2}, 2, 2)
	if side.H != 64 || math.Abs(float64(side.At(10, 50))-2) > 1e-6 {
		t.Fatalf("ToSide %dx%d value %v", side.H, side.W, side.At(10, 50))
	}
}

func TestSourceCheck(t *testing.T) {
	dir := t.TempDir()
	if err := (Source{Backbone: "random:3"}).Check(); err != nil {
		t.Fatalf("random: %v", err)
	}
	missing := filepath.Join(dir, "nope.onnx")
	if err := (Source{Backbone: missing}).Check(); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v", err)
	}
	if err := (Source{Backbone: dir + "/x.tflite"}).Check(); err == nil {
		t.Fatal("missing tflite accepted")
	}
	if err := (Source{Backbone: "no_such_net"}).Check(); err == nil || !strings.Contains(err.Error(), "no_such_net") {
		t.Fatalf("unknown name: %v", err)
	}
	// a built-in name is located in BackboneDir without being opened
	if err := (Source{Backbone: "mobilenet_v2", BackboneDir: dir}).Check(); err == nil {
		t.Fatal("mobilenet_v2 found in an empty folder")
	}
}

// Pad mode keeps the aspect ratio: a 2:1 image fills the width, is
// centred vertically with replicated edges, and a map comes back at the
// image's size from the image's region only.
func TestGeometryPad(t *testing.T) {
	g := Geometry{Size: 64, Aspect: AspectPad}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Geometry{Size: 64, Crop: 32, Aspect: AspectPad}).Validate(); err == nil {
		t.Fatal("pad with a crop accepted")
	}
	if h, w := g.InputSize(); h != 0 || w != 0 {
		t.Fatalf("InputSize %d,%d in pad mode; want 0,0 (depends on the image)", h, w)
	}
	img := imageio.New(1, 32, 64) // H=32, W=64: fits the width exactly
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			img.Set(0, y, x, float32(y)/31)
		}
	}
	in, err := g.Input(img)
	if err != nil {
		t.Fatal(err)
	}
	if in.H != 64 || in.W != 64 || in.C != 3 {
		t.Fatalf("input %dx%dx%d", in.C, in.H, in.W)
	}
	// rows 16..47 hold the image, rows above and below replicate its edges
	for _, c := range []struct {
		y    int
		want float32
	}{{0, 0}, {15, 0}, {16, 0}, {47, 1}, {63, 1}, {16 + 10, 10.0 / 31}} {
		if got := in.At(1, c.y, 5); math.Abs(float64(got-c.want)) > 1e-5 {
			t.Fatalf("row %d: %v, want %v", c.y, got, c.want)
		}
	}
	// a map that is high only in the padding gives a zero image map and score
	m := imageio.NewMap(64, 64)
	for x := 0; x < 64; x++ {
		m.Set(2, x, 9)
	}
	m.Set(30, 7, 1) // inside the image: row 14 of 32
	out, hi := g.ScoreMap(m.Pix, 64, 64, 0, 32, 64)
	if out.H != 32 || out.W != 64 || hi != 1 {
		t.Fatalf("map %dx%d, score %v; want 32x64 and the image region's max 1", out.H, out.W, hi)
	}
	if out.At(14, 7) != 1 || out.At(0, 0) != 0 {
		t.Fatalf("map back: %v at the marked pixel, %v at the corner", out.At(14, 7), out.At(0, 0))
	}
}

func TestBackboneAuto(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_BACKBONE_DIR", "")
	t.Setenv("VIGIL_HOME", t.TempDir())
	s := Source{Backbone: BackboneAuto, BackboneDir: dir}
	if got := s.Resolved().Backbone; got != "mobilenet_v2" {
		t.Fatalf("auto without resnet50: %s", got)
	}
	os.WriteFile(filepath.Join(dir, "resnet50_keras_imagenet.safetensors"), []byte("x"), 0o644)
	if got := s.Resolved().Backbone; got != "resnet50" {
		t.Fatalf("auto with resnet50 present: %s", got)
	}
	if (Source{Backbone: "mobilenet_v1"}).Resolved().Backbone != "mobilenet_v1" {
		t.Fatal("a named backbone changed")
	}
}

// Use replaces opening the Source: the injected extractor is returned
// even for a source that cannot be opened, and Ready reports it.
func TestLazyUse(t *testing.T) {
	var l Lazy
	bad := Source{Backbone: "no_such_net"}
	if _, err := l.Extractor(bad); err == nil {
		t.Fatal("unknown backbone opened")
	}
	if l.Ready() {
		t.Fatal("Ready after a failed open")
	}
	ex := backbone.NewRandom(3)
	l.Use(ex)
	got, err := l.Extractor(bad)
	if err != nil || got != ex || !l.Ready() {
		t.Fatalf("after Use: %v, %v, ready %v", got, err, l.Ready())
	}
}
