package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/tensor"
)

// TestConv2dPlanMatchesForward checks that a plan gives bit-identical
// results to Conv2dForwardInto on every path (Winograd, im2col, 1×1,
// strided, grouped, depthwise), call after call, and agrees with the naive
// convolution.
func TestConv2dPlanMatchesForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	pad1 := Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1, Act: ActReLU}
	for _, c := range []convCase{
		{1, 16, 24, 24, 16, 3, 3, pad1}, // Winograd (144 tiles)
		{2, 8, 9, 7, 12, 3, 3, pad1},    // im2col
		{1, 3, 30, 30, 16, 7, 7, Conv2D{StrideH: 2, StrideW: 2, PadT: 3, PadL: 3, PadB: 3, PadR: 3}},
		{1, 16, 10, 10, 32, 1, 1, Conv2D{StrideH: 2, StrideW: 2}},
		{2, 16, 6, 6, 24, 1, 1, Conv2D{}},
		{1, 8, 7, 7, 128, 3, 3, pad1}, // transposed product when whole
		{1, 8, 6, 6, 8, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1, Groups: 2}},
		{1, 8, 6, 6, 8, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1, Groups: 8, Act: ActReLU6}},
	} {
		x := randT(rng, c.n, c.cin, c.h, c.w)
		g := max(c.p.Groups, 1)
		w := randT(rng, c.cout, c.cin/g, c.kh, c.kw)
		b := randT(rng, c.cout)
		want := naiveConv(x, w, b, c.p)
		ref := tensor.New(want.Shape...)
		Conv2dForwardInto(ref, x, w, b, c.p)
		pl := PrepareConv2d(w, b, c.p)
		for call := 0; call < 2; call++ {
			y := tensor.New(want.Shape...)
			pl.Forward(y, x)
			for i := range y.Data {
				if math.Float32bits(y.Data[i]) != math.Float32bits(ref.Data[i]) {
					t.Fatalf("%v call %d: y[%d] = %v, Conv2dForwardInto gives %v", c, call, i, y.Data[i], ref.Data[i])
				}
			}
			closeT(t, c.String(), y.Data, want.Data, 1e-4)
		}
	}
}

// TestTransposedGemmPath compares the Yᵀ = colᵀ·Wᵀ product with the plain
// one and the naive convolution on a 7×7 map with many output channels,
// with bias and ReLU in the transposing epilogue.
func TestTransposedGemmPath(t *testing.T) {
	if gemm.Kernel() == "avx512" && (!transposedPays(128, 49) || transposedPays(64, 49) || transposedPays(128, 784)) {
		t.Fatalf("transposedPays: want true only for the narrow 128×49 product")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	p := Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1, Act: ActReLU}
	x, w, b := randT(rng, 1, 16, 7, 7), randT(rng, 160, 16, 3, 3), randT(rng, 160)
	want := naiveConv(x, w, b, p)
	y := Conv2dForward(x, w, b, p)
	closeT(t, "transposed", y.Data, want.Data, 1e-4)
	disableTransposedGemm = true
	defer func() { disableTransposedGemm = false }()
	closeT(t, "plain", Conv2dForward(x, w, b, p).Data, y.Data, 1e-5)
}

// TestConv2dPlanPanics checks argument validation.
func TestConv2dPlanPanics(t *testing.T) {
	w := tensor.New(8, 4, 3, 3)
	mustPanic(t, "bias length", func() { PrepareConv2d(w, tensor.New(7), Conv2D{}) })
	mustPanic(t, "groups", func() { PrepareConv2d(w, nil, Conv2D{Groups: 3}) })
	pl := PrepareConv2d(w, nil, Conv2D{})
	mustPanic(t, "channels", func() { pl.Forward(tensor.New(1, 8, 6, 6, 6), tensor.New(1, 5, 8, 8)) })
	mustPanic(t, "output", func() { pl.Forward(tensor.New(1, 8, 5, 5), tensor.New(1, 4, 8, 8)) })
}
