package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// spd returns a random well-conditioned symmetric positive-definite n×n
// matrix: B·Bᵀ/n + I.
func spd(rng *rand.Rand, n int) *tensor.Tensor {
	b := randT(rng, -1, 1, n, n)
	a := tensor.New(n, n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for k := 0; k < n; k++ {
				s += b.Data[i*n+k] * b.Data[j*n+k]
			}
			a.Data[i*n+j] = s / float32(n)
		}
		a.Data[i*n+i]++
	}
	return a
}

// A·A⁻¹ = I; log det of a hand-computed 2×2 and of a triangular matrix
// (the product of its diagonal).
func TestInverseAndLogDetValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 2, 5} {
		a := randT(rng, -1, 1, n, n)
		for i := 0; i < n; i++ {
			a.Data[i*n+i] += 2 // keep it away from singular
		}
		inv := Inverse(NewVar(a)).Value
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for k := 0; k < n; k++ {
					s += float64(a.Data[i*n+k]) * float64(inv.Data[k*n+j])
				}
				want := 0.0
				if i == j {
					want = 1
				}
				if math.Abs(s-want) > 1e-5 {
					t.Fatalf("n=%d: (A·A⁻¹)[%d,%d] = %g", n, i, j, s)
				}
			}
		}
	}
	// det [[4,1],[2,3]] = 10.
	if got := LogDet(NewVar(tensor.From([]float32{4, 1, 2, 3}, 2, 2))).Item(); math.Abs(float64(got)-math.Log(10)) > 1e-6 {
		t.Errorf("log det = %g, want log 10", got)
	}
	// Upper triangular with a row swap needed by pivoting: [[0,2],[3,1]], det −6.
	if got := LogDet(NewVar(tensor.From([]float32{0, 2, 3, 1}, 2, 2))).Item(); !math.IsNaN(float64(got)) {
		t.Errorf("log det of a negative-determinant matrix = %g, want NaN", got)
	}
	if got := LogDet(NewVar(tensor.From([]float32{2, 0, 0, 0, 3, 0, 1, 1, 0.5}, 3, 3))).Item(); math.Abs(float64(got)-math.Log(3)) > 1e-6 {
		t.Errorf("log det of a triangular matrix = %g, want log 3", got)
	}
	sing := Inverse(NewVar(tensor.From([]float32{1, 2, 2, 4}, 2, 2))).Value.Data
	if !math.IsNaN(float64(sing[0])) {
		t.Errorf("inverse of a singular matrix = %v, want NaN", sing)
	}
	// LogSumExp of large values does not overflow: log(e^1000 + e^1000) = 1000 + log 2.
	if got := LogSumExp(NewVar(tensor.From([]float32{1000, 1000}, 1, 2)), 1).Item(); math.Abs(float64(got)-(1000+math.Ln2)) > 1e-3 {
		t.Errorf("LogSumExp = %g, want %g", got, 1000+math.Ln2)
	}
}

func TestMatrixGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1, 3, 4} {
		gradCheck(t, "Inverse", func(in []*Var) *Var { return Inverse(in[0]) }, spd(rng, n))
		gradCheck(t, "LogDet", func(in []*Var) *Var { return LogDet(in[0]) }, spd(rng, n))
	}
	// A general (non-symmetric) matrix: the gradient is A⁻ᵀ, not A⁻¹.
	a := randT(rng, -1, 1, 3, 3)
	for i := 0; i < 3; i++ {
		a.Data[i*3+i] += 3
	}
	gradCheck(t, "Inverse general", func(in []*Var) *Var { return Inverse(in[0]) }, a)
	gradCheck(t, "LogDet general", func(in []*Var) *Var { return LogDet(in[0]) }, a.Clone())
	for _, axis := range []int{0, 1, -1} {
		gradCheck(t, "LogSumExp", func(in []*Var) *Var { return LogSumExp(in[0], axis) }, randT(rng, -3, 3, 4, 5))
	}
	gradCheck(t, "LogSumExp 3-D", func(in []*Var) *Var { return LogSumExp(in[0], 1) }, randT(rng, -3, 3, 2, 3, 4))
}
