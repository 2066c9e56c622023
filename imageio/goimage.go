package imageio

import (
	"image"
	"image/png"
	"io"

	"github.com/vigil-ad/vigil/internal/atomicfile"
)

// to8 quantises a [0,1] value to 8 bits, clamping out-of-range values.
func to8(v float32) uint8 {
	switch {
	case v <= 0 || v != v: // NaN maps to 0
		return 0
	case v >= 1:
		return 255
	}
	return uint8(v*255 + 0.5)
}

// ToGoImage converts to an 8-bit Go image: *image.Gray for a 1-channel
// image, *image.NRGBA (opaque) for 3 or more channels (the first three are
// used), *image.Gray of the first channel otherwise. Values are clamped to
// [0,1] and rounded.
func (m *Image) ToGoImage() image.Image {
	hw := m.H * m.W
	if m.C >= 3 {
		g := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
		r, gg, b := m.Pix[:hw], m.Pix[hw:2*hw], m.Pix[2*hw:3*hw]
		for y := 0; y < m.H; y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+4*m.W]
			for x := 0; x < m.W; x++ {
				i := y*m.W + x
				row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = to8(r[i]), to8(gg[i]), to8(b[i]), 255
			}
		}
		return g
	}
	g := image.NewGray(image.Rect(0, 0, m.W, m.H))
	for y := 0; y < m.H; y++ {
		row := g.Pix[y*g.Stride : y*g.Stride+m.W]
		for x := range row {
			row[x] = to8(m.Pix[y*m.W+x])
		}
	}
	return g
}

// ToGoImage converts a map to an 8-bit gray image, clamping to [0,1]
// (a 0/1 mask becomes 0/255).
func (m *Map) ToGoImage() image.Image {
	return (&Image{C: 1, H: m.H, W: m.W, Pix: m.Pix}).ToGoImage()
}

// SavePNG writes img as a PNG file atomically: the data goes to a temporary
// file next to path that is renamed into place only when complete.
func SavePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		return png.Encode(w, img)
	})
}
