package imageio

import (
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResizeHandComputed(t *testing.T) {
	// 4 -> 2 downscale: triangle of radius 2 centred at 0.5 and 2.5, taps
	// outside the image dropped: (.75*0+.75*1+.25*2)/1.75 and (.25*1+.75*2+.75*3)/1.75
	img := &Image{C: 1, H: 1, W: 4, Pix: []float32{0, 1, 2, 3}}
	got := Resize(img, 1, 2)
	if !near(got.Pix[0], 1.25/1.75, 1e-6) || !near(got.Pix[1], 4/1.75, 1e-6) {
		t.Fatalf("downscale %v", got.Pix)
	}
	// 2 -> 4 upscale is bilinear with half-pixel centres: sample positions
	// -0.25, 0.25, 0.75, 1.25 (clamped at the edges)
	img = &Image{C: 1, H: 2, W: 1, Pix: []float32{0, 1}}
	got = Resize(img, 4, 1)
	for i, v := range []float32{0, 0.25, 0.75, 1} {
		if !near(got.Pix[i], v, 1e-6) {
			t.Fatalf("upscale %v", got.Pix)
		}
	}
}

func randImage(rng *rand.Rand, c, h, w int) *Image {
	img := New(c, h, w)
	for i := range img.Pix {
		img.Pix[i] = rng.Float32()
	}
	return img
}

func TestResizeConstantStaysConstant(t *testing.T) {
	for _, sz := range [][4]int{{17, 23, 5, 9}, {10, 10, 31, 7}, {64, 48, 64, 13}, {3, 3, 100, 100}} {
		img := New(2, sz[0], sz[1])
		for i := range img.Pix {
			img.Pix[i] = 0.3
		}
		img.Pix = img.Pix[:]
		for i := sz[0] * sz[1]; i < len(img.Pix); i++ {
			img.Pix[i] = 0.8
		}
		out := Resize(img, sz[2], sz[3])
		for i, v := range out.Pix {
			want := float32(0.3)
			if i >= sz[2]*sz[3] {
				want = 0.8
			}
			if !near(v, want, 1e-5) {
				t.Fatalf("%v: pix %d = %v want %v", sz, i, v, want)
			}
		}
	}
}

func TestResizeCheckerboardAverages(t *testing.T) {
	img := New(1, 60, 60)
	for y := 0; y < 60; y++ {
		for x := 0; x < 60; x++ {
			img.Set(0, y, x, float32((x+y)%2))
		}
	}
	// exact halving averages the pattern exactly away from the border
	// (where the filter is truncated)
	half := Resize(img, 30, 30)
	for y := 0; y < 30; y++ {
		for x := 0; x < 30; x++ {
			tol := float32(1e-5)
			if x == 0 || y == 0 || x == 29 || y == 29 {
				tol = 0.1
			}
			if v := half.At(0, y, x); !near(v, 0.5, tol) {
				t.Fatalf("2x downscale of checkerboard gave %v at (%d,%d)", v, y, x)
			}
		}
	}
	// a non-integer factor still blurs the pattern away (no aliasing)
	for _, v := range Resize(img, 17, 13).Pix {
		if !near(v, 0.5, 0.1) {
			t.Fatalf("non-integer downscale of checkerboard gave %v", v)
		}
	}
}

func TestResizeUpscaleLinearRampExact(t *testing.T) {
	// f(y,x) = 2x + 3y at input pixel centres; bilinear reproduces the
	// plane exactly at interior output positions
	in := New(1, 8, 10)
	for y := 0; y < 8; y++ {
		for x := 0; x < 10; x++ {
			in.Set(0, y, x, float32(2*x+3*y))
		}
	}
	oh, ow := 19, 27
	out := Resize(in, oh, ow)
	for y := 0; y < oh; y++ {
		sy := (float64(y)+0.5)*8/float64(oh) - 0.5
		for x := 0; x < ow; x++ {
			sx := (float64(x)+0.5)*10/float64(ow) - 0.5
			if sx < 0 || sy < 0 || sx > 9 || sy > 7 {
				continue
			}
			if want := float32(2*sx + 3*sy); !near(out.At(0, y, x), want, 1e-4) {
				t.Fatalf("(%d,%d) = %v want %v", y, x, out.At(0, y, x), want)
			}
		}
	}
}

func TestResizeMeanPreservedAndMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	img := randImage(rng, 3, 90, 120)
	mean := func(p []float32) float64 {
		var s float64
		for _, v := range p {
			s += float64(v)
		}
		return s / float64(len(p))
	}
	for _, sz := range [][2]int{{45, 60}, {31, 50}, {200, 150}} {
		out := Resize(img, sz[0], sz[1])
		if d := math.Abs(mean(out.Pix) - mean(img.Pix)); d > 0.01 {
			t.Fatalf("%v: mean moved by %v", sz, d)
		}
	}
	// ResizeMap equals Resize of the same data as one channel
	m := &Map{H: 90, W: 120, Pix: img.Plane(1)}
	rm := ResizeMap(m, 31, 50)
	ri := Resize(&Image{C: 1, H: 90, W: 120, Pix: img.Plane(1)}, 31, 50)
	if rm.H != 31 || rm.W != 50 || !equalF(rm.Pix, ri.Pix) {
		t.Fatal("ResizeMap differs from Resize")
	}
	// same size is an exact copy, not an alias
	same := Resize(img, 90, 120)
	if !equalF(same.Pix, img.Pix) || &same.Pix[0] == &img.Pix[0] {
		t.Fatal("same-size resize must copy")
	}
}

func TestCenterCrop(t *testing.T) {
	img := New(2, 4, 5)
	for i := range img.Pix {
		img.Pix[i] = float32(i)
	}
	out, err := CenterCrop(img, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// origin (1,1): channel 0 rows 1..2 cols 1..2; channel 1 offset 20
	if want := []float32{6, 7, 11, 12, 26, 27, 31, 32}; !equalF(out.Pix, want) {
		t.Fatalf("crop %v want %v", out.Pix, want)
	}
	m := &Map{H: 4, W: 5, Pix: img.Pix[:20]}
	mc, err := CropMap(m, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 2, 3, 6, 7, 8, 11, 12, 13}; !equalF(mc.Pix, want) {
		t.Fatalf("crop map %v want %v", mc.Pix, want)
	}
	if _, err := CenterCrop(img, 5, 2); err == nil {
		t.Fatal("crop larger than image accepted")
	}
	if _, err := CropMap(m, 0, 2); err == nil {
		t.Fatal("empty crop accepted")
	}
}

func TestToRGBToGray(t *testing.T) {
	img := &Image{C: 3, H: 1, W: 2, Pix: []float32{0.5, 1, 0.2, 0.4, 0, 0.9}}
	g, err := ToGray(img)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.299*0.5 + 0.587*0.2 + 0.114*0, 0.299*1 + 0.587*0.4 + 0.114*0.9}
	if g.C != 1 || !approxF(g.Pix, want, 1e-6) {
		t.Fatalf("gray %v want %v", g.Pix, want)
	}
	rgb, err := ToRGB(g)
	if err != nil {
		t.Fatal(err)
	}
	if rgb.C != 3 || !equalF(rgb.Pix, append(append(append([]float32{}, g.Pix...), g.Pix...), g.Pix...)) {
		t.Fatalf("ToRGB %v", rgb.Pix)
	}
	if _, err := ToRGB(New(2, 1, 1)); err == nil {
		t.Fatal("ToRGB accepted 2 channels")
	}
	if _, err := ToGray(New(4, 1, 1)); err == nil {
		t.Fatal("ToGray accepted 4 channels")
	}
}

func approxF(a, b []float32, tol float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !near(a[i], b[i], tol) {
			return false
		}
	}
	return true
}

func TestGoImageRoundTripAndSavePNG(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	dir := t.TempDir()
	for _, c := range []int{1, 3} {
		img := New(c, 5, 7)
		for i := range img.Pix {
			img.Pix[i] = float32(rng.IntN(256)) / 255
		}
		g := img.ToGoImage()
		if c == 1 {
			if _, ok := g.(*image.Gray); !ok {
				t.Fatalf("1 channel gave %T", g)
			}
		} else if _, ok := g.(*image.NRGBA); !ok {
			t.Fatalf("3 channels gave %T", g)
		}
		if back := FromGoImage(g); !equalF(back.Pix, img.Pix) || back.C != c {
			t.Fatalf("C=%d: Go image round trip changed pixels", c)
		}
		p := filepath.Join(dir, "rt.png")
		if err := SavePNG(p, g); err != nil {
			t.Fatal(err)
		}
		back, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if back.C != c || !equalF(back.Pix, img.Pix) {
			t.Fatalf("C=%d: PNG round trip changed pixels", c)
		}
	}
	// clamping and rounding
	img := &Image{C: 1, H: 1, W: 4, Pix: []float32{-1, 2, 0.5, float32(math.NaN())}}
	g := img.ToGoImage().(*image.Gray)
	if want := []uint8{0, 255, 128, 0}; string(g.Pix) != string(want) {
		t.Fatalf("quantised %v want %v", g.Pix, want)
	}
	mg := (&Map{H: 1, W: 2, Pix: []float32{0, 1}}).ToGoImage().(*image.Gray)
	if mg.Pix[0] != 0 || mg.Pix[1] != 255 {
		t.Fatalf("mask image %v", mg.Pix)
	}
	// the atomic write leaves no temporary files behind
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "tmp") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
	if err := SavePNG(filepath.Join(dir, "no", "such", "dir.png"), g); err == nil {
		t.Fatal("SavePNG into a missing directory succeeded")
	}
}

func BenchmarkResize512To224(b *testing.B) {
	img := randImage(rand.New(rand.NewPCG(1, 1)), 3, 512, 512)
	for b.Loop() {
		Resize(img, 224, 224)
	}
}

func BenchmarkFromYCbCr(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 768, 576), image.YCbCrSubsampleRatio420)
	for b.Loop() {
		FromGoImage(m)
	}
}

// refPixel is a direct (non-separable) evaluation of the resize filter at
// one output pixel: the normalised sum over all input pixels of the
// product of triangle weights in x and y.
func refPixel(img *Image, oh, ow, c, oy, ox int) float32 {
	weight := func(in, out, o, i int) float64 {
		scale := float64(in) / float64(out)
		radius := math.Max(1, scale)
		d := math.Abs((float64(i) + 0.5) - (float64(o)+0.5)*scale)
		return math.Max(0, 1-d/radius)
	}
	var s, norm float64
	for y := 0; y < img.H; y++ {
		wy := weight(img.H, oh, oy, y)
		for x := 0; x < img.W; x++ {
			w := wy * weight(img.W, ow, ox, x)
			s += w * float64(img.At(c, y, x))
			norm += w
		}
	}
	return float32(s / norm)
}

func TestResizeMatchesDirectReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	img := randImage(rng, 2, 37, 23)
	for _, sz := range [][2]int{{11, 50}, {80, 7}, {37, 9}, {5, 23}, {100, 64}} {
		got := Resize(img, sz[0], sz[1])
		for c := 0; c < 2; c++ {
			for y := 0; y < sz[0]; y++ {
				for x := 0; x < sz[1]; x++ {
					if want := refPixel(img, sz[0], sz[1], c, y, x); !near(got.At(c, y, x), want, 1e-5) {
						t.Fatalf("%v (%d,%d,%d): %v want %v", sz, c, y, x, got.At(c, y, x), want)
					}
				}
			}
		}
	}
	// a large image takes the parallel path: check sampled pixels
	big := randImage(rng, 3, 200, 160)
	got := Resize(big, 90, 130)
	for k := 0; k < 60; k++ {
		c, y, x := rng.IntN(3), rng.IntN(90), rng.IntN(130)
		if want := refPixel(big, 90, 130, c, y, x); !near(got.At(c, y, x), want, 1e-5) {
			t.Fatalf("large (%d,%d,%d): %v want %v", c, y, x, got.At(c, y, x), want)
		}
	}
}
