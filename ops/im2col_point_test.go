package ops

import (
	"math/rand/v2"
	"testing"
)

// TestIm2colPointMatchesGeneral checks the unpadded 1×1 im2col against the
// general path on strides 1-3, odd and even widths and partial row ranges.
func TestIm2colPointMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, c := range []struct{ h, w, sh, sw int }{{8, 8, 2, 2}, {7, 9, 2, 2}, {9, 20, 2, 2}, {6, 7, 1, 2}, {10, 11, 3, 3}, {5, 6, 2, 1}, {56, 56, 2, 2}} {
		g := window{h: c.h, w: c.w, kh: 1, kw: 1, sh: c.sh, sw: c.sw, dh: 1, dw: 1}
		g.oh, g.ow = (c.h-1)/c.sh+1, (c.w-1)/c.sw+1
		const ch = 3
		x := randT(rng, ch, c.h, c.w).Data
		for _, r := range [][2]int{{0, g.oh}, {1, g.oh}, {0, 1}} {
			np := (r[1] - r[0]) * g.ow
			got, want := make([]float32, ch*np), make([]float32, ch*np)
			im2colRows(x, ch, &g, r[0], r[1], make([]float32, g.bandSize(g.oh)), got)
			disableIm2colPoint = true
			im2colRows(x, ch, &g, r[0], r[1], make([]float32, g.bandSize(g.oh)), want)
			disableIm2colPoint = false
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%+v rows %v: col[%d] = %v, want %v", c, r, i, got[i], want[i])
				}
			}
		}
	}
}
