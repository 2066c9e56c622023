package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

func randT(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

func dot(a, b []float32) float64 {
	if len(a) != len(b) {
		panic("dot: length mismatch")
	}
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func norm2(a []float32) float64 { return math.Sqrt(dot(a, a)) }

// closeT checks |got-want| <= tol*(1+|want|) elementwise.
func closeT(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: element %d = %v, want %v", name, i, got[i], want[i])
		}
	}
}

// closeS checks two scalars relative to scale.
func closeS(t *testing.T, name string, got, want, scale, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*(scale+1e-12) {
		t.Fatalf("%s: %v, want %v (scale %v)", name, got, want, scale)
	}
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s: expected panic", name)
		}
	}()
	f()
}
