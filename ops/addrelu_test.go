package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddReLUSlices checks max(a+b, 0) against hand-made cases, the scalar
// loop on every length up to 40 (vector body and tail), in place, and NaN.
func TestAddReLUSlices(t *testing.T) {
	dst := make([]float32, 3)
	AddReLUSlices(dst, []float32{1, -2, 0.5}, []float32{0.5, 1, -1})
	if dst[0] != 1.5 || dst[1] != 0 || dst[2] != 0 {
		t.Fatalf("hand values: got %v, want [1.5 0 0]", dst)
	}
	rng := rand.New(rand.NewPCG(31, 32))
	for n := 0; n <= 40; n++ {
		a, b := randT(rng, n+1).Data[:n], randT(rng, n+1).Data[:n]
		if n > 9 {
			a[9] = float32(math.NaN())
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = float32(math.Max(float64(a[i]+b[i]), 0))
			if a[i] != a[i] {
				want[i] = a[i]
			}
		}
		AddReLUSlices(a, a, b) // in place
		for i := range want {
			if (a[i] != a[i]) != (want[i] != want[i]) || (want[i] == want[i] && a[i] != want[i]) {
				t.Fatalf("n=%d: out[%d] = %v, want %v", n, i, a[i], want[i])
			}
		}
	}
	mustPanic(t, "short operand", func() { AddReLUSlices(make([]float32, 4), make([]float32, 3), make([]float32, 4)) })
}

// TestDot compares the vector dot product with a float64 sum on lengths
// around the 32-wide blocks, checks repeatability and the length check.
func TestDot(t *testing.T) {
	if got := Dot([]float32{1, 2, 3}, []float32{4, -5, 6}); got != 12 {
		t.Fatalf("Dot = %v, want 12", got)
	}
	rng := rand.New(rand.NewPCG(33, 34))
	for _, n := range []int{0, 1, 31, 32, 33, 64, 100, 512} {
		a, b := randT(rng, n+1).Data[:n], randT(rng, n+1).Data[:n]
		var want float64
		for i := range a {
			want += float64(a[i]) * float64(b[i])
		}
		got := Dot(a, b)
		if math.Abs(float64(got)-want) > 1e-5*math.Sqrt(float64(n)+1)*4 {
			t.Fatalf("n=%d: Dot = %v, want %v", n, got, want)
		}
		if again := Dot(a, b); math.Float32bits(again) != math.Float32bits(got) {
			t.Fatalf("n=%d: Dot not repeatable: %v then %v", n, got, again)
		}
		if g := dotGo(a, b); math.Abs(float64(g)-want) > 1e-5*math.Sqrt(float64(n)+1)*4 {
			t.Fatalf("n=%d: dotGo = %v, want %v", n, g, want)
		}
	}
	mustPanic(t, "length", func() { Dot(make([]float32, 3), make([]float32, 4)) })
}
