package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// dirDeriv is the central-difference derivative of sum(f(x)*r) along v,
// accumulated in float64.
func dirDeriv(f func(*tensor.Tensor) *tensor.Tensor, x, v, r *tensor.Tensor, h float64) float64 {
	xp, xm := x.Clone(), x.Clone()
	for i := range x.Data {
		xp.Data[i] += float32(h) * v.Data[i]
		xm.Data[i] -= float32(h) * v.Data[i]
	}
	return (dot(f(xp).Data, r.Data) - dot(f(xm).Data, r.Data)) / (2 * h)
}

var poolCases = []Pool2D{
	{KH: 2, KW: 2, StrideH: 2, StrideW: 2},
	{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
	{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, CountIncludePad: true},
	{KH: 3, KW: 2, StrideH: 2, StrideW: 3, PadT: 1, PadL: 0, PadB: 0, PadR: 1, CeilMode: true},
	{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, CeilMode: true, CountIncludePad: true},
	{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
}

// naivePool follows PyTorch's definition directly.
func naivePool(x *tensor.Tensor, p Pool2D, isMax bool) *tensor.Tensor {
	p = p.norm()
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := p.OutSize(h, w)
	y := tensor.New(n, c, oh, ow)
	for pl := 0; pl < n*c; pl++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best, sum, cnt, padCnt := math.Inf(-1), 0.0, 0, 0
				for ki := 0; ki < p.KH; ki++ {
					for kj := 0; kj < p.KW; kj++ {
						iy, ix := oy*p.StrideH-p.PadT+ki, ox*p.StrideW-p.PadL+kj
						if iy < h+p.PadB && ix < w+p.PadR {
							padCnt++ // inside the padded input
						}
						if iy < 0 || ix < 0 || iy >= h || ix >= w {
							continue
						}
						v := float64(x.Data[(pl*h+iy)*w+ix])
						best = math.Max(best, v)
						sum += v
						cnt++
					}
				}
				o := (pl*oh+oy)*ow + ox
				switch {
				case isMax:
					y.Data[o] = float32(best)
				case p.CountIncludePad:
					y.Data[o] = float32(sum / float64(padCnt))
				default:
					y.Data[o] = float32(sum / float64(cnt))
				}
			}
		}
	}
	return y
}

func TestPoolOutSizeLikePyTorch(t *testing.T) {
	// Values from torch.nn.functional.max_pool2d shapes.
	cases := []struct {
		p     Pool2D
		h, oh int
	}{
		{Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1}, 112, 56},
		{Pool2D{KH: 2, KW: 2, StrideH: 2, StrideW: 2, CeilMode: true}, 5, 3},
		{Pool2D{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, 5, 2},
		{Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1, CeilMode: true}, 6, 4},
		{Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1, CeilMode: true}, 5, 3},
	}
	for _, c := range cases {
		if oh, _ := c.p.OutSize(c.h, c.h); oh != c.oh {
			t.Errorf("%+v h=%d: %d, want %d", c.p, c.h, oh, c.oh)
		}
	}
}

func TestPoolsForwardBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, p := range poolCases {
		name := fmt.Sprintf("%+v", p)
		x := randT(rng, 2, 3, 7, 8)
		ym, am := MaxPool2dForward(x, p)
		closeT(t, name+" max", ym.Data, naivePool(x, p, true).Data, 1e-6)
		for i, a := range am {
			if x.Data[a] != ym.Data[i] {
				t.Fatalf("%s: argmax %d does not point at the max", name, i)
			}
		}
		closeT(t, name+" max inference", MaxPool2dInference(x, p).Data, ym.Data, 0)
		ya := AvgPool2dForward(x, p)
		closeT(t, name+" avg", ya.Data, naivePool(x, p, false).Data, 1e-5)

		r, v := randT(rng, ym.Shape...), randT(rng, x.Shape...)
		dxm := MaxPool2dBackward(r, am, x.Shape)
		num := dirDeriv(func(z *tensor.Tensor) *tensor.Tensor { y, _ := MaxPool2dForward(z, p); return y }, x, v, r, 1e-3)
		closeS(t, name+" max backward", dot(dxm.Data, v.Data), num, norm2(dxm.Data)*norm2(v.Data), 1e-3)
		dxa := AvgPool2dBackward(r, p, x.Shape)
		num = dirDeriv(func(z *tensor.Tensor) *tensor.Tensor { return AvgPool2dForward(z, p) }, x, v, r, 1e-2)
		closeS(t, name+" avg backward", dot(dxa.Data, v.Data), num, norm2(dxa.Data)*norm2(v.Data), 1e-4)
	}
}

func TestMaxPoolHandValues(t *testing.T) {
	x := tensor.From([]float32{
		1, 5, 2, 0,
		3, 4, 9, 1,
		0, 0, 7, 8,
		6, 2, 3, 3}, 1, 1, 4, 4)
	y, am := MaxPool2dForward(x, Pool2D{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	closeT(t, "y", y.Data, []float32{5, 9, 6, 8}, 0)
	if am[0] != 1 || am[1] != 6 || am[2] != 12 || am[3] != 11 {
		t.Fatalf("argmax %v", am)
	}
	dx := MaxPool2dBackward(tensor.From([]float32{1, 2, 3, 4}, 1, 1, 2, 2), am, x.Shape)
	closeT(t, "dx", dx.Data, []float32{0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 4, 3, 0, 0, 0}, 0)
}

func TestMaxPoolNaNAndWide(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, p := range append(poolCases, Pool2D{KH: 2, KW: 3, StrideH: 3, StrideW: 3, PadT: 1, PadL: 1}) {
		x := randT(rng, 1, 2, 23, 37)
		x.Data[5*37+9] = float32(math.NaN())
		y, am := MaxPool2dForward(x, p)
		want := naivePool(x, p, true)
		nan := 0
		for i, v := range y.Data {
			w := want.Data[i]
			if math.IsNaN(float64(v)) {
				nan++
				if x.Data[am[i]] == x.Data[am[i]] {
					t.Fatalf("%+v: NaN output %d points at %v", p, i, x.Data[am[i]])
				}
				continue
			}
			if v != w && !math.IsNaN(float64(w)) {
				t.Fatalf("%+v: output %d = %v, want %v", p, i, v, w)
			}
			if x.Data[am[i]] != v {
				t.Fatalf("%+v: argmax %d wrong", p, i)
			}
		}
		if nan == 0 {
			t.Fatalf("%+v: NaN did not propagate", p)
		}
	}
}

func TestGlobalAvgPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x := randT(rng, 2, 3, 4, 5)
	y := GlobalAvgPoolForward(x)
	want := AvgPool2dForward(x, Pool2D{KH: 4, KW: 5})
	closeT(t, "gap", y.Data, want.Data, 1e-6)
	if !tensor.SameShape(y.Shape, []int{2, 3, 1, 1}) {
		t.Fatalf("shape %v", y.Shape)
	}
	r := randT(rng, 2, 3, 1, 1)
	closeT(t, "gap backward", GlobalAvgPoolBackward(r, x.Shape).Data, AvgPool2dBackward(r, Pool2D{KH: 4, KW: 5}, x.Shape).Data, 1e-6)
}

func TestBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	x := randT(rng, 3, 4, 5, 6)
	for i := range x.Data {
		x.Data[i] = x.Data[i]*3 + 2
	}
	gamma, beta := randT(rng, 4), randT(rng, 4)
	const eps = 1e-5
	y, mean, invStd := BatchNormTrainForward(x, gamma, beta, eps)
	// Per channel the normalised output has mean beta and std |gamma|.
	for c := 0; c < 4; c++ {
		var s, sq float64
		for img := 0; img < 3; img++ {
			for _, v := range y.Data[(img*4+c)*30 : (img*4+c+1)*30] {
				s += float64(v)
				sq += float64(v) * float64(v)
			}
		}
		m := s / 90
		sd := math.Sqrt(sq/90 - m*m)
		closeS(t, "bn mean", m, float64(beta.Data[c]), 1, 1e-4)
		closeS(t, "bn std", sd, math.Abs(float64(gamma.Data[c])), 1, 1e-3)
	}
	// Inference with the batch statistics gives the same output.
	variance := tensor.New(4)
	for c := range 4 {
		variance.Data[c] = 1/(invStd.Data[c]*invStd.Data[c]) - eps
	}
	closeT(t, "bn inference", BatchNormInference(x, gamma, beta, mean, variance, eps).Data, y.Data, 1e-4)

	// Backward against central differences along random directions.
	r := randT(rng, x.Shape...)
	dx, dg, db := BatchNormBackward(x, r, gamma, mean, invStd)
	v := randT(rng, x.Shape...)
	f := func(z *tensor.Tensor) *tensor.Tensor { y, _, _ := BatchNormTrainForward(z, gamma, beta, eps); return y }
	closeS(t, "bn dx", dot(dx.Data, v.Data), dirDeriv(f, x, v, r, 1e-2), norm2(dx.Data)*norm2(v.Data), 1e-3)
	vg := randT(rng, 4)
	fg := func(g *tensor.Tensor) *tensor.Tensor { y, _, _ := BatchNormTrainForward(x, g, beta, eps); return y }
	closeS(t, "bn dgamma", dot(dg.Data, vg.Data), dirDeriv(fg, gamma, vg, r, 1e-2), norm2(dg.Data)*norm2(vg.Data), 1e-3)
	fb := func(b *tensor.Tensor) *tensor.Tensor { y, _, _ := BatchNormTrainForward(x, gamma, b, eps); return y }
	closeS(t, "bn dbeta", dot(db.Data, vg.Data), dirDeriv(fb, beta, vg, r, 1e-2), norm2(db.Data)*norm2(vg.Data), 1e-3)

	// Rank-2 input (BatchNorm1d) and nil gamma/beta.
	x2 := randT(rng, 8, 3)
	y2, _, _ := BatchNormTrainForward(x2, nil, nil, eps)
	var s float64
	for i := 0; i < 8; i++ {
		s += float64(y2.Data[i*3+1])
	}
	closeS(t, "bn1d mean", s/8, 0, 1, 1e-5)
}

func TestBatchNormInferenceHand(t *testing.T) {
	x := tensor.From([]float32{1, 2, 3, 4}, 1, 2, 1, 2)
	y := BatchNormInference(x, tensor.From([]float32{2, 1}, 2), tensor.From([]float32{0, 1}, 2),
		tensor.From([]float32{1, 3}, 2), tensor.From([]float32{4, 1}, 2), 0)
	closeT(t, "bn", y.Data, []float32{0, 1, 1, 2}, 1e-6)
}

func TestUpsample(t *testing.T) {
	x := tensor.From([]float32{1, 2, 3, 4}, 1, 1, 2, 2)
	closeT(t, "nearest", UpsampleNearest(x, 4, 4).Data, []float32{
		1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 0)
	// torch.nn.functional.interpolate(x, size=(4,4), mode="bilinear", align_corners=False)
	closeT(t, "bilinear", UpsampleBilinear(x, 4, 4, false).Data, []float32{
		1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4}, 1e-6)
	// align_corners=True, size (3,3): exact midpoints.
	closeT(t, "bilinear ac", UpsampleBilinear(x, 3, 3, true).Data, []float32{
		1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}, 1e-6)

	rng := rand.New(rand.NewPCG(27, 28))
	for _, sz := range [][4]int{{5, 6, 11, 13}, {6, 6, 3, 4}, {4, 5, 8, 10}} {
		x := randT(rng, 2, 3, sz[0], sz[1])
		for _, ac := range []bool{false, true} {
			r := randT(rng, 2, 3, sz[2], sz[3])
			v := randT(rng, x.Shape...)
			dx := UpsampleBilinearBackward(r, x.Shape, ac)
			f := func(z *tensor.Tensor) *tensor.Tensor { return UpsampleBilinear(z, sz[2], sz[3], ac) }
			closeS(t, fmt.Sprint("bilinear backward ", sz, ac), dot(dx.Data, v.Data), dirDeriv(f, x, v, r, 1e-2), norm2(dx.Data)*norm2(v.Data), 1e-4)
		}
		r := randT(rng, 2, 3, sz[2], sz[3])
		v := randT(rng, x.Shape...)
		dx := UpsampleNearestBackward(r, x.Shape)
		f := func(z *tensor.Tensor) *tensor.Tensor { return UpsampleNearest(z, sz[2], sz[3]) }
		closeS(t, fmt.Sprint("nearest backward ", sz), dot(dx.Data, v.Data), dirDeriv(f, x, v, r, 1e-2), norm2(dx.Data)*norm2(v.Data), 1e-4)
	}
}

func TestElementwise(t *testing.T) {
	x := tensor.From([]float32{-2, -0.5, 0, 3, 7}, 5)
	y := x.Clone()
	ReLUInPlace(y)
	closeT(t, "relu", y.Data, []float32{0, 0, 0, 3, 7}, 0)
	y = x.Clone()
	ClipInPlace(y, -1, 6)
	closeT(t, "clip", y.Data, []float32{-1, -0.5, 0, 3, 6}, 0)
	a := x.Clone()
	AddInto(a, a, x)
	closeT(t, "add alias", a.Data, []float32{-4, -1, 0, 6, 14}, 0)
	mustPanic(t, "add shape", func() { AddInto(a, a, tensor.New(4)) })

	big := tensor.New(100000)
	for i := range big.Data {
		big.Data[i] = float32(i%7) - 3
	}
	ReLUInPlace(big)
	for i, v := range big.Data {
		if v != max(float32(i%7)-3, 0) {
			t.Fatalf("relu big at %d", i)
		}
	}
}

func TestLinear(t *testing.T) {
	x := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	w := tensor.From([]float32{1, 0, -1, 2, 1, 0}, 2, 3)
	b := tensor.From([]float32{10, 20}, 2)
	closeT(t, "linear", Linear(x, w, b).Data, []float32{8, 24, 8, 33}, 0)
	closeT(t, "linear nobias", Linear(x, w, nil).Data, []float32{-2, 4, -2, 13}, 0)
	mustPanic(t, "linear shape", func() { Linear(x, tensor.New(2, 4), nil) })
}

func TestSoftmax(t *testing.T) {
	x := tensor.From([]float32{1, 2, 3, 1000, 1000, 1000}, 2, 3)
	y := Softmax(x, -1)
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	s := e[0] + e[1] + e[2]
	closeT(t, "softmax", y.Data, []float32{float32(e[0] / s), float32(e[1] / s), float32(e[2] / s), 1. / 3, 1. / 3, 1. / 3}, 1e-6)
	// Axis 1 of a 4-D tensor: every (n,h,w) column sums to 1.
	rng := rand.New(rand.NewPCG(29, 30))
	z := Softmax(randT(rng, 2, 5, 3, 4), 1)
	for n := 0; n < 2; n++ {
		for p := 0; p < 12; p++ {
			var s float64
			for c := 0; c < 5; c++ {
				s += float64(z.Data[(n*5+c)*12+p])
			}
			closeS(t, "softmax axis1", s, 1, 1, 1e-6)
		}
	}
}

func TestLogSoftmax(t *testing.T) {
	// rows far from 0 must not overflow: x − max − log Σ exp(x − max)
	x := tensor.From([]float32{1, 2, 3, 1000, 1000, 1000}, 2, 3)
	ls := math.Log(math.Exp(-2) + math.Exp(-1) + 1)
	want := []float32{float32(-2 - ls), float32(-1 - ls), float32(-ls), float32(-math.Log(3)), float32(-math.Log(3)), float32(-math.Log(3))}
	closeT(t, "log softmax", LogSoftmax(x, 1).Data, want, 1e-6)
	// on any axis it is the log of Softmax
	rng := rand.New(rand.NewPCG(31, 32))
	z := randT(rng, 2, 5, 3, 4)
	sm, lsm := Softmax(z, -3), LogSoftmax(z, -3)
	for i, v := range sm.Data {
		closeS(t, "log(softmax)", float64(lsm.Data[i]), math.Log(float64(v)), 1, 1e-5)
	}
	mustPanic(t, "log softmax axis", func() { LogSoftmax(z, 4) })
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
