package ops

import (
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// TestConvRandomShapes draws seeded random convolution problems (groups,
// strides, dilations, asymmetric pads, activations, tiny and odd sizes,
// some large enough for the Winograd and tiled paths) and checks the
// forward pass against the naive definition and both backward outputs
// against the adjoint identities.
func TestConvRandomShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	done := 0
	for done < 80 {
		var c convCase
		c.n = 1 + rng.IntN(3)
		g := []int{1, 1, 1, 2, 3}[rng.IntN(5)]
		c.cin = g * (1 + rng.IntN(6))
		c.cout = g * (1 + rng.IntN(6))
		if rng.IntN(4) == 0 { // depthwise
			g, c.cout = c.cin, c.cin
		}
		if rng.IntN(5) == 0 { // Winograd-sized
			g, c.cin, c.cout, c.n = 1, 16+rng.IntN(8), 16+rng.IntN(8), 1
		}
		c.h, c.w = 1+rng.IntN(20), 1+rng.IntN(20)
		if c.cin >= 16 {
			c.h, c.w = 18+rng.IntN(10), 18+rng.IntN(10)
		}
		c.kh, c.kw = 1+rng.IntN(4), 1+rng.IntN(4)
		if rng.IntN(2) == 0 {
			c.kh, c.kw = 3, 3
		}
		c.p = Conv2D{StrideH: 1 + rng.IntN(3), StrideW: 1 + rng.IntN(3), DilH: 1 + rng.IntN(2), DilW: 1 + rng.IntN(2),
			PadT: rng.IntN(3), PadL: rng.IntN(3), PadB: rng.IntN(3), PadR: rng.IntN(3), Groups: g, Act: Act(rng.IntN(3))}
		if rng.IntN(2) == 0 {
			c.p.StrideH, c.p.StrideW, c.p.DilH, c.p.DilW = 1, 1, 1, 1
		}
		if oh, ow := c.p.OutSize(c.h, c.w, c.kh, c.kw); oh <= 0 || ow <= 0 {
			continue
		}
		done++
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin/g, c.kh, c.kw)
		b := randT(rng, c.cout)
		want := naiveConv(x, w, b, c.p)
		got := tensor.New(want.Shape...)
		Conv2dForwardInto(got, x, w, b, c.p)
		closeT(t, c.String(), got.Data, want.Data, 1e-4)

		p := c.p
		p.Act = ActNone
		r := randT(rng, want.Shape...)
		dx, dw, _ := Conv2dBackward(x, w, r, p, true)
		vx, vw := randT(rng, x.Shape...), randT(rng, w.Shape...)
		closeS(t, c.String()+" dx", dot(dx.Data, vx.Data), dot(naiveConv(vx, w, nil, p).Data, r.Data), norm2(dx.Data)*norm2(vx.Data), 1e-5)
		closeS(t, c.String()+" dw", dot(dw.Data, vw.Data), dot(naiveConv(x, vw, nil, p).Data, r.Data), norm2(dw.Data)*norm2(vw.Data), 1e-5)
		_, dw2, _ := Conv2dBackward(x, w, r, p, false)
		closeT(t, c.String()+" dw without dx", dw2.Data, dw.Data, 1e-4)

		// The same geometry as a transposed convolution (weight w read as
		// [Cout, Cin/G, KH, KW]) is the adjoint of the convolution.
		tp := ConvT2D{StrideH: p.StrideH, StrideW: p.StrideW, PadT: p.PadT, PadL: p.PadL, PadB: p.PadB, PadR: p.PadR,
			DilH: p.DilH, DilW: p.DilW, Groups: p.Groups}
		yt := randT(rng, want.Shape...)
		oh0, ow0 := tp.OutSize(want.Shape[2], want.Shape[3], c.kh, c.kw)
		tp.OutPadH, tp.OutPadW = c.h-oh0, c.w-ow0
		if tp.OutPadH >= 0 && tp.OutPadW >= 0 && tp.OutPadH < max(p.StrideH, p.DilH) && tp.OutPadW < max(p.StrideW, p.DilW) {
			xt := ConvTranspose2dForward(yt, w, nil, tp)
			closeS(t, c.String()+" convT adjoint", dot(xt.Data, vx.Data), dot(naiveConv(vx, w, nil, p).Data, yt.Data),
				norm2(xt.Data)*norm2(vx.Data), 1e-5)
		}
	}
}
