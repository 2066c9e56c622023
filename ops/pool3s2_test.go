package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// TestMaxPool3s2MatchesGeneral compares the 3×3 stride-2 inference path
// with the general separable one (and a brute-force max) on odd and even
// sizes, pads 0-2, ceil mode, and inputs holding NaN and ±Inf.
func TestMaxPool3s2MatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		h, w, pad int
		ceil      bool
	}{{112, 112, 1, false}, {2, 2, 0, true}, {5, 1, 1, false}, {1, 5, 1, false}, {9, 40, 1, false}, {10, 37, 0, false}, {7, 21, 2, true}, {5, 5, 1, true}, {3, 3, 0, false}, {33, 50, 1, true}} {
		x := randT(rng, 2, 3, c.h, c.w)
		x.Data[7] = float32(math.NaN())
		x.Data[(c.w*2+20%c.w)%len(x.Data)] = float32(math.Inf(1))
		x.Data[len(x.Data)-1] = float32(math.Inf(-1))
		p := Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: c.pad, PadL: c.pad, PadB: c.pad, PadR: c.pad, CeilMode: c.ceil}
		p = p.norm()
		_, _, h, w, oh, ow := poolCheck("test", x, p)
		g := window{h: h, w: w, oh: oh, ow: ow, kh: 3, kw: 3, sh: 2, sw: 2, pt: p.PadT, pl: p.PadL, dh: 1, dw: 1}
		if !use3s2(&g) {
			t.Fatalf("%+v: fast path does not apply", c)
		}
		y := MaxPool2dInference(x, p)
		for pl := 0; pl < 6; pl++ {
			for o := 0; o < oh*ow; o++ {
				oy, ox := o/ow, o%ow
				want := float32(math.Inf(-1))
				for ky := 0; ky < 3; ky++ {
					for kx := 0; kx < 3; kx++ {
						iy, ix := oy*2-p.PadT+ky, ox*2-p.PadL+kx
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						if v := x.Data[pl*h*w+iy*w+ix]; v > want || v != v || want != want {
							if want == want {
								want = v
							}
						}
					}
				}
				got := y.Data[pl*oh*ow+o]
				if (got != got) != (want != want) || (want == want && got != want) {
					t.Fatalf("%+v plane %d out %d: got %v, want %v", c, pl, o, got, want)
				}
			}
		}
		// The general path agrees (NaN positions included).
		ref := tensor.New(y.Shape...)
		scratchRows, wp := 0, 0
		_, scratchRows, wp = g.band(0, oh)
		scratch := make([]float32, 2*scratchRows*wp+scratchRows*ow)
		for pl := 0; pl < 6; pl++ {
			maxPoolPlane(ref.Data[pl*oh*ow:(pl+1)*oh*ow], x.Data[pl*h*w:(pl+1)*h*w], &g, scratch)
		}
		for i := range ref.Data {
			a, b := ref.Data[i], y.Data[i]
			if (a != a) != (b != b) || (a == a && a != b) {
				t.Fatalf("%+v: general %v vs fast %v at %d", c, a, b, i)
			}
		}
	}
}

// TestMaxPool3s2RowSIMD compares the vector row kernel with the Go one,
// NaN in every lane position included.
func TestMaxPool3s2RowSIMD(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{1, 8, 13, 16, 29} {
		for nanAt := -1; nanAt < 2*n+1; nanAt += 3 {
			var rows [3][]float32
			for k := range rows {
				rows[k] = randT(rng, 2*n+1).Data
			}
			if nanAt >= 0 {
				rows[nanAt%3][nanAt] = float32(math.NaN())
			}
			got, want := make([]float32, n), make([]float32, n)
			maxPool3s2Row(got, rows[0], rows[1], rows[2])
			maxPool3s2RowGo(want, rows[0], rows[1], rows[2], 0)
			for i := range got {
				if (got[i] != got[i]) != (want[i] != want[i]) || (want[i] == want[i] && got[i] != want[i]) {
					t.Fatalf("n=%d nan at %d: out[%d] = %v, want %v", n, nanAt, i, got[i], want[i])
				}
			}
		}
	}
}
