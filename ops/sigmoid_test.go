package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestReLUMask: the vector mask equals the scalar rule (keep d where y > 0
// as an int32, i.e. positive values and positive NaN; ±0 and negatives
// clear) on every length from 0 to 40, which covers tails of each width.
func TestReLUMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, float32(math.NaN()),
		float32(math.Inf(1)), float32(math.Inf(-1)), 3, -3}
	for n := 0; n <= 40; n++ {
		d := make([]float32, n)
		y := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
			if i%3 == 0 {
				y[i] = special[rng.IntN(len(special))]
			} else {
				y[i] = float32(rng.NormFloat64())
			}
		}
		want := make([]float32, n)
		for i := range want {
			if int32(math.Float32bits(y[i])) > 0 {
				want[i] = d[i]
			}
		}
		got := append([]float32(nil), d...)
		ReLUMask(got, y)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: d[%d] = %v with y = %v, want %v", n, i, got[i], y[i], want[i])
			}
		}
	}
	mustPanic(t, "short y", func() { ReLUMask(make([]float32, 4), make([]float32, 3)) })
}

// TestSigmoidSlices: within 2e-7 absolute or 5e-7 relative of the
// float64 sigmoid on random, large and tiny inputs, vector and scalar
// paths alike (lengths 0..40); saturated inputs give finite values in
// [0,1]; NaN stays NaN; the gradient scales by y(1−y).
func TestSigmoidSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 40; n++ {
		x := make([]float32, n)
		for i := range x {
			switch i % 4 {
			case 0:
				x[i] = float32(rng.NormFloat64() * 4)
			case 1:
				x[i] = float32(rng.NormFloat64() * 40)
			default:
				x[i] = float32(rng.NormFloat64() * 1e-3)
			}
		}
		got := make([]float32, n)
		SigmoidSlices(got, x)
		scalar := make([]float32, n)
		sigmoidGo(scalar, x)
		for i, v := range x {
			want := 1 / (1 + math.Exp(-float64(v)))
			for _, g := range []float32{got[i], scalar[i]} {
				if d := math.Abs(float64(g) - want); d > 2e-7 && d > 5e-7*want || g < 0 || g > 1 {
					t.Fatalf("n=%d: sigmoid(%v) = %v, want %v", n, v, g, want)
				}
			}
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = d[i] * (got[i] * (1 - got[i]))
		}
		SigmoidGradSlices(d, got)
		closeT(t, "sigmoid grad", d, want, 1e-6)
	}
	x := []float32{-1000, 1000, -88, 88, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, 0.5}
	y := make([]float32, len(x))
	SigmoidSlices(y, x)
	if y[0] < 0 || y[0] > 1e-37 || y[1] != 1 || !math.IsNaN(float64(y[4])) || y[5] != 1 || y[6] < 0 || y[6] > 1e-37 || y[7] != 0.5 {
		t.Fatalf("extremes: sigmoid(%v) = %v", x, y)
	}
	// in place
	SigmoidSlices(x[:4], x[:4])
	if x[1] != 1 || x[0] > 1e-37 {
		t.Fatalf("in place: %v", x[:4])
	}
	mustPanic(t, "short x", func() { SigmoidSlices(make([]float32, 4), make([]float32, 3)) })
}
