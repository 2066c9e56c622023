package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // registered so GIF masks/images decode too
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// DefaultMaxPixels is the pixel limit used when Options.MaxPixels is 0.
const DefaultMaxPixels = 50_000_000

// Options controls decoding.
type Options struct {
	// MaxPixels refuses images with more than this many pixels (width ×
	// height), checked on the header before any pixel data is decompressed.
	// 0 means DefaultMaxPixels.
	MaxPixels int
}

func (o Options) maxPixels() int64 {
	if o.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return int64(o.MaxPixels)
}

// Load decodes the image file at path with default options.
//
// Supported formats are PNG, JPEG, GIF, BMP, TIFF and WebP, 8 or 16 bits per
// sample. Gray images (with or without alpha) give 1 channel, everything
// else 3 channels (RGB): an alpha channel is dropped (colours are taken un-premultiplied, as if the
// image were opaque), and a paletted image gives 1 channel when every palette
// entry is gray, else 3. Values are scaled to [0,1]. Lossy WebP is
// converted with its own limited-range BT.601 matrix, JPEG with JFIF's.
// EXIF orientation tags are not applied.
func Load(path string) (*Image, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with explicit options.
func LoadWith(path string, opt Options) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	return decodeBytes(b, path, opt)
}

// Decode reads an encoded image from r; name identifies it in errors.
// See Load for the formats and the channel conventions.
func Decode(r io.Reader, name string, opt Options) (*Image, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("imageio: reading %s: %w", name, err)
	}
	return decodeBytes(b, name, opt)
}

// decodeGo checks the header (format, size, pixel limit) and then decodes
// the pixel data into a Go image.
func decodeGo(b []byte, name string, opt Options) (g image.Image, format string, err error) {
	// third-party decoders have panicked on hostile input before; a bad
	// file must give an error, never bring the process down
	defer func() {
		if r := recover(); r != nil {
			g, format, err = nil, "", fmt.Errorf("imageio: %s: corrupt image data (decoder panic: %v)", name, r)
		}
	}()
	if len(b) == 0 {
		return nil, "", fmt.Errorf("imageio: %s: empty file", name)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, "", fmt.Errorf("imageio: %s: unknown or unsupported image format", name)
		}
		return nil, "", fmt.Errorf("imageio: %s: bad image header: %w", name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", fmt.Errorf("imageio: %s: %s image has zero size (%dx%d)", name, format, cfg.Width, cfg.Height)
	}
	if n := int64(cfg.Width) * int64(cfg.Height); n > opt.maxPixels() {
		return nil, "", fmt.Errorf("imageio: %s: %dx%d image has %d pixels, more than the limit of %d",
			name, cfg.Width, cfg.Height, n, opt.maxPixels())
	}
	g, _, err = image.Decode(bytes.NewReader(b))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, "", fmt.Errorf("imageio: %s: truncated %s data: %w", name, format, err)
		}
		// decoders report a cut-off compressed stream in many ways
		return nil, "", fmt.Errorf("imageio: %s: corrupt or truncated %s data: %w", name, format, err)
	}
	r := g.Bounds()
	if r.Dx() != cfg.Width || r.Dy() != cfg.Height {
		return nil, "", fmt.Errorf("imageio: %s: decoded size %dx%d differs from header %dx%d",
			name, r.Dx(), r.Dy(), cfg.Width, cfg.Height)
	}
	return g, format, nil
}

func decodeBytes(b []byte, name string, opt Options) (*Image, error) {
	g, format, err := decodeGo(b, name, opt)
	if err != nil {
		return nil, err
	}
	if format == "webp" {
		// x/image/webp returns lossy VP8 data as image.YCbCr, whose JPEG
		// (full-range) conversion is wrong for VP8's limited-range BT.601
		// samples (golang/go#40173); convert them correctly here.
		switch y := g.(type) {
		case *image.YCbCr:
			return fromYCbCrLimited(y), nil
		case *image.NYCbCrA:
			return fromYCbCrLimited(&y.YCbCr), nil
		}
	}
	img := FromGoImage(g)
	if format == "png" && img.C == 3 && pngGrayAlpha(b) {
		// image/png returns gray+alpha as NRGBA with R=G=B; keep it gray
		img = &Image{C: 1, H: img.H, W: img.W, Pix: append([]float32(nil), img.Pix[:img.H*img.W]...)}
	}
	return img, nil
}

// pngGrayAlpha reports whether a PNG's IHDR declares colour type 4 (gray
// with alpha). The IHDR is always the first chunk, at a fixed offset.
func pngGrayAlpha(b []byte) bool {
	return len(b) > 25 && string(b[12:16]) == "IHDR" && b[25] == 4
}

// lut8 maps an 8-bit sample to [0,1] without a division per pixel.
var lut8 = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return
}()

const inv65535 = 1.0 / 65535

// FromGoImage converts a Go image to a CHW float image in [0,1] with the
// channel conventions described at Load. The common concrete types produced
// by the decoders are converted without per-pixel interface calls.
func FromGoImage(g image.Image) *Image {
	r := g.Bounds()
	w, h := r.Dx(), r.Dy()
	switch s := g.(type) {
	case *image.Gray:
		out := New(1, h, w)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			dst := out.Pix[y*w : (y+1)*w]
			for x, v := range row {
				dst[x] = lut8[v]
			}
		}
		return out
	case *image.Gray16:
		out := New(1, h, w)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+2*w]
			dst := out.Pix[y*w : (y+1)*w]
			for x := range dst {
				dst[x] = float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) * inv65535
			}
		}
		return out
	case *image.NRGBA:
		out := New(3, h, w)
		pr, pg, pb := out.Plane(0), out.Plane(1), out.Plane(2)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+4*w]
			o := y * w
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4 : 4*x+4]
				pr[o+x], pg[o+x], pb[o+x] = lut8[p[0]], lut8[p[1]], lut8[p[2]]
			}
		}
		return out
	case *image.RGBA:
		out := New(3, h, w)
		pr, pg, pb := out.Plane(0), out.Plane(1), out.Plane(2)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+4*w]
			o := y * w
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4 : 4*x+4]
				switch a := p[3]; a {
				case 255:
					pr[o+x], pg[o+x], pb[o+x] = lut8[p[0]], lut8[p[1]], lut8[p[2]]
				case 0:
					// fully transparent: the colour is unknown, leave 0
				default:
					// un-premultiply so dropping alpha keeps the straight colour
					f := 1 / float32(a)
					pr[o+x], pg[o+x], pb[o+x] = float32(p[0])*f, float32(p[1])*f, float32(p[2])*f
				}
			}
		}
		return out
	case *image.RGBA64:
		out := New(3, h, w)
		pr, pg, pb := out.Plane(0), out.Plane(1), out.Plane(2)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+8*w]
			o := y * w
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8 : 8*x+8]
				rr := float32(uint16(p[0])<<8 | uint16(p[1]))
				gg := float32(uint16(p[2])<<8 | uint16(p[3]))
				bb := float32(uint16(p[4])<<8 | uint16(p[5]))
				a := float32(uint16(p[6])<<8 | uint16(p[7]))
				if a == 0 {
					continue
				}
				f := 1 / a
				pr[o+x], pg[o+x], pb[o+x] = rr*f, gg*f, bb*f
			}
		}
		return out
	case *image.NRGBA64:
		out := New(3, h, w)
		pr, pg, pb := out.Plane(0), out.Plane(1), out.Plane(2)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+8*w]
			o := y * w
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8 : 8*x+8]
				pr[o+x] = float32(uint16(p[0])<<8|uint16(p[1])) * inv65535
				pg[o+x] = float32(uint16(p[2])<<8|uint16(p[3])) * inv65535
				pb[o+x] = float32(uint16(p[4])<<8|uint16(p[5])) * inv65535
			}
		}
		return out
	case *image.YCbCr:
		return fromYCbCr(s, w, h)
	case *image.NYCbCrA:
		return fromYCbCr(&s.YCbCr, w, h)
	case *image.Paletted:
		return fromPaletted(s, w, h)
	}
	return fromGeneric(g, w, h)
}

// fromYCbCr converts with the same integer arithmetic as color.YCbCrToRGB,
// so results equal the generic path bit for bit.
func fromYCbCr(s *image.YCbCr, w, h int) *Image {
	out := New(3, h, w)
	pr, pg, pb := out.Plane(0), out.Plane(1), out.Plane(2)
	cx, crow := chromaIndex(s)
	for y := 0; y < h; y++ {
		yrow := s.Y[y*s.YStride : y*s.YStride+w]
		cb, cr := s.Cb[crow[y]:], s.Cr[crow[y]:]
		o := y * w
		for x, yy := range yrow {
			// color.YCbCrToRGB, written out so it inlines (it is not)
			yy1 := int32(yy) * 0x10101
			cb1 := int32(cb[cx[x]]) - 128
			cr1 := int32(cr[cx[x]]) - 128
			pr[o+x] = lut8[clip16(yy1+91881*cr1)]
			pg[o+x] = lut8[clip16(yy1-22554*cb1-46802*cr1)]
			pb[o+x] = lut8[clip16(yy1+116130*cb1)]
		}
	}
	return out
}

// clip16 returns v>>16 clamped to [0,255], as color.YCbCrToRGB does.
func clip16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// fromYCbCrLimited converts limited-range ("video", Y in 16..235) BT.601
// samples, as stored by lossy WebP, to RGB in [0,1].
func fromYCbCrLimited(s *image.YCbCr) *Image {
	w, h := s.Rect.Dx(), s.Rect.Dy()
	out := New(3, h, w)
	pr, pg, pb := out.Plane(0), out.Plane(1), out.Plane(2)
	cx, crow := chromaIndex(s)
	const k = 1.0 / 255
	for y := 0; y < h; y++ {
		yrow := s.Y[y*s.YStride : y*s.YStride+w]
		cbr, crr := s.Cb[crow[y]:], s.Cr[crow[y]:]
		o := y * w
		for x, yy := range yrow {
			l := 1.164383 * (float32(yy) - 16)
			u, v := float32(cbr[cx[x]])-128, float32(crr[cx[x]])-128
			pr[o+x] = min(max((l+1.596027*v)*k, 0), 1)
			pg[o+x] = min(max((l-0.391762*u-0.812968*v)*k, 0), 1)
			pb[o+x] = min(max((l+2.017232*u)*k, 0), 1)
		}
	}
	return out
}

// chromaIndex returns, for an image.YCbCr, the chroma column of each luma
// column and the chroma row offset of each luma row, computed exactly as
// image.YCbCr.COffset does (so sub-images at odd offsets work).
func chromaIndex(s *image.YCbCr) (cx, crow []int) {
	w, h := s.Rect.Dx(), s.Rect.Dy()
	dx, dy := 1, 1 // luma samples per chroma sample
	switch s.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		dx = 2
	case image.YCbCrSubsampleRatio420:
		dx, dy = 2, 2
	case image.YCbCrSubsampleRatio440:
		dy = 2
	case image.YCbCrSubsampleRatio411:
		dx = 4
	case image.YCbCrSubsampleRatio410:
		dx, dy = 4, 2
	}
	x0, y0 := s.Rect.Min.X, s.Rect.Min.Y
	cx = make([]int, w)
	for x := range cx {
		cx[x] = (x0+x)/dx - x0/dx
	}
	crow = make([]int, h)
	for y := range crow {
		crow[y] = ((y0+y)/dy - y0/dy) * s.CStride
	}
	return cx, crow
}

func fromPaletted(s *image.Paletted, w, h int) *Image {
	// resolve the palette once: straight (un-premultiplied) 8-bit-scaled RGB
	n := len(s.Palette)
	pal := make([][3]float32, 256)
	gray := true
	for i := 0; i < n; i++ {
		c := color.NRGBA64Model.Convert(s.Palette[i]).(color.NRGBA64)
		pal[i] = [3]float32{float32(c.R) * inv65535, float32(c.G) * inv65535, float32(c.B) * inv65535}
		if c.R != c.G || c.G != c.B {
			gray = false
		}
	}
	// indices beyond the palette render as black, as in image.Paletted.At
	ch := 3
	if gray {
		ch = 1
	}
	out := New(ch, h, w)
	hw := h * w
	for y := 0; y < h; y++ {
		row := s.Pix[y*s.Stride : y*s.Stride+w]
		o := y * w
		for x, idx := range row {
			p := &pal[idx]
			if ch == 1 {
				out.Pix[o+x] = p[0]
			} else {
				out.Pix[o+x], out.Pix[hw+o+x], out.Pix[2*hw+o+x] = p[0], p[1], p[2]
			}
		}
	}
	return out
}

// fromGeneric handles every other image type (CMYK, Alpha, custom) through
// the color interface; it is slow but complete.
func fromGeneric(g image.Image, w, h int) *Image {
	r := g.Bounds()
	m := g.ColorModel()
	if m == color.GrayModel || m == color.Gray16Model || m == color.AlphaModel || m == color.Alpha16Model {
		out := New(1, h, w)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.Gray16Model.Convert(g.At(r.Min.X+x, r.Min.Y+y)).(color.Gray16)
				out.Pix[y*w+x] = float32(c.Y) * inv65535
			}
		}
		return out
	}
	out := New(3, h, w)
	hw := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA64Model.Convert(g.At(r.Min.X+x, r.Min.Y+y)).(color.NRGBA64)
			i := y*w + x
			out.Pix[i] = float32(c.R) * inv65535
			out.Pix[hw+i] = float32(c.G) * inv65535
			out.Pix[2*hw+i] = float32(c.B) * inv65535
		}
	}
	return out
}

// LoadMask reads a ground-truth mask in any supported format: a pixel is
// anomalous (1) when any of its channels is non-zero (IsDefect), else 0.
func LoadMask(path string) (*Map, error) { return LoadMaskWith(path, Options{}) }

// LoadMaskWith is LoadMask with explicit options.
func LoadMaskWith(path string, opt Options) (*Map, error) {
	img, err := LoadWith(path, opt)
	if err != nil {
		return nil, err
	}
	return MaskFromImage(img), nil
}

// MaskFromImage turns an image into a 0/1 mask: 1 where any channel is a
// defect by IsDefect (non-zero).
func MaskFromImage(img *Image) *Map {
	m := NewMap(img.H, img.W)
	hw := img.H * img.W
	for c := 0; c < img.C; c++ {
		pl := img.Pix[c*hw : (c+1)*hw]
		for i, v := range pl {
			if IsDefect(v) {
				m.Pix[i] = 1
			}
		}
	}
	return m
}

// CheckMask refuses a mask whose size differs from its image; maskPath
// names the mask file in the error.
func CheckMask(img *Image, m *Map, maskPath string) error {
	if img == nil || m == nil {
		return fmt.Errorf("imageio: %s: missing image or mask", maskPath)
	}
	if m.H != img.H || m.W != img.W {
		return fmt.Errorf("imageio: mask %s is %dx%d but its image is %dx%d", maskPath, m.W, m.H, img.W, img.H)
	}
	return nil
}
