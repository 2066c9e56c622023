package ops

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAEPass runs each convolution pass of the autoencoder training
// step on its own (batch 16), for profiling one pass at a time:
// go test -run XXX -bench AEPass/D1fwd -cpuprofile cpu.out ./ops
func BenchmarkAEPass(b *testing.B) {
	rng := rand.New(rand.NewPCG(91, 92))
	p := Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	p2 := Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	pt := ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	x1, w1, y1 := randT(rng, 16, 3, 64, 64), randT(rng, 32, 3, 3, 3), randT(rng, 16, 32, 32, 32)
	w2, y2 := randT(rng, 64, 32, 3, 3), randT(rng, 16, 64, 16, 16)
	w3, y3 := randT(rng, 64, 64, 3, 3), randT(rng, 16, 64, 16, 16)
	w4, y4 := randT(rng, 32, 64, 3, 3), randT(rng, 16, 32, 16, 16)
	d1w, d1y := randT(rng, 32, 32, 4, 4), randT(rng, 16, 32, 32, 32)
	d2w, d2y := randT(rng, 32, 3, 4, 4), randT(rng, 16, 3, 64, 64)
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"L1fwd", func() { Conv2dForwardInto(y1, x1, w1, nil, p2) }},
		{"L1bwd", func() { Conv2dBackward(x1, w1, y1, p2, false) }},
		{"L2fwd", func() { Conv2dForwardInto(y2, y1, w2, nil, p2) }},
		{"L2bwd", func() { Conv2dBackward(y1, w2, y2, p2, true) }},
		{"L3fwd", func() { Conv2dForwardInto(y3, y2, w3, nil, p) }},
		{"L3bwd", func() { Conv2dBackward(y2, w3, y3, p, true) }},
		{"L4fwd", func() { Conv2dForwardInto(y4, y3, w4, nil, p) }},
		{"L4bwd", func() { Conv2dBackward(y3, w4, y4, p, true) }},
		{"D1fwd", func() { ConvTranspose2dForward(y4, d1w, nil, pt) }},
		{"D1bwd", func() { ConvTranspose2dBackward(y4, d1w, d1y, pt, true) }},
		{"D2fwd", func() { ConvTranspose2dForward(d1y, d2w, nil, pt) }},
		{"D2bwd", func() { ConvTranspose2dBackward(d1y, d2w, d2y, pt, true) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c.fn()
			}
		})
	}
}
