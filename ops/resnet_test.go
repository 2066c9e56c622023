package ops

import (
	"math/rand/v2"
	"testing"
)

// TestResNetShapesBackward covers every convolution of a ResNet-18 on a
// 32×32 input (stem, stride-2 downsampling, 1×1 shortcuts, 1×1 and 2×2 maps)
// against the naive forward and the adjoint identities.
func TestResNetShapesBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []convCase{
		{2, 3, 32, 32, 8, 7, 7, Conv2D{StrideH: 2, StrideW: 2, PadT: 3, PadL: 3, PadB: 3, PadR: 3}},
		{2, 8, 8, 8, 16, 1, 1, Conv2D{StrideH: 2, StrideW: 2}},
		{2, 8, 8, 8, 16, 3, 3, Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{2, 64, 8, 8, 64, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{2, 64, 8, 8, 128, 3, 3, Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{2, 256, 2, 2, 512, 3, 3, Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{2, 512, 1, 1, 512, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{2, 128, 4, 4, 128, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{2, 64, 8, 8, 128, 1, 1, Conv2D{StrideH: 2, StrideW: 2}},
		{2, 128, 4, 4, 256, 1, 1, Conv2D{StrideH: 2, StrideW: 2}},
		{2, 256, 2, 2, 512, 1, 1, Conv2D{StrideH: 2, StrideW: 2}},
		{2, 128, 4, 4, 256, 3, 3, Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{2, 256, 2, 2, 256, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{2, 3, 32, 32, 64, 7, 7, Conv2D{StrideH: 2, StrideW: 2, PadT: 3, PadL: 3, PadB: 3, PadR: 3}},
	} {
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin, c.kh, c.kw)
		closeT(t, c.String(), Conv2dForward(x, w, nil, c.p).Data, naiveConv(x, w, nil, c.p).Data, 1e-4)
		r := randT(rng, naiveConv(x, w, nil, c.p).Shape...)
		dx, dw, _ := Conv2dBackward(x, w, r, c.p, true)
		vx, vw := randT(rng, x.Shape...), randT(rng, w.Shape...)
		closeS(t, c.String()+" dx", dot(dx.Data, vx.Data), dot(naiveConv(vx, w, nil, c.p).Data, r.Data), norm2(dx.Data)*norm2(vx.Data), 1e-5)
		closeS(t, c.String()+" dw", dot(dw.Data, vw.Data), dot(naiveConv(x, vw, nil, c.p).Data, r.Data), norm2(dw.Data)*norm2(vw.Data), 1e-5)
	}
}
