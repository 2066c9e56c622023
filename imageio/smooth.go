package imageio

import "math"

// GaussianKernel returns the normalised 1-D Gaussian weights w[0..2r] for
// offsets −r..r with r = ceil(4·sigma) (the truncation anomalib's sigma-4
// smoothing uses). sigma <= 0 gives the identity kernel [1].
func GaussianKernel(sigma float64) []float32 {
	if !(sigma > 0) || math.IsInf(sigma, 0) {
		return []float32{1}
	}
	r := int(math.Ceil(4 * sigma))
	w := make([]float64, 2*r+1)
	sum := 0.0
	for i := -r; i <= r; i++ {
		v := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		w[i+r] = v
		sum += v
	}
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = float32(v / sum)
	}
	return out
}

// Reflect maps an out-of-range index into [0, n) by mirroring about the
// edge pixels without repeating them (… 2 1 | 0 1 2 … n−1 | n−2 …), the
// "reflect" padding of PyTorch/kornia; it repeats as often as needed for
// kernels wider than the map.
func Reflect(i, n int) int {
	if n == 1 {
		return 0
	}
	p := 2 * (n - 1)
	i %= p
	if i < 0 {
		i += p
	}
	if i >= n {
		i = p - i
	}
	return i
}

// GaussianSmooth convolves m with a 2-D Gaussian of standard deviation
// sigma (in pixels): separable, kernel radius ceil(4·sigma), weights
// normalised to sum 1, reflect border (see Reflect), so a constant map
// stays constant. sigma <= 0 returns a copy.
func GaussianSmooth(m *Map, sigma float64) *Map {
	k := GaussianKernel(sigma)
	if len(k) == 1 {
		return m.Clone()
	}
	r := len(k) / 2
	h, w := m.H, m.W
	tmp := NewMap(h, w)
	// Both passes are written as row-wise "dst += k[j] × shifted row"
	// updates over contiguous memory, folding the symmetric taps
	// (k[r−j] == k[r+j]) to halve the multiplications.
	//
	// Horizontal pass through a reflect-padded row buffer.
	pad := make([]float32, w+2*r)
	for y := 0; y < h; y++ {
		row := m.Pix[y*w : (y+1)*w]
		copy(pad[r:], row)
		for i := 0; i < r; i++ {
			pad[i] = row[Reflect(i-r, w)]
			pad[r+w+i] = row[Reflect(w+i, w)]
		}
		dst := tmp.Pix[y*w : (y+1)*w]
		c, kc := pad[r:r+w], k[r]
		c = c[:len(dst)]
		for x := range dst {
			dst[x] = kc * c[x]
		}
		for j := 1; j <= r; j++ {
			a, b, kj := pad[r-j:r-j+w], pad[r+j:r+j+w], k[r+j]
			a, b = a[:len(dst)], b[:len(dst)] // lets the compiler drop bounds checks
			for x := range dst {
				dst[x] += kj * (a[x] + b[x])
			}
		}
	}
	// Vertical pass row by row: out row y accumulates k[r±j] × tmp rows
	// Reflect(y±j).
	out := NewMap(h, w)
	for y := 0; y < h; y++ {
		dst := out.Pix[y*w : (y+1)*w]
		c, kc := tmp.Pix[y*w:(y+1)*w], k[r]
		c = c[:len(dst)]
		for x := range dst {
			dst[x] = kc * c[x]
		}
		for j := 1; j <= r; j++ {
			ya, yb := Reflect(y-j, h), Reflect(y+j, h)
			a, b, kj := tmp.Pix[ya*w:(ya+1)*w], tmp.Pix[yb*w:(yb+1)*w], k[r+j]
			a, b = a[:len(dst)], b[:len(dst)]
			for x := range dst {
				dst[x] += kj * (a[x] + b[x])
			}
		}
	}
	return out
}
