package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

func TestGradConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name         string
		cin, cout, k int
		p            ops.Conv2D
	}{
		{"plain", 3, 4, 3, ops.Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{"stride2", 2, 3, 3, ops.Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{"dilated", 2, 2, 3, ops.Conv2D{DilH: 2, DilW: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2}},
		{"groups", 4, 6, 3, ops.Conv2D{Groups: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{"depthwise", 3, 3, 3, ops.Conv2D{Groups: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
		{"pointwise", 3, 5, 1, ops.Conv2D{}},
		{"pointwise/stride2", 2, 4, 1, ops.Conv2D{StrideH: 2, StrideW: 2}},
		{"stride2/nopad", 3, 4, 3, ops.Conv2D{StrideH: 2, StrideW: 2}},
	}
	for _, c := range cases {
		g := max(c.p.Groups, 1)
		gradCheck(t, "Conv2d/"+c.name, func(in []*Var) *Var { return Conv2d(in[0], in[1], in[2], c.p) },
			randT(rng, -1, 1, 2, c.cin, 6, 5), randT(rng, -1, 1, c.cout, c.cin/g, c.k, c.k), randT(rng, -1, 1, c.cout))
	}
	for _, act := range []ops.Act{ops.ActReLU, ops.ActReLU6} {
		p := ops.Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1, Act: act}
		x := randT(rng, -1, 1, 2, 2, 5, 5)
		for i := range x.Data {
			x.Data[i] *= 4 // some outputs above 6
		}
		gradCheck(t, "Conv2d/act", func(in []*Var) *Var { return Conv2d(in[0], in[1], in[2], p) },
			x, randT(rng, -1, 1, 3, 2, 3, 3), randT(rng, -1, 1, 3))
	}
	// Sizes large enough for the fast paths (Winograd, im2col+GEMM tiles).
	gradCheck(t, "Conv2d/3x3-16ch", func(in []*Var) *Var {
		return Conv2d(in[0], in[1], in[2], ops.Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1})
	}, randT(rng, -1, 1, 2, 16, 12, 12), randT(rng, -0.3, 0.3, 16, 16, 3, 3), randT(rng, -1, 1, 16))
	gradCheck(t, "ConvTranspose2d/k4s2p1", func(in []*Var) *Var {
		return ConvTranspose2d(in[0], in[1], in[2], ops.ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1})
	}, randT(rng, -1, 1, 2, 8, 6, 6), randT(rng, -0.3, 0.3, 8, 3, 4, 4), randT(rng, -1, 1, 3))
	gradCheck(t, "Conv2d/nobias", func(in []*Var) *Var { return Conv2d(in[0], in[1], nil, ops.Conv2D{}) },
		randT(rng, -1, 1, 1, 2, 5, 5), randT(rng, -1, 1, 3, 2, 2, 2))
	gradCheck(t, "ConvTranspose2d", func(in []*Var) *Var {
		return ConvTranspose2d(in[0], in[1], in[2], ops.ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, OutPadH: 1, OutPadW: 1})
	}, randT(rng, -1, 1, 2, 3, 4, 3), randT(rng, -1, 1, 3, 2, 3, 3), randT(rng, -1, 1, 2))
	for _, act := range []ops.Act{ops.ActReLU, ops.ActReLU6} {
		x := randT(rng, -1, 1, 1, 3, 4, 3)
		for i := range x.Data {
			x.Data[i] *= 5 // some outputs above 6
		}
		// Outputs move ~5h per weight step: a small h keeps them off the kinks.
		gradCheckOpt(t, fmt.Sprintf("ConvTranspose2dAct/%d", act), 2e-4, 2e-2, func(in []*Var) *Var {
			return ConvTranspose2dAct(in[0], in[1], in[2], ops.ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, act)
		}, x, randT(rng, -1, 1, 3, 2, 3, 3), randT(rng, -1, 1, 2))
	}
	gradCheck(t, "ConvTranspose2d/groups", func(in []*Var) *Var {
		return ConvTranspose2d(in[0], in[1], nil, ops.ConvT2D{StrideH: 2, StrideW: 2, Groups: 2})
	}, randT(rng, -1, 1, 1, 4, 3, 3), randT(rng, -1, 1, 4, 1, 2, 2))
}

func TestGradPoolResample(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	// Distinct, well separated values keep max-pool's argmax stable under ±h.
	perm := rng.Perm(2 * 3 * 6 * 6)
	mx := tensor.New(2, 3, 6, 6)
	for i, p := range perm {
		mx.Data[i] = float32(p) * 0.05
	}
	gradCheck(t, "MaxPool2d", func(in []*Var) *Var {
		return MaxPool2d(in[0], ops.Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1})
	}, mx)
	gradCheck(t, "AvgPool2d", func(in []*Var) *Var {
		return AvgPool2d(in[0], ops.Pool2D{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	}, randT(rng, -1, 1, 2, 3, 6, 6))
	gradCheck(t, "AvgPool2d/pad", func(in []*Var) *Var {
		return AvgPool2d(in[0], ops.Pool2D{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 1})
	}, randT(rng, -1, 1, 1, 2, 5, 5))
	gradCheck(t, "GlobalAvgPool", func(in []*Var) *Var { return GlobalAvgPool(in[0]) }, randT(rng, -1, 1, 2, 3, 4, 5))
	gradCheck(t, "UpsampleNearest", func(in []*Var) *Var { return UpsampleNearest(in[0], 6, 9) }, randT(rng, -1, 1, 2, 2, 3, 3))
	gradCheck(t, "UpsampleBilinear", func(in []*Var) *Var { return UpsampleBilinear(in[0], 7, 8, false) }, randT(rng, -1, 1, 2, 2, 3, 4))
	gradCheck(t, "UpsampleBilinear/align", func(in []*Var) *Var { return UpsampleBilinear(in[0], 7, 8, true) }, randT(rng, -1, 1, 1, 2, 3, 4))
}

func TestGradBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	x := randT(rng, -1, 2, 3, 4, 3, 3)
	gradCheck(t, "BatchNorm2d/train", func(in []*Var) *Var {
		return BatchNorm2d(in[0], in[1], in[2], nil, nil, true, 0.1, 1e-5)
	}, x, randT(rng, 0.5, 1.5, 4), randT(rng, -1, 1, 4))
	rm, rv := randT(rng, -0.5, 0.5, 4), randT(rng, 0.5, 2, 4)
	gradCheck(t, "BatchNorm2d/eval", func(in []*Var) *Var {
		return BatchNorm2d(in[0], in[1], in[2], rm, rv, false, 0.1, 1e-5)
	}, x.Clone(), randT(rng, 0.5, 1.5, 4), randT(rng, -1, 1, 4))
}

func TestBatchNormRunningStats(t *testing.T) {
	// One channel, values 1..8 over N=2, 2x2: mean 4.5, unbiased var 6.
	x := NewVar(tensor.From([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 1, 2, 2))
	bn := NewBatchNorm2d(1)
	y := bn.Forward(x)
	if d := bn.RunningMean.Data[0] - 0.45; math.Abs(float64(d)) > 1e-6 {
		t.Fatalf("running mean %v want 0.45", bn.RunningMean.Data[0])
	}
	if d := bn.RunningVar.Data[0] - (0.9 + 0.6); math.Abs(float64(d)) > 1e-4 {
		t.Fatalf("running var %v want 1.5", bn.RunningVar.Data[0])
	}
	// Train output: (x - 4.5)/sqrt(5.25 + eps).
	if d := float64(y.Value.Data[0]) - (1-4.5)/math.Sqrt(5.25+1e-5); math.Abs(d) > 1e-5 {
		t.Fatalf("train output %v", y.Value.Data[0])
	}
	bn.Train(false)
	saved := bn.RunningMean.Data[0]
	y = bn.Forward(x)
	want := (1 - 0.45) / math.Sqrt(1.5+1e-5)
	if d := float64(y.Value.Data[0]) - want; math.Abs(d) > 1e-5 {
		t.Fatalf("eval output %v want %v", y.Value.Data[0], want)
	}
	if bn.RunningMean.Data[0] != saved {
		t.Fatal("eval mode changed running stats")
	}
}

// ssimRef is a direct float64 SSIM (ssimMapsRef: explicit 11×11 Gaussian
// window with zero padding), averaged over pixels, channels and images.
func ssimRef(x, y *tensor.Tensor) float64 {
	n, c, h, w := x.Dims4("ref")
	var total float64
	for b := 0; b < n; b++ {
		for ci := 0; ci < c; ci++ {
			m, _ := ssimMapsRef(planeOf(x, b, ci), planeOf(y, b, ci))
			for _, v := range m.v {
				total += v
			}
		}
	}
	return total / float64(n*c*h*w)
}

func TestSSIM(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	x := randT(rng, 0, 1, 2, 2, 12, 13)
	y := jitter(rng, x, 0.2)
	got := 1 - float64(SSIMLoss(NewVar(x), NewVar(y)).Item())
	want := ssimRef(x, y)
	if math.Abs(got-want) > 1e-5 {
		t.Fatalf("SSIM %v, reference %v", got, want)
	}
	if l := SSIMLoss(NewVar(x), NewVar(x)).Item(); math.Abs(float64(l)) > 1e-5 {
		t.Fatalf("SSIM loss of identical images %v, want 0", l)
	}
	m := SSIMMap(x, y)
	var s float64
	for _, v := range m.Data {
		s += float64(v)
	}
	if math.Abs(s/float64(len(m.Data))-want) > 1e-5 {
		t.Fatal("SSIMMap mean disagrees with SSIM")
	}
	gradCheck(t, "SSIMLoss", func(in []*Var) *Var { return SSIMLoss(in[0], in[1]) },
		randT(rng, 0, 1, 1, 2, 12, 12), randT(rng, 0, 1, 1, 2, 12, 12))
}

func TestGaussBlurTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	// 2 planes of 70×150: several GEMM tiles in both directions.
	x := randT(rng, -1, 1, 2, 1, 70, 150)
	y := gaussBlur(x)
	g := gaussian1D()
	h, w := 70, 150
	for _, p := range []int{0, 1} {
		for _, i := range []int{0, 3, 63, 64, 65, 69} {
			for _, j := range []int{0, 4, 63, 64, 70, 128, 149} {
				var s float64
				for u := -5; u <= 5; u++ {
					for v := -5; v <= 5; v++ {
						if i+u >= 0 && i+u < h && j+v >= 0 && j+v < w {
							s += float64(g[u+5]) * float64(g[v+5]) * float64(x.Data[p*h*w+(i+u)*w+j+v])
						}
					}
				}
				if got := float64(y.Data[p*h*w+i*w+j]); math.Abs(got-s) > 1e-5 {
					t.Fatalf("blur[%d,%d,%d] = %v, want %v", p, i, j, got, s)
				}
			}
		}
	}
	// Self-adjoint: <Bx, z> = <x, Bz>.
	z := randT(rng, -1, 1, 2, 1, 70, 150)
	bz := gaussBlur(z)
	var l, r float64
	for i := range x.Data {
		l += float64(y.Data[i]) * float64(z.Data[i])
		r += float64(x.Data[i]) * float64(bz.Data[i])
	}
	if math.Abs(l-r) > 1e-6*math.Abs(l)+1e-6 {
		t.Fatalf("blur not self-adjoint: %v vs %v", l, r)
	}
}
