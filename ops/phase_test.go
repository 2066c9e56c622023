package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// TestPhaseTransposedMatchesNaive checks the output-phase transposed
// convolution against the naive definition over seeded random strided
// geometries (kernel smaller than, equal to and larger than the stride,
// dilation, asymmetric padding, output padding), and the convolution input
// gradient it serves against the GEMM + col2im path.
func TestPhaseTransposedMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	paired := 0
	for i := 0; i < 80; i++ {
		n, cin, cout := 1+rng.IntN(3), 1+rng.IntN(9), 1+rng.IntN(12)
		h, w := 1+rng.IntN(9), 1+rng.IntN(9)
		kh, kw := 1+rng.IntN(5), 1+rng.IntN(5)
		p := ConvT2D{StrideH: 1 + rng.IntN(3), StrideW: 2 + rng.IntN(2), PadT: rng.IntN(3), PadL: rng.IntN(3),
			PadB: rng.IntN(3), PadR: rng.IntN(3), DilH: 1 + rng.IntN(2), DilW: 1 + rng.IntN(2)}
		p.OutPadH = rng.IntN(max(p.StrideH, p.DilH))
		p.OutPadW = rng.IntN(max(p.StrideW, p.DilW))
		if oh, ow := p.OutSize(h, w, kh, kw); oh <= 0 || ow <= 0 {
			continue
		}
		name := fmt.Sprintf("n%d %dx%dx%d->%d k%dx%d %+v", n, cin, h, w, cout, kh, kw, p)
		x := randT(rng, n, cin, h, w)
		wt := randT(rng, cin, cout, kh, kw)
		b := randT(rng, cout)
		want := naiveConvT(x, wt, b, p)
		got := ConvTranspose2dForward(x, wt, b, p)
		closeT(t, name, got.Data, want.Data, 1e-4)
		// The phase kernel itself, whatever the channel count.
		st := convTCheck("test", x, wt, b, p)
		if _, _, ok := pairedColumns(axisPhases(st.win.w, kw, p.StrideW, p.PadL, max(1, p.DilW)), st.win.w, p.PadL); ok && p.StrideW == 2 {
			paired++
		}
		for _, noPair := range []bool{false, true} {
			disablePairCols = noPair
			direct := tensor.New(want.Shape...)
			direct.Fill(float32(i)) // every element must be overwritten
			phaseTransposed(direct.Data, x.Data, wt.Data, b.Data, st.n, st.cin, st.cout, &st.win)
			disablePairCols = false
			closeT(t, fmt.Sprintf("%s phases (no pairing %v)", name, noPair), direct.Data, want.Data, 1e-4)
		}

		// The same geometry as a convolution: its input gradient by phases
		// equals the GEMM + col2im path of Conv2dBackward.
		cp := Conv2D{StrideH: p.StrideH, StrideW: p.StrideW, PadT: p.PadT, PadL: p.PadL, PadB: p.PadB - p.OutPadH,
			PadR: p.PadR - p.OutPadW, DilH: p.DilH, DilW: p.DilW}
		if cp.PadB < 0 || cp.PadR < 0 {
			continue
		}
		xc := randT(rng, want.Shape...)
		wc := randT(rng, cin, cout, kh, kw) // conv weight [Cout=cin][Cin=cout]
		dy := randT(rng, Conv2dForward(xc, wc, nil, cp).Shape...)
		ref, _, _ := Conv2dBackward(xc, wc, dy, cp, true)
		s := convCheck("test", xc, wc, nil, cp.norm())
		dx := tensor.New(xc.Shape...)
		phaseTransposed(dx.Data, dy.Data, wc.Data, nil, s.n, s.cout, s.cin, &s.win)
		closeT(t, name+" conv dx", dx.Data, ref.Data, 1e-4)
	}
	if paired < 5 {
		t.Fatalf("only %d cases exercised paired column phases", paired)
	}
}

// TestPhaseTransposedDeterministic runs the decoder-shaped transposed
// convolution repeatedly: the phase tasks write disjoint outputs, so results
// are bit-identical whatever the scheduling.
func TestPhaseTransposedDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	x := randT(rng, 5, 8, 8, 8)
	w := randT(rng, 8, 6, 4, 4)
	p := ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	phaseConvT = true
	defer func() { phaseConvT = false }()
	first := ConvTranspose2dForward(x, w, nil, p)
	for i := 0; i < 5; i++ {
		again := ConvTranspose2dForward(x, w, nil, p)
		for j := range again.Data {
			if again.Data[j] != first.Data[j] {
				t.Fatalf("run %d: element %d = %v, first run %v", i, j, again.Data[j], first.Data[j])
			}
		}
	}
}

// BenchmarkPhaseT compares the phase path with GEMM + col2im on the
// autoencoder's strided transposed convolutions.
func BenchmarkPhaseT(b *testing.B) {
	rng := rand.New(rand.NewPCG(75, 76))
	pt := ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	d1x, d1w := randT(rng, 16, 32, 16, 16), randT(rng, 32, 32, 4, 4)
	d2x, d2w := randT(rng, 16, 32, 32, 32), randT(rng, 32, 3, 4, 4)
	var sink *tensor.Tensor
	for _, off := range []bool{false, true} {
		name := "phase"
		if off {
			name = "col2im"
		}
		b.Run("D1fwd/"+name, func(b *testing.B) {
			phaseConvT = !off
			for i := 0; i < b.N; i++ {
				sink = ConvTranspose2dForward(d1x, d1w, nil, pt)
			}
			phaseConvT = false
		})
		b.Run("D2fwd/"+name, func(b *testing.B) {
			phaseConvT = !off
			for i := 0; i < b.N; i++ {
				sink = ConvTranspose2dForward(d2x, d2w, nil, pt)
			}
			phaseConvT = false
		})
	}
	_ = sink
}

// TestSumFloats checks the unrolled sum against a float64 sum for lengths
// around the unroll width.
func TestSumFloats(t *testing.T) {
	rng := rand.New(rand.NewPCG(77, 78))
	for n := 0; n < 40; n++ {
		v := randT(rng, n+1).Data[:n]
		var want float64
		for _, e := range v {
			want += float64(e)
		}
		closeS(t, fmt.Sprintf("n=%d", n), float64(sumFloats(v)), want, float64(n)+1, 1e-6)
	}
}
