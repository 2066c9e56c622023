package onnx

import (
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// TestExecutorGemmRowTransB covers the single-row transB Gemm (classifier
// head) that bypasses the GEMM: alpha, beta with a broadcast C, and a depth
// that is not a multiple of the eight partial sums, against the reference.
func TestExecutorGemmRowTransB(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, kk := range []int{1, 8, 29, 70} {
		a := randTensor(r, 1, kk)
		w := randTensor(r, 67, kk)
		cv := randFloats(r, 67)
		b := NewBuilder("head")
		b.Input("a", 1, kk)
		b.Initializer("W", w.Shape, w.Data)
		b.Initializer("C", []int{67}, cv)
		b.Node("Gemm", "fc", []string{"a", "W", "C"}, []string{"y"}, IntAttr("transB", 1), FloatAttr("alpha", 0.75), FloatAttr("beta", -1.5))
		b.Output("y", 1, 67)
		out := run1(t, roundTrip(t, b.Model()), []string{"y"}, map[string]*tensor.Tensor{"a": a})
		checkClose(t, "gemm row", out["y"], refGemm(a, w, cv, false, true, 0.75, -1.5))
	}
}
