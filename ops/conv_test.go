package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// naiveConv evaluates the convolution definition in float64.
func naiveConv(x, w, b *tensor.Tensor, p Conv2D) *tensor.Tensor {
	p = p.norm()
	n, cin, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	cout, cing, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	oh, ow := p.OutSize(h, wd, kh, kw)
	coutg := cout / p.Groups
	y := tensor.New(n, cout, oh, ow)
	for img := 0; img < n; img++ {
		for co := 0; co < cout; co++ {
			g := co / coutg
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var s float64
					if b != nil {
						s = float64(b.Data[co])
					}
					for ci := 0; ci < cing; ci++ {
						for ki := 0; ki < kh; ki++ {
							for kj := 0; kj < kw; kj++ {
								iy := oy*p.StrideH - p.PadT + ki*p.DilH
								ix := ox*p.StrideW - p.PadL + kj*p.DilW
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += float64(x.Data[((img*cin+g*cing+ci)*h+iy)*wd+ix]) *
									float64(w.Data[((co*cing+ci)*kh+ki)*kw+kj])
							}
						}
					}
					switch p.Act {
					case ActReLU:
						s = math.Max(s, 0)
					case ActReLU6:
						s = math.Min(math.Max(s, 0), 6)
					}
					y.Data[((img*cout+co)*oh+oy)*ow+ox] = float32(s)
				}
			}
		}
	}
	return y
}

type convCase struct {
	n, cin, h, w, cout, kh, kw int
	p                          Conv2D
}

func (c convCase) String() string {
	return fmt.Sprintf("n%d_c%dx%dx%d_o%d_k%dx%d_%+v", c.n, c.cin, c.h, c.w, c.cout, c.kh, c.kw, c.p)
}

var convCases = []convCase{
	{2, 3, 7, 6, 4, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
	{2, 3, 9, 8, 5, 3, 3, Conv2D{StrideH: 2, StrideW: 2, PadT: 0, PadL: 1, PadB: 1, PadR: 0}},
	{1, 2, 9, 9, 3, 3, 3, Conv2D{DilH: 2, DilW: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2}},
	{2, 4, 6, 7, 6, 3, 3, Conv2D{Groups: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
	{2, 4, 8, 8, 6, 3, 3, Conv2D{Groups: 2, StrideH: 2, StrideW: 2, PadT: 1, PadL: 0, PadB: 0, PadR: 1}},
	{2, 5, 7, 8, 5, 3, 3, Conv2D{Groups: 5, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
	{2, 5, 9, 10, 5, 3, 3, Conv2D{Groups: 5, StrideH: 2, StrideW: 2, PadT: 0, PadL: 1, PadB: 1, PadR: 0}},
	{1, 3, 9, 9, 3, 3, 3, Conv2D{Groups: 3, DilH: 2, DilW: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2}},
	{1, 3, 11, 12, 3, 5, 5, Conv2D{Groups: 3, PadT: 2, PadL: 2, PadB: 2, PadR: 2, Act: ActReLU6}},
	{1, 4, 40, 33, 4, 3, 3, Conv2D{Groups: 4, PadT: 1, PadL: 1, PadB: 1, PadR: 1, Act: ActReLU}},
	{2, 6, 5, 7, 4, 1, 1, Conv2D{}},
	{2, 6, 5, 7, 4, 1, 1, Conv2D{StrideH: 2, StrideW: 2}},
	{1, 8, 20, 20, 16, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1, Act: ActReLU}},
	{1, 16, 24, 24, 8, 1, 1, Conv2D{Act: ActReLU6}},
	{2, 3, 8, 9, 4, 2, 3, Conv2D{StrideH: 1, StrideW: 2, PadT: 1, PadB: 0, PadL: 2, PadR: 1}},
	{3, 2, 5, 5, 3, 5, 5, Conv2D{}},
	{1, 6, 6, 6, 12, 3, 3, Conv2D{Groups: 6, PadT: 1, PadL: 1, PadB: 1, PadR: 1}}, // channel multiplier 2
	{2, 3, 47, 61, 3, 3, 3, Conv2D{Groups: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 0, PadB: 1, PadR: 1, Act: ActReLU6}},
	{1, 2, 44, 70, 2, 3, 3, Conv2D{Groups: 2, StrideH: 1, StrideW: 2, PadT: 1, PadL: 1, PadB: 0, PadR: 1}},
	// 32 output channels per group on few input channels: the weight
	// gradient is accumulated transposed (transposeFits).
	{2, 3, 12, 12, 32, 3, 3, Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
	{2, 4, 8, 9, 64, 3, 3, Conv2D{Groups: 2, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
	// Winograd-eligible (3×3 stride 1, >= 16 channels, >= 128 tiles).
	{1, 16, 24, 22, 16, 3, 3, Conv2D{PadT: 0, PadL: 1, PadB: 2, PadR: 1, Act: ActReLU}},
	{3, 17, 13, 15, 20, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
	{2, 32, 20, 17, 16, 3, 3, Conv2D{Act: ActReLU6}},
	{1, 16, 21, 35, 24, 3, 3, Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1, Act: ActReLU}},
}

func TestConv2dForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range convCases {
		g := max(c.p.Groups, 1)
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin/g, c.kh, c.kw)
		b := randT(rng, c.cout)
		want := naiveConv(x, w, b, c.p)
		got := Conv2dForward(x, w, b, c.p)
		if !tensor.SameShape(got.Shape, want.Shape) {
			t.Fatalf("%v: shape %v want %v", c, got.Shape, want.Shape)
		}
		closeT(t, c.String(), got.Data, want.Data, 1e-4)
		into := tensor.New(want.Shape...)
		into.Fill(float32(math.NaN())) // must be fully overwritten
		Conv2dForwardInto(into, x, w, b, c.p)
		closeT(t, c.String()+" into", into.Data, want.Data, 1e-4)
		if c.p.Act == ActNone {
			closeT(t, c.String()+" nobias", Conv2dForward(x, w, nil, c.p).Data, naiveConv(x, w, nil, c.p).Data, 1e-4)
		}
	}
}

// TestConv2dBackwardAdjoint: the convolution is bilinear, so for random r
// and directions v, <dX(r), v> = <conv(v, w), r> and <dW(r), v> =
// <conv(x, v), r> exactly; db is the per-channel sum of r.
func TestConv2dBackwardAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range convCases {
		p := c.p
		p.Act = ActNone
		g := max(p.Groups, 1)
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin/g, c.kh, c.kw)
		y := naiveConv(x, w, nil, p)
		r := randT(rng, y.Shape...)
		dx, dw, db := Conv2dBackward(x, w, r, p, true)
		vx := randT(rng, x.Shape...)
		vw := randT(rng, w.Shape...)
		lhs := dot(dx.Data, vx.Data)
		rhs := dot(naiveConv(vx, w, nil, p).Data, r.Data)
		closeS(t, c.String()+" dx", lhs, rhs, norm2(dx.Data)*norm2(vx.Data), 1e-5)
		lhs = dot(dw.Data, vw.Data)
		rhs = dot(naiveConv(x, vw, nil, p).Data, r.Data)
		closeS(t, c.String()+" dw", lhs, rhs, norm2(dw.Data)*norm2(vw.Data), 1e-5)
		oh, ow := y.Shape[2], y.Shape[3]
		for co := 0; co < c.cout; co++ {
			var s float64
			for img := 0; img < c.n; img++ {
				for _, v := range r.Data[(img*c.cout+co)*oh*ow : (img*c.cout+co+1)*oh*ow] {
					s += float64(v)
				}
			}
			closeS(t, c.String()+" db", float64(db.Data[co]), s, math.Sqrt(float64(c.n*oh*ow)), 1e-5)
		}
		dx2, dw2, _ := Conv2dBackward(x, w, r, p, false)
		if dx2 != nil {
			t.Fatal("dx returned without needDX")
		}
		closeT(t, c.String()+" dw without dx", dw2.Data, dw.Data, 1e-5)
	}
}

// TestConv2dBackwardNumerical checks a few gradient entries by central
// differences of sum(y*r) through the kernel itself.
func TestConv2dBackwardNumerical(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []convCase{convCases[1], convCases[3], convCases[6], convCases[10]} {
		g := max(c.p.Groups, 1)
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin/g, c.kh, c.kw)
		b := randT(rng, c.cout)
		r := randT(rng, naiveConv(x, w, b, c.p).Shape...)
		loss := func() float64 { return dot(Conv2dForward(x, w, b, c.p).Data, r.Data) }
		dx, dw, db := Conv2dBackward(x, w, r, c.p, true)
		const h = 1e-2
		for _, tc := range []struct {
			name string
			v    []float32
			g    []float32
		}{{"x", x.Data, dx.Data}, {"w", w.Data, dw.Data}, {"b", b.Data, db.Data}} {
			for k := 0; k < 6; k++ {
				i := rng.IntN(len(tc.v))
				old := tc.v[i]
				tc.v[i] = old + h
				lp := loss()
				tc.v[i] = old - h
				lm := loss()
				tc.v[i] = old
				num := (lp - lm) / (2 * h)
				closeS(t, fmt.Sprintf("%v d%s[%d]", c, tc.name, i), float64(tc.g[i]), num, 1+math.Abs(num), 2e-3)
			}
		}
	}
}

func TestWinogradUsedAndMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n := 0
	for _, c := range convCases {
		g := max(c.p.Groups, 1)
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin/g, c.kh, c.kw)
		s := convCheck("test", x, w, nil, c.p.norm())
		if !useWinograd(&s) {
			continue
		}
		n++
		b := randT(rng, c.cout)
		got := Conv2dForward(x, w, b, c.p)
		disableWinograd = true
		want := Conv2dForward(x, w, b, c.p)
		disableWinograd = false
		closeT(t, c.String(), got.Data, want.Data, 1e-4)
		// Changed weights must not be served from the transform cache.
		w.Data[len(w.Data)/2] += 0.5
		closeT(t, c.String()+" changed weights", Conv2dForward(x, w, b, c.p).Data, naiveConv(x, w, b, c.p).Data, 1e-4)
	}
	if n < 3 {
		t.Fatalf("only %d Winograd cases", n)
	}
}

// TestShiftedWeightGradMatchesIm2col compares the two dW algorithms on
// every non-pointwise case (any stride, dilation and groups).
func TestShiftedWeightGradMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	n := 0
	for _, c := range convCases {
		g := max(c.p.Groups, 1)
		if c.kh == 1 && c.kw == 1 && max(c.p.StrideH, 1) == 1 && max(c.p.StrideW, 1) == 1 {
			continue
		}
		n++
		p := c.p
		p.Act = ActNone
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin/g, c.kh, c.kw)
		dy := randT(rng, naiveConv(x, w, nil, p).Shape...)
		s := convCheck("test", x, w, nil, p.norm())
		got := tensor.New(w.Shape...)
		shiftedWeightGrad(got.Data, x.Data, dy.Data, &s)
		disableShiftedDW = true
		_, want, _ := Conv2dBackward(x, w, dy, p, false)
		disableShiftedDW = false
		closeT(t, c.String(), got.Data, want.Data, 1e-4)
	}
	if n < 10 {
		t.Fatalf("only %d cases", n)
	}
}

func TestConv2dForwardIntoNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []convCase{convCases[0], convCases[5], convCases[10], convCases[12], convCases[17], convCases[len(convCases)-1]} {
		g := max(c.p.Groups, 1)
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cout, c.cin/g, c.kh, c.kw)
		b := randT(rng, c.cout)
		y := Conv2dForward(x, w, b, c.p)
		allocs := testing.AllocsPerRun(20, func() { Conv2dForwardInto(y, x, w, b, c.p) })
		if allocs > 0 {
			t.Errorf("%v: %v allocations per Conv2dForwardInto", c, allocs)
		}
	}
}

func TestConvShapePanics(t *testing.T) {
	x := tensor.New(1, 4, 5, 5)
	mustPanic(t, "groups", func() { Conv2dForward(x, tensor.New(4, 3, 3, 3), nil, Conv2D{Groups: 2}) })
	mustPanic(t, "bias", func() { Conv2dForward(x, tensor.New(4, 4, 3, 3), tensor.New(3), Conv2D{}) })
	mustPanic(t, "too small", func() { Conv2dForward(x, tensor.New(4, 4, 7, 7), nil, Conv2D{}) })
	mustPanic(t, "into shape", func() { Conv2dForwardInto(tensor.New(1, 4, 5, 5), x, tensor.New(4, 4, 3, 3), nil, Conv2D{}) })
	mustPanic(t, "act backward", func() {
		Conv2dBackward(x, tensor.New(4, 4, 1, 1), tensor.New(1, 4, 5, 5), Conv2D{Act: ActReLU}, true)
	})
	if oh, ow := (Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1}).OutSize(56, 56, 3, 3); oh != 28 || ow != 28 {
		t.Fatalf("OutSize %d %d", oh, ow)
	}
}

func TestDw3Row1MatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	wc := randT(rng, 9).Data
	for _, n := range []int{1, 15, 16, 17, 31, 32, 50, 113} {
		r := [3][]float32{randT(rng, n+2).Data, randT(rng, n+2).Data, randT(rng, n+2).Data}
		got, want := make([]float32, n), make([]float32, n)
		dw3Row1(got, r[0], r[1], r[2], wc, 0.5, -1, 2)
		dw3Row1Go(want, r[0], r[1], r[2], wc, 0.5, -1, 2)
		closeT(t, fmt.Sprint("n=", n), got, want, 1e-5)
	}
}

func TestAddClampMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	for _, n := range []int{3, 8, 29} {
		x := randT(rng, n).Data
		x[0] = float32(math.NaN())
		got, want := append([]float32(nil), x...), append([]float32(nil), x...)
		addClamp(got, 0.25, 0, 6)
		addClampGo(want, 0.25, 0, 6)
		if !math.IsNaN(float64(got[0])) || !math.IsNaN(float64(want[0])) {
			t.Fatalf("NaN not propagated: %v %v", got[0], want[0])
		}
		closeT(t, fmt.Sprint("n=", n), got[1:], want[1:], 0)
	}
}

func TestSplitEvenOdd(t *testing.T) {
	for _, n := range []int{1, 2, 15, 16, 17, 33, 64} {
		row := make([]float32, n)
		for i := range row {
			row[i] = float32(i)
		}
		e, o := make([]float32, (n+1)/2), make([]float32, n/2)
		splitEvenOdd(row, e, o)
		back := make([]float32, n)
		mergeEvenOdd(back, e, o)
		closeT(t, fmt.Sprint("merge n=", n), back, row, 0)
		for i, v := range e {
			if v != float32(2*i) {
				t.Fatalf("n=%d e[%d]=%v", n, i, v)
			}
		}
		for i, v := range o {
			if v != float32(2*i+1) {
				t.Fatalf("n=%d o[%d]=%v", n, i, v)
			}
		}
	}
}

// TestBackwardDeterministic: weight gradients reduced over images in
// parallel must be bit-identical from run to run (repeatable training).
func TestBackwardDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	x := randT(rng, 16, 4, 9, 9)
	for _, p := range []Conv2D{{PadT: 1, PadL: 1, PadB: 1, PadR: 1}, {StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}} {
		w := randT(rng, 6, 4, 3, 3)
		dy := randT(rng, naiveConv(x, w, nil, p).Shape...)
		_, ref, _ := Conv2dBackward(x, w, dy, p, true)
		for k := 0; k < 8; k++ {
			_, dw, _ := Conv2dBackward(x, w, dy, p, true)
			closeT(t, fmt.Sprintf("%+v run %d", p, k), dw.Data, ref.Data, 0)
		}
	}
	pt := ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	w := randT(rng, 4, 3, 4, 4)
	dy := randT(rng, ConvTranspose2dForward(x, w, nil, pt).Shape...)
	_, ref, _ := ConvTranspose2dBackward(x, w, dy, pt, true)
	for k := 0; k < 8; k++ {
		_, dw, _ := ConvTranspose2dBackward(x, w, dy, pt, true)
		closeT(t, fmt.Sprintf("convT run %d", k), dw.Data, ref.Data, 0)
	}
}
