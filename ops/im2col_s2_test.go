package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIm2colS2MatchesRows compares the parity-plane stride-2 im2col with
// the row-by-row one, bit for bit, over seeded random geometries (odd and
// even sizes, kernels 1-5, dilation, asymmetric padding, row tiles).
func TestIm2colS2MatchesRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(85, 86))
	used := 0
	for i := 0; i < 300; i++ {
		c, h, w := 1+rng.IntN(3), 1+rng.IntN(14), 1+rng.IntN(14)
		p := Conv2D{StrideH: 2, StrideW: 2, DilH: 1 + rng.IntN(2), DilW: 1 + rng.IntN(2),
			PadT: rng.IntN(3), PadL: rng.IntN(3), PadB: rng.IntN(3), PadR: rng.IntN(3)}
		kh, kw := 1+rng.IntN(5), 1+rng.IntN(5)
		oh, ow := p.OutSize(h, w, kh, kw)
		if oh <= 0 || ow <= 0 {
			continue
		}
		q := p.norm()
		g := window{h: h, w: w, oh: oh, ow: ow, kh: kh, kw: kw, sh: 2, sw: 2, pt: q.PadT, pl: q.PadL, dh: q.DilH, dw: q.DilW}
		oy0 := rng.IntN(oh)
		oy1 := oy0 + 1 + rng.IntN(oh-oy0)
		name := fmt.Sprintf("c%d %dx%d k%dx%d %+v rows %d-%d", c, h, w, kh, kw, p, oy0, oy1)
		x := randT(rng, c, h, w).Data
		n := c * kh * kw * (oy1 - oy0) * ow
		want, got := make([]float32, n), make([]float32, n)
		for j := range got {
			got[j] = float32(j) + 0.5 // every element must be overwritten
		}
		pad := make([]float32, g.bandSize(oy1-oy0))
		disableIm2colS2 = true
		im2colRows(x, c, &g, oy0, oy1, pad, want)
		disableIm2colS2 = false
		if !im2colS2(x, c, &g, oy0, oy1, pad, got) {
			continue // scratch too small: im2colRows keeps the row path
		}
		used++
		for j := range got {
			if got[j] != want[j] {
				t.Fatalf("%s: element %d = %v, want %v", name, j, got[j], want[j])
			}
		}
	}
	if used < 150 {
		t.Fatalf("parity path taken in only %d cases", used)
	}
}

// TestCol2imS2MatchesRows compares the parity-plane stride-2 col2im with
// the row-by-row one over seeded random geometries; they add in different
// orders, so within rounding.
func TestCol2imS2MatchesRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(87, 88))
	used := 0
	for i := 0; i < 300; i++ {
		c, h, w := 1+rng.IntN(3), 1+rng.IntN(14), 1+rng.IntN(14)
		p := Conv2D{StrideH: 2, StrideW: 2, DilH: 1 + rng.IntN(2), DilW: 1 + rng.IntN(2),
			PadT: rng.IntN(3), PadL: rng.IntN(3), PadB: rng.IntN(3), PadR: rng.IntN(3)}
		kh, kw := 1+rng.IntN(5), 1+rng.IntN(5)
		oh, ow := p.OutSize(h, w, kh, kw)
		if oh <= 0 || ow <= 0 {
			continue
		}
		q := p.norm()
		g := window{h: h, w: w, oh: oh, ow: ow, kh: kh, kw: kw, sh: 2, sw: 2, pt: q.PadT, pl: q.PadL, dh: q.DilH, dw: q.DilW}
		name := fmt.Sprintf("c%d %dx%d k%dx%d %+v", c, h, w, kh, kw, p)
		col := randT(rng, c*kh*kw*oh*ow).Data
		base := randT(rng, c*h*w).Data // col2im accumulates into dst
		want := append([]float32(nil), base...)
		got := append([]float32(nil), base...)
		pad := make([]float32, g.bandSize(oh))
		disableIm2colS2 = true
		col2im(append([]float32(nil), col...), c, &g, pad, want)
		disableIm2colS2 = false
		if !col2imS2(append([]float32(nil), col...), c, &g, pad, got) {
			continue
		}
		used++
		closeT(t, name, got, want, 1e-5)
	}
	if used < 150 {
		t.Fatalf("parity path taken in only %d cases", used)
	}
}
