package train

import (
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/imageio"
)

// augmentCrop writes the ph×pw crop of m at (y0, x0), augmented by a, to
// out ([C,ph,pw]). Random draws happen in a fixed order, so the result is
// a function of rng's state. Values are not clipped to [0,1]: noise and
// jitter keep their exact statistics.
func augmentCrop(rng *rand.Rand, m *imageio.Image, y0, x0, ph, pw int, a Augment, out []float32) {
	if a.affine() {
		theta := (2*rng.Float64() - 1) * a.Rotate * math.Pi / 180
		scale := 1 + (2*rng.Float64()-1)*a.Scale
		ty := (2*rng.Float64() - 1) * a.Shift * float64(ph)
		tx := (2*rng.Float64() - 1) * a.Shift * float64(pw)
		affineCrop(m, y0, x0, ph, pw, theta, scale, ty, tx, out)
	} else {
		copyCrop(m, y0, x0, ph, pw, out)
	}
	if a.HFlip && rng.IntN(2) == 1 {
		hflip(out, m.C, ph, pw)
	}
	if a.VFlip && rng.IntN(2) == 1 {
		vflip(out, m.C, ph, pw)
	}
	if a.Rot90 {
		if ph == pw {
			for range rng.IntN(4) {
				rot90(out, m.C, ph)
			}
		} else if rng.IntN(2) == 1 { // 180°: the only quarter turn that keeps a non-square shape
			hflip(out, m.C, ph, pw)
			vflip(out, m.C, ph, pw)
		}
	}
	if a.Brightness != 0 || a.Contrast != 0 {
		b := float32((2*rng.Float64() - 1) * a.Brightness)
		f := float32(1 + (2*rng.Float64()-1)*a.Contrast)
		jitter(out, b, f)
	}
	if a.Noise != 0 {
		for i := range out {
			out[i] += float32(rng.NormFloat64() * a.Noise)
		}
	}
}

// affineCrop samples the crop of m at (y0, x0) under a rotation by theta
// (radians, counter-clockwise as displayed, like rot90), a zoom by scale
// and a shift (ty, tx) in pixels, all about the crop's centre: output
// pixel d shows the image at centre + R(−theta)·(d − t)/scale. Pixels come from the whole image, so a
// rotated crop shows real content at its corners; beyond the image's
// border the edge is replicated. Bilinear interpolation; with zero
// parameters every sample lands on a pixel centre and the crop is copied
// exactly.
func affineCrop(m *imageio.Image, y0, x0, ph, pw int, theta, scale, ty, tx float64, out []float32) {
	cy, cx := float64(y0)+float64(ph-1)/2, float64(x0)+float64(pw-1)/2
	cos, sin := math.Cos(theta)/scale, math.Sin(theta)/scale
	plane := ph * pw
	for y := range ph {
		dy := float64(y) - float64(ph-1)/2 - ty
		for x := range pw {
			dx := float64(x) - float64(pw-1)/2 - tx
			// Inverse rotation of (dx, dy); y points down, so a displayed
			// counter-clockwise turn is clockwise in these coordinates.
			sx := cx + cos*dx - sin*dy
			sy := cy + sin*dx + cos*dy
			bilinear(m, sy, sx, out[y*pw+x:], plane)
		}
	}
}

// bilinear writes m's C values at (sy, sx), edge-replicated, to out[0],
// out[stride], out[2·stride]...
func bilinear(m *imageio.Image, sy, sx float64, out []float32, stride int) {
	sy = min(max(sy, 0), float64(m.H-1))
	sx = min(max(sx, 0), float64(m.W-1))
	iy, ix := int(sy), int(sx)
	fy, fx := float32(sy-float64(iy)), float32(sx-float64(ix))
	iy1, ix1 := min(iy+1, m.H-1), min(ix+1, m.W-1)
	for c := range m.C {
		p := m.Pix[c*m.H*m.W:]
		v := p[iy*m.W+ix]
		// Exact copies on the pixel grid: no 0·neighbour terms added.
		if fx != 0 {
			v += fx * (p[iy*m.W+ix1] - v)
		}
		if fy != 0 {
			w := p[iy1*m.W+ix]
			if fx != 0 {
				w += fx * (p[iy1*m.W+ix1] - w)
			}
			v += fy * (w - v)
		}
		out[c*stride] = v
	}
}

// hflip mirrors each row of the [c,h,w] planes in place.
func hflip(t []float32, c, h, w int) {
	for r := range c * h {
		row := t[r*w : (r+1)*w]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			row[i], row[j] = row[j], row[i]
		}
	}
}

// vflip mirrors each [h,w] plane top to bottom in place.
func vflip(t []float32, c, h, w int) {
	for ch := range c {
		p := t[ch*h*w : (ch+1)*h*w]
		for i, j := 0, h-1; i < j; i, j = i+1, j-1 {
			a, b := p[i*w:(i+1)*w], p[j*w:(j+1)*w]
			for k := range w {
				a[k], b[k] = b[k], a[k]
			}
		}
	}
}

// rot90 rotates each n×n plane by 90° counter-clockwise in place
// (out[y][x] = in[x][n−1−y]), cycling four cells at a time.
func rot90(t []float32, c, n int) {
	for ch := range c {
		p := t[ch*n*n : (ch+1)*n*n]
		for y := range n / 2 {
			for x := y; x < n-1-y; x++ {
				a := p[y*n+x]
				p[y*n+x] = p[x*n+n-1-y]
				p[x*n+n-1-y] = p[(n-1-y)*n+n-1-x]
				p[(n-1-y)*n+n-1-x] = p[(n-1-x)*n+y]
				p[(n-1-x)*n+y] = a
			}
		}
	}
}

// jitter applies v ← (v − mean)·f + mean + b over the whole crop: contrast
// f about the crop's mean, then brightness b.
func jitter(t []float32, b, f float32) {
	var sum float64
	for _, v := range t {
		sum += float64(v)
	}
	mean := float32(sum / float64(len(t)))
	for i, v := range t {
		t[i] = (v-mean)*f + mean + b
	}
}
