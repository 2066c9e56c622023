package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

func encPNG(t *testing.T, g image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mustDecode(t *testing.T, b []byte, opt Options) *Image {
	t.Helper()
	img, err := Decode(bytes.NewReader(b), "test-image", opt)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func near(a, b, tol float32) bool { return float32(math.Abs(float64(a-b))) <= tol }

// checkPix compares img to want given as 8-bit CHW values.
func checkPix(t *testing.T, img *Image, c, h, w int, want []int, scale, tol float32) {
	t.Helper()
	if img.C != c || img.H != h || img.W != w {
		t.Fatalf("got %dx%dx%d, want %dx%dx%d", img.C, img.H, img.W, c, h, w)
	}
	for i, v := range want {
		if !near(img.Pix[i], float32(v)/scale, tol) {
			t.Fatalf("pix[%d] = %v, want %v (=%d/%v)", i, img.Pix[i], float32(v)/scale, v, scale)
		}
	}
}

func TestPNGGray8(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(g.Pix, []uint8{0, 51, 255, 128, 7, 200})
	img := mustDecode(t, encPNG(t, g), Options{})
	checkPix(t, img, 1, 2, 3, []int{0, 51, 255, 128, 7, 200}, 255, 0)
}

func TestPNGRGBOpaqueAndAlpha(t *testing.T) {
	// opaque NRGBA is stored as 8-bit RGB and decodes to *image.RGBA
	g := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	copy(g.Pix, []uint8{10, 20, 30, 255, 40, 50, 60, 255})
	img := mustDecode(t, encPNG(t, g), Options{})
	checkPix(t, img, 3, 1, 2, []int{10, 40, 20, 50, 30, 60}, 255, 0)
	// with alpha (decodes to *image.NRGBA): alpha dropped, straight colour kept
	copy(g.Pix, []uint8{10, 20, 30, 0, 40, 50, 60, 100})
	img = mustDecode(t, encPNG(t, g), Options{})
	checkPix(t, img, 3, 1, 2, []int{10, 40, 20, 50, 30, 60}, 255, 0)
}

func TestPremultipliedRGBAUnpremultiplied(t *testing.T) {
	g := image.NewRGBA(image.Rect(0, 0, 3, 1))
	// premultiplied: (100,50,0) at alpha 200 -> straight 127.5, 63.75, 0
	copy(g.Pix, []uint8{100, 50, 0, 200, 1, 2, 3, 255, 9, 9, 9, 0})
	img := FromGoImage(g)
	want := []float32{100.0 / 200, 1.0 / 255, 0, 50.0 / 200, 2.0 / 255, 0, 0, 3.0 / 255, 0}
	for i, v := range want {
		if !near(img.Pix[i], v, 1e-6) {
			t.Fatalf("pix[%d] = %v want %v", i, img.Pix[i], v)
		}
	}
}

func TestPNG16Bit(t *testing.T) {
	g := image.NewGray16(image.Rect(0, 0, 2, 1))
	g.SetGray16(0, 0, color.Gray16{Y: 1000})
	g.SetGray16(1, 0, color.Gray16{Y: 65535})
	img := mustDecode(t, encPNG(t, g), Options{})
	checkPix(t, img, 1, 1, 2, []int{1000, 65535}, 65535, 1e-7)

	c := image.NewRGBA64(image.Rect(0, 0, 1, 2))
	c.SetRGBA64(0, 0, color.RGBA64{R: 300, G: 40000, B: 65535, A: 65535})
	c.SetRGBA64(0, 1, color.RGBA64{R: 1, G: 2, B: 3, A: 65535})
	img = mustDecode(t, encPNG(t, c), Options{})
	checkPix(t, img, 3, 2, 1, []int{300, 1, 40000, 2, 65535, 3}, 65535, 1e-7)

	// 16-bit with alpha decodes to NRGBA64: alpha dropped
	n := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	n.SetNRGBA64(0, 0, color.NRGBA64{R: 5000, G: 6000, B: 7000, A: 1234})
	img = mustDecode(t, encPNG(t, n), Options{})
	checkPix(t, img, 3, 1, 1, []int{5000, 6000, 7000}, 65535, 1e-7)

	// premultiplied RGBA64 with partial alpha is un-premultiplied
	p := image.NewRGBA64(image.Rect(0, 0, 1, 1))
	p.SetRGBA64(0, 0, color.RGBA64{R: 1000, G: 2000, B: 0, A: 4000})
	img = FromGoImage(p)
	checkPix(t, img, 3, 1, 1, []int{1000, 2000, 0}, 4000, 1e-6)
}

func TestPaletted(t *testing.T) {
	grayPal := color.Palette{color.Gray{0}, color.Gray{100}, color.Gray{255}}
	g := image.NewPaletted(image.Rect(0, 0, 3, 1), grayPal)
	copy(g.Pix, []uint8{2, 1, 0})
	img := mustDecode(t, encPNG(t, g), Options{})
	checkPix(t, img, 1, 1, 3, []int{255, 100, 0}, 255, 1e-6)

	colPal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}, color.Gray{100}}
	g = image.NewPaletted(image.Rect(0, 0, 3, 1), colPal)
	copy(g.Pix, []uint8{1, 2, 0})
	img = mustDecode(t, encPNG(t, g), Options{})
	checkPix(t, img, 3, 1, 3, []int{0, 100, 255, 0, 100, 0, 255, 100, 0}, 255, 1e-6)
}

func TestJPEG(t *testing.T) {
	// gray JPEG stays 1 channel; lossy, so compare with a tolerance on a
	// smooth image
	g := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range g.Pix {
		g.Pix[i] = 100
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, g, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	img := mustDecode(t, b.Bytes(), Options{})
	want := make([]int, 256)
	for i := range want {
		want[i] = 100
	}
	checkPix(t, img, 1, 16, 16, want, 255, 2.0/255)

	c := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(c.Pix); i += 4 {
		c.Pix[i], c.Pix[i+1], c.Pix[i+2], c.Pix[i+3] = 200, 100, 50, 255
	}
	b.Reset()
	if err := jpeg.Encode(&b, c, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	img = mustDecode(t, b.Bytes(), Options{})
	want = make([]int, 3*256)
	for i := range want {
		want[i] = []int{200, 100, 50}[i/256]
	}
	checkPix(t, img, 3, 16, 16, want, 255, 4.0/255)
}

// The YCbCr fast path must agree exactly with color.YCbCrToRGB applied to
// the samples returned by At, for every subsampling ratio and for
// sub-images at odd offsets.
func TestYCbCrFastPathMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	for _, r := range ratios {
		m := image.NewYCbCr(image.Rect(0, 0, 13, 11), r)
		for _, p := range [][]uint8{m.Y, m.Cb, m.Cr} {
			for i := range p {
				p[i] = uint8(rng.IntN(256))
			}
		}
		for _, sub := range []image.Image{m, m.SubImage(image.Rect(3, 1, 12, 10)), m.SubImage(image.Rect(1, 3, 6, 4))} {
			b := sub.Bounds()
			fast := FromGoImage(sub)
			w, h := b.Dx(), b.Dy()
			if fast.C != 3 || fast.H != h || fast.W != w {
				t.Fatalf("shape %d %d %d", fast.C, fast.H, fast.W)
			}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					c := sub.At(b.Min.X+x, b.Min.Y+y).(color.YCbCr)
					rr, gg, bb := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
					for ch, v := range []uint8{rr, gg, bb} {
						if got := fast.At(ch, y, x); got != float32(v)/255 {
							t.Fatalf("ratio %v bounds %v (%d,%d,%d): %v want %v", r, b, ch, y, x, got, float32(v)/255)
						}
					}
				}
			}
		}
	}
}

func TestBMP(t *testing.T) {
	g := image.NewRGBA(image.Rect(0, 0, 2, 2))
	copy(g.Pix, []uint8{1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 250, 251, 252, 255})
	var b bytes.Buffer
	if err := bmp.Encode(&b, g); err != nil {
		t.Fatal(err)
	}
	img := mustDecode(t, b.Bytes(), Options{})
	checkPix(t, img, 3, 2, 2, []int{1, 4, 7, 250, 2, 5, 8, 251, 3, 6, 9, 252}, 255, 0)
}

func TestTIFF(t *testing.T) {
	g := image.NewGray16(image.Rect(0, 0, 2, 1))
	g.SetGray16(0, 0, color.Gray16{Y: 12345})
	g.SetGray16(1, 0, color.Gray16{Y: 54321})
	var b bytes.Buffer
	if err := tiff.Encode(&b, g, nil); err != nil {
		t.Fatal(err)
	}
	img := mustDecode(t, b.Bytes(), Options{})
	checkPix(t, img, 1, 1, 2, []int{12345, 54321}, 65535, 1e-7)

	c := image.NewRGBA(image.Rect(0, 0, 1, 2))
	copy(c.Pix, []uint8{9, 99, 199, 255, 0, 128, 255, 255})
	b.Reset()
	if err := tiff.Encode(&b, c, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	img = mustDecode(t, b.Bytes(), Options{})
	checkPix(t, img, 3, 2, 1, []int{9, 0, 99, 128, 199, 255}, 255, 0)
}

// webpLossless2x2 is a 2×2 lossless WebP made with
// `cwebp -lossless -exact` from pixels (255,0,0) (0,255,0) / (0,0,255) (10,20,30).
var webpLossless2x2 = []byte{
	0x52, 0x49, 0x46, 0x46, 0x32, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
	0x56, 0x50, 0x38, 0x4c, 0x26, 0x00, 0x00, 0x00, 0x2f, 0x01, 0x40, 0x00,
	0x00, 0x1f, 0x20, 0x10, 0x20, 0x78, 0xf0, 0xbf, 0x6a, 0x43, 0x48, 0x90,
	0xd0, 0xfd, 0xbf, 0x57, 0x81, 0x00, 0xc1, 0x88, 0xff, 0x4b, 0xf3, 0x1f,
	0xf8, 0xe4, 0xa8, 0xe0, 0x06, 0x0c, 0x11, 0xfd, 0x0f, 0x01,
}

// webpLossy8x8 is an 8×8 lossy WebP (`cwebp -q 90`) of the solid colour
// (200,100,50); libwebp's dwebp decodes it to (201,100,50).
var webpLossy8x8 = []byte{
	0x52, 0x49, 0x46, 0x46, 0x3e, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
	0x56, 0x50, 0x38, 0x20, 0x32, 0x00, 0x00, 0x00, 0xd0, 0x01, 0x00, 0x9d,
	0x01, 0x2a, 0x08, 0x00, 0x08, 0x00, 0x00, 0xc0, 0x12, 0x25, 0xa0, 0x02,
	0x74, 0xba, 0x01, 0xf8, 0x00, 0x03, 0xb0, 0x00, 0xfe, 0xda, 0x26, 0xff,
	0xee, 0xf3, 0x7e, 0xd3, 0xd7, 0xb4, 0xf5, 0xfd, 0x4c, 0xff, 0xf8, 0xca,
	0x9f, 0x20, 0x3f, 0xe3, 0x2a, 0x7f, 0xc5, 0xcc, 0x00, 0x00,
}

func TestWebP(t *testing.T) {
	img := mustDecode(t, webpLossless2x2, Options{})
	checkPix(t, img, 3, 2, 2, []int{255, 0, 0, 10, 0, 255, 0, 20, 0, 0, 255, 30}, 255, 0)

	img = mustDecode(t, webpLossy8x8, Options{})
	want := make([]int, 3*64)
	for i := range want {
		want[i] = []int{201, 100, 50}[i/64]
	}
	// lossy VP8 is limited-range YCbCr: a full-range conversion would be
	// off by ~10 levels here, so 2 levels of tolerance catch that mistake
	checkPix(t, img, 3, 8, 8, want, 255, 2.0/255)
}

// pngHeader builds a PNG signature plus a valid IHDR chunk (8-bit RGB)
// declaring w×h, and nothing else.
func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	data := make([]byte, 13)
	binary.BigEndian.PutUint32(data[0:], w)
	binary.BigEndian.PutUint32(data[4:], h)
	data[8], data[9] = 8, 2 // bit depth 8, colour type RGB
	chunk := append([]byte("IHDR"), data...)
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

func expectErr(t *testing.T, b []byte, opt Options, parts ...string) {
	t.Helper()
	_, err := Decode(bytes.NewReader(b), "dir/bad-file.png", opt)
	if err == nil {
		t.Fatalf("expected an error containing %q", parts)
	}
	for _, p := range append(parts, "dir/bad-file.png") {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

func TestRefusals(t *testing.T) {
	g := image.NewRGBA(image.Rect(0, 0, 32, 32))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range g.Pix {
		g.Pix[i] = uint8(rng.IntN(256)) // incompressible, so truncation cuts pixel data
	}
	good := encPNG(t, g)
	expectErr(t, good[:len(good)/2], Options{}, "truncated")
	expectErr(t, []byte("this is not an image at all, just some text"), Options{}, "unknown")
	expectErr(t, nil, Options{}, "empty")
	// corrupt: flip bytes inside the compressed data (CRC then fails)
	bad := append([]byte(nil), good...)
	for i := 100; i < 120; i++ {
		bad[i] ^= 0x55
	}
	expectErr(t, bad, Options{})

	// zero size: the PNG decoder refuses it itself; BMP needs our check
	expectErr(t, pngHeader(0, 10), Options{})
	var zb bytes.Buffer
	if err := bmp.Encode(&zb, image.NewRGBA(image.Rect(0, 0, 0, 0))); err != nil {
		t.Fatal(err)
	}
	expectErr(t, zb.Bytes(), Options{}, "zero size")

	// a 45-byte file declaring 100000×100000 pixels is refused from its
	// header, before any allocation for pixel data
	huge := pngHeader(100000, 100000)
	if len(huge) > 64 {
		t.Fatalf("header file unexpectedly large: %d", len(huge))
	}
	expectErr(t, huge, Options{}, "10000000000 pixels", "limit of 50000000")

	// explicit limit: a 32x32 image passes at 1024 and fails at 1023
	if _, err := Decode(bytes.NewReader(good), "ok", Options{MaxPixels: 1024}); err != nil {
		t.Fatal(err)
	}
	expectErr(t, good, Options{MaxPixels: 1023}, "1024 pixels")
}

func TestLoadNamesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "broken.jpg")
	if err := os.WriteFile(p, []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("error %v does not name %s", err, p)
	}
	if _, err := Load(filepath.Join(dir, "missing.png")); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Fatalf("error %v does not name the missing file", err)
	}
}

func TestLoadMaskAndCheck(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 4, 1))
	copy(g.Pix, []uint8{0, 1, 128, 255})
	p := filepath.Join(dir, "m_mask.png")
	if err := SavePNG(p, g); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMask(p)
	if err != nil {
		t.Fatal(err)
	}
	// Non-zero is a defect (MVTec's cut): even 1 of 255 counts.
	if want := []float32{0, 1, 1, 1}; m.H != 1 || m.W != 4 || !equalF(m.Pix, want) {
		t.Fatalf("mask %dx%d %v, want 4x1 %v", m.W, m.H, m.Pix, want)
	}
	// colour mask: any non-zero colour channel counts
	c := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	copy(c.Pix, []uint8{200, 0, 0, 255, 0, 0, 0, 255, 0, 0, 1, 255})
	if err := SavePNG(p, c); err != nil {
		t.Fatal(err)
	}
	if m, err = LoadMask(p); err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 0, 1}; !equalF(m.Pix, want) {
		t.Fatalf("colour mask %v, want %v", m.Pix, want)
	}
	img := New(3, 1, 3)
	if err := CheckMask(img, m, p); err != nil {
		t.Fatal(err)
	}
	err = CheckMask(New(3, 2, 3), m, p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "3x1") {
		t.Fatalf("size mismatch error %v", err)
	}
}

func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pngRaw builds a PNG with the given colour type and bit depth from raw
// (unfiltered) scanlines.
func pngRaw(t *testing.T, w, h int, depth, ctype byte, rows [][]byte) []byte {
	t.Helper()
	chunk := func(b []byte, typ string, data []byte) []byte {
		c := append([]byte(typ), data...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		b = append(b, c...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(c))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, depth, ctype, 0, 0, 0)
	var raw bytes.Buffer
	for _, r := range rows {
		raw.WriteByte(0) // filter: none
		raw.Write(r)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	b := chunk([]byte("\x89PNG\r\n\x1a\n"), "IHDR", ihdr)
	b = chunk(b, "IDAT", z.Bytes())
	return chunk(b, "IEND", nil)
}

func TestPNGGrayAlphaStaysGray(t *testing.T) {
	// 8-bit gray+alpha: (gray, alpha) pairs
	b := pngRaw(t, 3, 1, 8, 4, [][]byte{{10, 255, 200, 0, 77, 128}})
	img := mustDecode(t, b, Options{})
	checkPix(t, img, 1, 1, 3, []int{10, 200, 77}, 255, 0)
	// 16-bit gray+alpha
	b = pngRaw(t, 2, 1, 16, 4, [][]byte{{0x12, 0x34, 0xff, 0xff, 0xab, 0xcd, 0x80, 0x00}})
	img = mustDecode(t, b, Options{})
	checkPix(t, img, 1, 1, 2, []int{0x1234, 0xabcd}, 65535, 1e-6)
	// the hand-built writer itself is checked on an RGB file
	b = pngRaw(t, 1, 1, 8, 2, [][]byte{{1, 2, 3}})
	img = mustDecode(t, b, Options{})
	checkPix(t, img, 3, 1, 1, []int{1, 2, 3}, 255, 0)
}

// FuzzDecode checks that no input makes decoding panic or return an
// inconsistent image. `go test` runs the seeds; `go test -fuzz` explores.
func FuzzDecode(f *testing.F) {
	g := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	var b bytes.Buffer
	png.Encode(&b, g)
	f.Add(b.Bytes())
	f.Add(webpLossless2x2)
	f.Add(webpLossy8x8)
	f.Add(pngHeader(5, 5))
	b.Reset()
	bmp.Encode(&b, g)
	f.Add(b.Bytes())
	b.Reset()
	tiff.Encode(&b, g, nil)
	f.Add(b.Bytes())
	b.Reset()
	jpeg.Encode(&b, g, nil)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(bytes.NewReader(data), "fuzz", Options{MaxPixels: 1 << 16})
		if err != nil {
			return
		}
		if img.C < 1 || img.H < 1 || img.W < 1 || len(img.Pix) != img.C*img.H*img.W {
			t.Fatalf("inconsistent image %dx%dx%d with %d values", img.C, img.H, img.W, len(img.Pix))
		}
	})
}
