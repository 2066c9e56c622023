package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// randImage returns a c×h×w image of seeded uniform values.
func randImage(seed uint64, c, h, w int) *imageio.Image {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := imageio.New(c, h, w)
	for i := range m.Pix {
		m.Pix[i] = rng.Float32()
	}
	return m
}

func TestFlipsAndRot90(t *testing.T) {
	const c, h, w = 2, 5, 7
	m := randImage(1, c, h, w)
	orig := slices.Clone(m.Pix)

	x := slices.Clone(orig)
	hflip(x, c, h, w)
	for ch := range c {
		for y := range h {
			for xx := range w {
				if x[(ch*h+y)*w+xx] != m.At(ch, y, w-1-xx) {
					t.Fatalf("hflip at %d,%d,%d", ch, y, xx)
				}
			}
		}
	}
	hflip(x, c, h, w)
	if !slices.Equal(x, orig) {
		t.Fatal("hflip twice is not the identity")
	}

	vflip(x, c, h, w)
	for ch := range c {
		for y := range h {
			for xx := range w {
				if x[(ch*h+y)*w+xx] != m.At(ch, h-1-y, xx) {
					t.Fatalf("vflip at %d,%d,%d", ch, y, xx)
				}
			}
		}
	}
	vflip(x, c, h, w)
	if !slices.Equal(x, orig) {
		t.Fatal("vflip twice is not the identity")
	}

	for _, n := range []int{1, 2, 5, 6} {
		sq := randImage(2, c, n, n)
		x := slices.Clone(sq.Pix)
		rot90(x, c, n)
		// np.rot90: out[y][x] = in[x][n-1-y] (the top-right corner moves to the top left).
		for ch := range c {
			for y := range n {
				for xx := range n {
					if x[(ch*n+y)*n+xx] != sq.At(ch, xx, n-1-y) {
						t.Fatalf("rot90 n=%d at %d,%d,%d", n, ch, y, xx)
					}
				}
			}
		}
		for range 3 {
			rot90(x, c, n)
		}
		if !slices.Equal(x, sq.Pix) {
			t.Fatalf("rot90 four times is not the identity (n=%d)", n)
		}
	}
}

func TestAffineCrop(t *testing.T) {
	const c, h, w, p = 3, 12, 11, 5
	m := randImage(3, c, h, w)
	want := make([]float32, c*p*p)
	got := make([]float32, c*p*p)
	for _, o := range [][2]int{{0, 0}, {3, 4}, {7, 6}} {
		copyCrop(m, o[0], o[1], p, p, want)
		affineCrop(m, o[0], o[1], p, p, 0, 1, 0, 0, got)
		if !slices.Equal(got, want) {
			t.Fatalf("zero affine at %v is not the identity", o)
		}
	}
	// A quarter turn inside the image is rot90, up to rounding of cos(π/2).
	copyCrop(m, 3, 3, p, p, want)
	rot90(want, c, p)
	affineCrop(m, 3, 3, p, p, math.Pi/2, 1, 0, 0, got)
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("rotate 90 differs from rot90 at %d: %v vs %v", i, got[i], want[i])
		}
	}
	// A shift by (1, -2) pixels moves the content down 1 and left 2.
	affineCrop(m, 4, 4, p, p, 0, 1, 1, -2, got)
	for ch := range c {
		for y := range p {
			for x := range p {
				if v := m.At(ch, 4+y-1, 4+x+2); got[(ch*p+y)*p+x] != v {
					t.Fatalf("shift at %d,%d,%d: %v want %v", ch, y, x, got[(ch*p+y)*p+x], v)
				}
			}
		}
	}
	// Zoom 2 about the centre pixel (6,6) of an odd crop: output (y,x)
	// shows (6+(y-2)/2, 6+(x-2)/2), the bilinear mean at half steps.
	affineCrop(m, 4, 4, p, p, 0, 2, 0, 0, got)
	for ch := range c {
		for y := range p {
			for x := range p {
				sy, sx := 6+float64(y-2)/2, 6+float64(x-2)/2
				y0, x0 := int(math.Floor(sy)), int(math.Floor(sx))
				fy, fx := sy-float64(y0), sx-float64(x0)
				at := func(yy, xx int) float64 { return float64(m.At(ch, yy, xx)) }
				v := (1-fy)*((1-fx)*at(y0, x0)+fx*at(y0, x0+1)) + fy*((1-fx)*at(y0+1, x0)+fx*at(y0+1, x0+1))
				if math.Abs(float64(got[(ch*p+y)*p+x])-v) > 1e-6 {
					t.Fatalf("zoom at %d,%d,%d: %v want %v", ch, y, x, got[(ch*p+y)*p+x], v)
				}
			}
		}
	}
	// Past the border the edge is replicated: a big shift of a corner crop
	// shows only first-row/first-column values.
	affineCrop(m, 0, 0, p, p, 0, 1, 40, 40, got)
	for ch := range c {
		for i := range p * p {
			if got[ch*p*p+i] != m.At(ch, 0, 0) {
				t.Fatalf("edge replication: %v, want %v", got[ch*p*p+i], m.At(ch, 0, 0))
			}
		}
	}
}

// Brightness shifts a whole crop by one constant in [-B, B]; contrast
// keeps the crop mean and scales its spread by a factor in [1-C, 1+C];
// noise adds zero-mean values of standard deviation σ.
func TestPhotometricStatistics(t *testing.T) {
	const p = 6
	m := randImage(4, 1, p, p)
	orig := slices.Clone(m.Pix)
	rng := rand.New(rand.NewPCG(9, 9))
	out := make([]float32, p*p)
	const B, C = 0.2, 0.3
	var sumB, sumB2 float64
	const trials = 4000
	for range trials {
		augmentCrop(rng, m, 0, 0, p, p, Augment{Brightness: B}, out)
		d := float64(out[0] - orig[0])
		for i := range out {
			if math.Abs(float64(out[i]-orig[i])-d) > 1e-6 {
				t.Fatal("brightness is not one constant per crop")
			}
		}
		if math.Abs(d) > B+1e-6 {
			t.Fatalf("brightness %v outside ±%v", d, B)
		}
		sumB += d
		sumB2 += d * d
	}
	// Uniform on [-B, B]: mean 0, variance B²/3.
	mean, vr := sumB/trials, sumB2/trials-(sumB/trials)*(sumB/trials)
	if math.Abs(mean) > 0.01 || math.Abs(vr-B*B/3)/(B*B/3) > 0.1 {
		t.Fatalf("brightness mean %v variance %v, want 0 and %v", mean, vr, B*B/3)
	}

	stats := func(v []float32) (mean, std float64) {
		for _, x := range v {
			mean += float64(x)
		}
		mean /= float64(len(v))
		for _, x := range v {
			std += (float64(x) - mean) * (float64(x) - mean)
		}
		return mean, math.Sqrt(std / float64(len(v)))
	}
	m0, s0 := stats(orig)
	lo, hi := math.Inf(1), math.Inf(-1)
	for range 500 {
		augmentCrop(rng, m, 0, 0, p, p, Augment{Contrast: C}, out)
		m1, s1 := stats(out)
		if math.Abs(m1-m0) > 1e-5 {
			t.Fatalf("contrast moved the mean %v -> %v", m0, m1)
		}
		r := s1 / s0
		if r < 1-C-1e-5 || r > 1+C+1e-5 {
			t.Fatalf("contrast factor %v outside [%v, %v]", r, 1-C, 1+C)
		}
		lo, hi = min(lo, r), max(hi, r)
	}
	if lo > 1-C+0.05 || hi < 1+C-0.05 {
		t.Fatalf("contrast factors span [%v, %v], want most of [%v, %v]", lo, hi, 1-C, 1+C)
	}

	const sigma = 0.05
	var n, s, s2 float64
	for range 300 {
		augmentCrop(rng, m, 0, 0, p, p, Augment{Noise: sigma}, out)
		for i := range out {
			d := float64(out[i] - orig[i])
			n++
			s += d
			s2 += d * d
		}
	}
	nm, nsd := s/n, math.Sqrt(s2/n-(s/n)*(s/n))
	if math.Abs(nm) > 0.002 || math.Abs(nsd-sigma)/sigma > 0.03 {
		t.Fatalf("noise mean %v std %v, want 0 and %v", nm, nsd, sigma)
	}
	if !slices.Equal(m.Pix, orig) {
		t.Fatal("augmentation wrote to the source image")
	}
}

// With everything off, augmentCrop is a plain crop and draws nothing.
func TestAugmentOff(t *testing.T) {
	m := randImage(5, 3, 9, 9)
	want := make([]float32, 3*4*4)
	got := make([]float32, 3*4*4)
	copyCrop(m, 2, 5, 4, 4, want)
	rng := rand.New(rand.NewPCG(1, 2))
	augmentCrop(rng, m, 2, 5, 4, 4, Augment{}, got)
	if !slices.Equal(got, want) {
		t.Fatal("no augmentation changed the crop")
	}
	if rng.Uint64() != rand.New(rand.NewPCG(1, 2)).Uint64() {
		t.Fatal("no augmentation consumed random numbers")
	}
}

// Non-square crops only ever turn by 0 or 180 degrees under Rot90, and
// both happen.
func TestRot90NonSquare(t *testing.T) {
	const c, h, w = 1, 3, 5
	m := randImage(6, c, h, w)
	r180 := slices.Clone(m.Pix)
	slices.Reverse(r180) // one plane: 180° is the reversed pixel order
	rng := rand.New(rand.NewPCG(2, 2))
	out := make([]float32, c*h*w)
	seen := [2]bool{}
	for range 50 {
		augmentCrop(rng, m, 0, 0, h, w, Augment{Rot90: true}, out)
		switch {
		case slices.Equal(out, m.Pix):
			seen[0] = true
		case slices.Equal(out, r180):
			seen[1] = true
		default:
			t.Fatal("non-square Rot90 gave neither 0 nor 180 degrees")
		}
	}
	if !seen[0] || !seen[1] {
		t.Fatalf("turns seen %v", seen)
	}
}
