package imageio

import (
	"math"
	"slices"
	"testing"
)

func smoothMapOf(h, w int, v ...float32) *Map {
	m := NewMap(h, w)
	copy(m.Pix, v)
	return m
}

func TestGaussianConstantStaysConstant(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {3, 3}, {2, 7}, {20, 13}} {
		for _, sigma := range []float64{0.5, 1, 4} { // sigma 4 on 3x3: radius 16 ≫ size
			m := NewMap(sz[0], sz[1])
			for i := range m.Pix {
				m.Pix[i] = 2.5
			}
			s := GaussianSmooth(m, sigma)
			for i, v := range s.Pix {
				if math.Abs(float64(v)-2.5) > 1e-5 {
					t.Fatalf("%v sigma %v: pixel %d = %v", sz, sigma, i, v)
				}
			}
		}
	}
}

func TestGaussianImpulseResponse(t *testing.T) {
	const n, c, sigma = 41, 20, 2.0 // radius 8: the response stays inside
	m := NewMap(n, n)
	m.Set(c, c, 1)
	s := GaussianSmooth(m, sigma)
	k := GaussianKernel(sigma)
	if len(k) != 17 {
		t.Fatalf("kernel length %d, want 2·ceil(4σ)+1 = 17", len(k))
	}
	sum := 0.0
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			v := float64(s.At(y, x))
			sum += v
			// Symmetric under flips and transposition.
			if v != float64(s.At(2*c-y, x)) || v != float64(s.At(y, 2*c-x)) || v != float64(s.At(x, y)) {
				t.Fatalf("asymmetric at (%d,%d)", y, x)
			}
			dy, dx := y-c, x-c
			want := 0.0
			if abs(dy) <= 8 && abs(dx) <= 8 {
				want = float64(k[dy+8]) * float64(k[dx+8]) // separable product
			}
			if math.Abs(v-want) > 1e-7 {
				t.Fatalf("(%d,%d) = %v, want %v", y, x, v, want)
			}
			// Close to the continuous 2-D Gaussian density.
			g := math.Exp(-float64(dy*dy+dx*dx)/(2*sigma*sigma)) / (2 * math.Pi * sigma * sigma)
			if math.Abs(v-g) > 2e-4 {
				t.Fatalf("(%d,%d) = %v, continuous Gaussian %v", y, x, v, g)
			}
		}
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Fatalf("impulse response sums to %v", sum)
	}
	if s := GaussianSmooth(m, 0); !slices.Equal(s.Pix, m.Pix) {
		t.Fatal("sigma 0 must copy")
	}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func TestGaussianReflectBorder(t *testing.T) {
	// 1x3 [1 0 0], sigma 0.25 → radius 1, weights (w1, w0, w1)/norm.
	// Reflect padding mirrors without repeating the edge: index −1 → 1, so
	// out[0] = w0·1 + 2·w1·0, out[1] = w1·1. (Replicate would give
	// out[0] = w0 + w1.) The single row reflects onto itself vertically.
	s := GaussianSmooth(smoothMapOf(1, 3, 1, 0, 0), 0.25)
	w1 := math.Exp(-8)
	norm := 1 + 2*w1
	want := []float64{1 / norm, w1 / norm, 0}
	for i, v := range s.Pix {
		if math.Abs(float64(v)-want[i]) > 1e-7 {
			t.Fatalf("out %v, want %v", s.Pix, want)
		}
	}
	for i, want := range map[int]int{-1: 1, -2: 2, 3: 1, 4: 0, 5: 1, 6: 2, -5: 1} {
		if got := Reflect(i, 3); got != want {
			t.Fatalf("Reflect(%d, 3) = %d, want %d", i, got, want)
		}
	}
}

// BenchmarkGaussianSmooth256 measures the anomalib-style sigma-4
// smoothing of a 256x256 map.
func BenchmarkGaussianSmooth256(b *testing.B) {
	m := NewMap(256, 256)
	for i := range m.Pix {
		m.Pix[i] = float32(i % 17)
	}
	for i := 0; i < b.N; i++ {
		GaussianSmooth(m, 4)
	}
}
