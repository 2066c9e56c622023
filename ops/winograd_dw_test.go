package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestWinogradWeightGrad compares the Winograd weight gradient with the
// direct one (and the adjoint identity) on odd and even sizes, asymmetric
// padding and several images (rows of 8+ full tiles take the vector
// transform, the rest the scalar one), and checks repeat runs are
// bit-identical.
func TestWinogradWeightGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	for _, c := range []struct {
		n, cin, cout, h, w int
		p                  Conv2D
	}{
		{4, 16, 16, 16, 16, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{4, 17, 19, 13, 11, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{5, 16, 20, 12, 15, Conv2D{PadT: 2, PadL: 0, PadB: 1, PadR: 2}},
		{2, 24, 16, 18, 17, Conv2D{}},
		{3, 16, 16, 21, 35, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}}, // 16 vector tiles + tails, odd height
		{2, 64, 32, 16, 16, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}}, // few outputs: Mᵀ accumulated
	} {
		name := fmt.Sprintf("%+v", c)
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin, 3, 3)
		p := c.p.norm()
		s := convCheck("test", x, w, nil, p)
		if !useWinograd(&s) {
			t.Fatalf("%s: case does not take the Winograd path", name)
		}
		dy := randT(rng, c.n, c.cout, s.win.oh, s.win.ow)
		_, dw, _ := Conv2dBackward(x, w, dy, c.p, false)
		disableWinoDW = true
		_, ref, _ := Conv2dBackward(x, w, dy, c.p, false)
		disableWinoDW = false
		closeT(t, name, dw.Data, ref.Data, 2e-4)
		vw := randT(rng, w.Shape...)
		closeS(t, name+" adjoint", dot(dw.Data, vw.Data), dot(naiveConv(x, vw, nil, p).Data, dy.Data),
			norm2(dw.Data)*norm2(vw.Data), 1e-5)
		for i := 0; i < 3; i++ {
			_, again, _ := Conv2dBackward(x, w, dy, c.p, false)
			for j := range again.Data {
				if again.Data[j] != dw.Data[j] {
					t.Fatalf("%s run %d: element %d = %v, first %v", name, i, j, again.Data[j], dw.Data[j])
				}
			}
		}
	}
}

// BenchmarkWinoDW compares the Winograd and direct weight gradients on the
// autoencoder's stride-1 layers (batch 16, 16×16 maps).
func BenchmarkWinoDW(b *testing.B) {
	rng := rand.New(rand.NewPCG(83, 84))
	p := Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	for _, l := range []struct {
		name      string
		cin, cout int
	}{{"L3", 64, 64}, {"L4", 64, 32}} {
		x, w := randT(rng, 16, l.cin, 16, 16), randT(rng, l.cout, l.cin, 3, 3)
		dy := randT(rng, 16, l.cout, 16, 16)
		for _, off := range []bool{false, true} {
			name := l.name + "/wino"
			if off {
				name = l.name + "/direct"
			}
			b.Run(name, func(b *testing.B) {
				disableWinoDW = off
				for i := 0; i < b.N; i++ {
					Conv2dBackward(x, w, dy, p, false)
				}
				disableWinoDW = false
			})
		}
	}
}

// TestWinogradInputPad1 covers the Winograd input transform that splits
// image rows directly (one column of padding, width a multiple of 16, as
// in the autoencoder's 16×16 layers): forward and input gradient (a
// forward convolution with the flipped kernel) equal the im2col path, on
// 16- and 32-wide maps with odd and even heights.
func TestWinogradInputPad1(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	p := Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	for _, c := range []struct{ n, cin, cout, h, w int }{
		{4, 16, 24, 16, 16}, {2, 16, 16, 13, 32}, {1, 32, 16, 32, 32},
	} {
		name := fmt.Sprintf("%+v", c)
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin, 3, 3)
		b := randT(rng, c.cout)
		s := convCheck("test", x, w, nil, p.norm())
		if !useWinograd(&s) {
			t.Fatalf("%s: case does not take the Winograd path", name)
		}
		dy := randT(rng, c.n, c.cout, c.h, c.w)
		got := Conv2dForward(x, w, b, p)
		dx, _, _ := Conv2dBackward(x, w, dy, p, true)
		disableWinograd = true
		want := Conv2dForward(x, w, b, p)
		dxRef, _, _ := Conv2dBackward(x, w, dy, p, true)
		disableWinograd = false
		closeT(t, name+" forward", got.Data, want.Data, 1e-4)
		closeT(t, name+" dX", dx.Data, dxRef.Data, 1e-4)
	}
}
