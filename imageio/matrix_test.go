package imageio

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSmoothResizeMatrices checks that the matrix forms reproduce
// ResizeMap (up- and downscaling) and GaussianSmooth (with a kernel wider
// than the map, so reflection wraps) on a random map.
func TestSmoothResizeMatrices(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	apply := func(a []float64, ra, ca int, m *Map, b []float64, rb int) []float64 {
		// a (ra×m.H) · m · bᵀ (b is rb×m.W)
		tmp := make([]float64, ra*m.W)
		for i := 0; i < ra; i++ {
			for k := 0; k < m.H; k++ {
				for j := 0; j < m.W; j++ {
					tmp[i*m.W+j] += a[i*ca+k] * float64(m.Pix[k*m.W+j])
				}
			}
		}
		out := make([]float64, ra*rb)
		for i := 0; i < ra; i++ {
			for j := 0; j < rb; j++ {
				for k := 0; k < m.W; k++ {
					out[i*rb+j] += tmp[i*m.W+k] * b[j*m.W+k]
				}
			}
		}
		return out
	}
	f64 := func(v []float32) []float64 {
		o := make([]float64, len(v))
		for i, x := range v {
			o[i] = float64(x)
		}
		return o
	}
	m := NewMap(7, 5)
	for i := range m.Pix {
		m.Pix[i] = r.Float32()
	}
	for _, sz := range [][2]int{{20, 13}, {3, 4}, {7, 9}} {
		want := ResizeMap(m, sz[0], sz[1])
		got := apply(f64(ResizeMatrix(7, sz[0])), sz[0], 7, m, f64(ResizeMatrix(5, sz[1])), sz[1])
		for i, v := range want.Pix {
			if math.Abs(got[i]-float64(v)) > 1e-5 {
				t.Fatalf("resize to %v: [%d] = %g, want %g", sz, i, got[i], v)
			}
		}
	}
	for _, sigma := range []float64{0, 0.7, 4} {
		want := GaussianSmooth(m, sigma)
		got := apply(GaussianMatrix(7, sigma), 7, 7, m, GaussianMatrix(5, sigma), 5)
		for i, v := range want.Pix {
			if math.Abs(got[i]-float64(v)) > 1e-5 {
				t.Fatalf("sigma %g: [%d] = %g, want %g", sigma, i, got[i], v)
			}
		}
	}
}
