// Package imageio decodes images into float32 planes and does the geometric
// and photometric preprocessing every detector shares.
package imageio

// Image is a decoded image: C planes of H×W float32 values in [0,1],
// stored channel-major (CHW), index c*H*W + y*W + x.
type Image struct {
	C, H, W int
	Pix     []float32
}

// New returns a zeroed C×H×W image.
func New(c, h, w int) *Image {
	return &Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// At returns the value of channel c at (y, x).
func (m *Image) At(c, y, x int) float32 { return m.Pix[(c*m.H+y)*m.W+x] }

// Set stores v in channel c at (y, x).
func (m *Image) Set(c, y, x int, v float32) { m.Pix[(c*m.H+y)*m.W+x] = v }

// Plane returns channel c as a slice aliasing Pix.
func (m *Image) Plane(c int) []float32 { return m.Pix[c*m.H*m.W : (c+1)*m.H*m.W] }

// Clone returns a deep copy.
func (m *Image) Clone() *Image {
	return &Image{C: m.C, H: m.H, W: m.W, Pix: append([]float32(nil), m.Pix...)}
}

// Map is a single-channel H×W float32 grid: an anomaly map (any real
// values) or a ground-truth mask (0 normal, 1 anomalous).
type Map struct {
	H, W int
	Pix  []float32 // row-major, index y*W + x
}

// IsDefect is the one ground-truth mask cut of the project: a mask pixel
// marks a defect when it is non-zero, as in the MVTec AD and MVTec LOCO AD
// evaluation code (scipy labels and numpy bool casts of the integer masks).
// Masks resized with interpolation therefore grow by their fringe; resize
// anomaly maps to the mask instead. NaN counts as a defect (it is non-zero),
// so a corrupt mask never silently loses defect pixels.
func IsDefect(v float32) bool { return v != 0 }

// NewMap returns a zeroed H×W map.
func NewMap(h, w int) *Map { return &Map{H: h, W: w, Pix: make([]float32, h*w)} }

// At returns the value at (y, x).
func (m *Map) At(y, x int) float32 { return m.Pix[y*m.W+x] }

// Set stores v at (y, x).
func (m *Map) Set(y, x int, v float32) { m.Pix[y*m.W+x] = v }

// Clone returns a deep copy.
func (m *Map) Clone() *Map { return &Map{H: m.H, W: m.W, Pix: append([]float32(nil), m.Pix...)} }
