package dataset

import (
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/vigil-ad/vigil/imageio"
)

// The header's channel count and size must agree with what imageio
// decodes, for every format and colour model the loaders meet, since the
// warnings are computed from headers alone.
func TestHeaderMatchesDecode(t *testing.T) {
	dir := t.TempDir()
	const w, h = 7, 5
	fill := func(set func(x, y int, v uint8)) {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				set(x, y, uint8(x*30+y*7))
			}
		}
	}
	gray := image.NewGray(image.Rect(0, 0, w, h))
	fill(func(x, y int, v uint8) { gray.SetGray(x, y, color.Gray{v}) })
	gray16 := image.NewGray16(image.Rect(0, 0, w, h))
	fill(func(x, y int, v uint8) { gray16.SetGray16(x, y, color.Gray16{uint16(v) * 257}) })
	rgb := image.NewNRGBA(image.Rect(0, 0, w, h))
	fill(func(x, y int, v uint8) { rgb.SetNRGBA(x, y, color.NRGBA{v, 255 - v, v / 2, 255}) })
	grayPal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Gray{0}, color.Gray{128}, color.Gray{255}})
	fill(func(x, y int, v uint8) { grayPal.SetColorIndex(x, y, v%3) })
	colPal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 0, 255}})
	fill(func(x, y int, v uint8) { colPal.SetColorIndex(x, y, v%2) })

	type enc func(io.Writer, image.Image) error
	pngE := func(wr io.Writer, m image.Image) error { return png.Encode(wr, m) }
	jpgE := func(wr io.Writer, m image.Image) error { return jpeg.Encode(wr, m, nil) }
	gifE := func(wr io.Writer, m image.Image) error { return gif.Encode(wr, m, nil) }
	tifE := func(wr io.Writer, m image.Image) error { return tiff.Encode(wr, m, nil) }
	bmpE := func(wr io.Writer, m image.Image) error { return bmp.Encode(wr, m) }
	cases := []struct {
		name string
		img  image.Image
		e    enc
	}{
		{"gray.png", gray, pngE}, {"gray16.png", gray16, pngE}, {"rgb.png", rgb, pngE},
		{"graypal.png", grayPal, pngE}, {"colpal.png", colPal, pngE},
		{"gray.jpg", gray, jpgE}, {"rgb.jpg", rgb, jpgE},
		{"graypal.gif", grayPal, gifE}, {"colpal.gif", colPal, gifE},
		{"gray.tif", gray, tifE}, {"rgb.tif", rgb, tifE}, {"rgb.bmp", rgb, bmpE},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.e(f, c.img); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		f.Close()
		hd, err := readHeader(p, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		img, err := imageio.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if hd.c != img.C || hd.w != img.W || hd.h != img.H {
			t.Fatalf("%s: header %+v, decoded %dx%dx%d", c.name, hd, img.C, img.H, img.W)
		}
	}
	if _, err := readHeader(filepath.Join(dir, "rgb.png"), 34); err == nil {
		t.Fatal("35 pixels accepted under a limit of 34")
	}
}

// BenchmarkLoadMVTec measures listing and header reading (no decoding) of
// a 240-image MVTec-layout folder of 256×256 RGB PNGs.
func BenchmarkLoadMVTec(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "demo")
	ds := Demo(DemoOptions{Seed: 1, Size: 256, NTrain: 160, NTestGood: 40, NTestBad: 40})
	if err := WriteMVTec(ds, dir); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := LoadMVTec(dir, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSampleLoad measures decoding one 256×256 RGB PNG with its mask
// and hash.
func BenchmarkSampleLoad(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "demo")
	if err := WriteMVTec(Demo(DemoOptions{Seed: 1, Size: 256, NTrain: 10, NTestGood: 1, NTestBad: 1}), dir); err != nil {
		b.Fatal(err)
	}
	ds, err := LoadMVTec(dir, Options{MinVal: 1})
	if err != nil {
		b.Fatal(err)
	}
	s := &ds.Test[0]
	if s.Label == 0 {
		s = &ds.Test[1]
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Load(imageio.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
