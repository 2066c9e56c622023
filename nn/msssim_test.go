package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// ssimMapsRef returns, in float64, the SSIM and the contrast-structure maps
// of two planes: an explicit 11×11 Gaussian window (σ 1.5, normalised),
// zero padding, C1 = 0.01², C2 = 0.03².
func ssimMapsRef(a, b plane64) (ssim, cs plane64) {
	var g [11]float64
	var gs float64
	for i := range g {
		d := float64(i - 5)
		g[i] = math.Exp(-d * d / (2 * 1.5 * 1.5))
		gs += g[i]
	}
	ssim = plane64{a.h, a.w, make([]float64, a.h*a.w)}
	cs = plane64{a.h, a.w, make([]float64, a.h*a.w)}
	const c1, c2 = 0.01 * 0.01, 0.03 * 0.03
	for i := 0; i < a.h; i++ {
		for j := 0; j < a.w; j++ {
			var mx, my, sxx, syy, sxy float64
			for u := -5; u <= 5; u++ {
				for v := -5; v <= 5; v++ {
					wt := g[u+5] * g[v+5] / (gs * gs)
					p, q := a.at(i+u, j+v), b.at(i+u, j+v)
					mx += wt * p
					my += wt * q
					sxx += wt * p * p
					syy += wt * q * q
					sxy += wt * p * q
				}
			}
			sxx -= mx * mx
			syy -= my * my
			sxy -= mx * my
			c := (2*sxy + c2) / (sxx + syy + c2)
			cs.v[i*a.w+j] = c
			ssim.v[i*a.w+j] = c * (2*mx*my + c1) / (mx*mx + my*my + c1)
		}
	}
	return ssim, cs
}

// msssimRef computes MS-SSIM per (image, channel) and the dissimilarity map
// plainly: `scales` scales, exponents renormalised over them.
func msssimRef(x, y *tensor.Tensor, scales int) (index []float64, maps [][]float64) {
	n, c, h, w := x.Dims4("msssimRef")
	all := []float64{0.0448, 0.2856, 0.3001, 0.2363, 0.1333}
	var wsum float64
	for _, v := range all[:scales] {
		wsum += v
	}
	maps = make([][]float64, n)
	for b := 0; b < n; b++ {
		maps[b] = make([]float64, h*w)
		for ci := 0; ci < c; ci++ {
			p, q := planeOf(x, b, ci), planeOf(y, b, ci)
			idx := 1.0
			prod := make([]float64, h*w)
			for i := range prod {
				prod[i] = 1
			}
			for s := 0; s < scales; s++ {
				if s > 0 {
					p, q = pool2Ref(p), pool2Ref(q)
				}
				ss, cs := ssimMapsRef(p, q)
				m := cs
				if s == scales-1 {
					m = ss
				}
				var mean float64
				for _, v := range m.v {
					mean += v
				}
				mean /= float64(len(m.v))
				e := all[s] / wsum
				idx *= math.Pow(math.Max(mean, 0), e)
				for i := range m.v {
					m.v[i] = math.Max(m.v[i], 0)
				}
				up := bilinearRef(m, h, w)
				for i, v := range up.v {
					prod[i] *= math.Pow(v, e)
				}
			}
			index = append(index, idx)
			for i, v := range prod {
				maps[b][i] += (1 - v) / float64(c)
			}
		}
	}
	return index, maps
}

func TestMSSSIMAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct {
		shape  []int
		scales int
	}{{[]int{1, 2, 64, 66}, 5}, {[]int{2, 1, 20, 23}, 3}} {
		x := randT(rng, 0, 1, tc.shape...)
		y := jitter(rng, x, 0.4)
		index, maps := msssimRef(x, y, tc.scales)
		var want float64
		for _, v := range index {
			want += 1 - v
		}
		want /= float64(len(index))
		got := float64(MSSSIMLoss(NewVar(x), NewVar(y)).Item())
		if math.Abs(got-want) > 2e-5 {
			t.Fatalf("%v: MS-SSIM loss %v, reference %v", tc.shape, got, want)
		}
		m := MSSSIMMap(x, y)
		for b, r := range maps {
			for i, v := range r {
				if g := float64(m.Data[b*len(r)+i]); math.Abs(g-v) > 5e-5 {
					t.Fatalf("%v: map[%d][%d] = %v, reference %v", tc.shape, b, i, g, v)
				}
			}
		}
	}
}

func TestMSSSIMScalesAndErrors(t *testing.T) {
	for _, tc := range [][3]int{{64, 64, 5}, {300, 64, 5}, {63, 100, 4}, {32, 32, 4}, {16, 16, 3}, {8, 9, 2}, {7, 50, 1}} {
		if k := msssimScales(tc[0], tc[1]); k != tc[2] {
			t.Fatalf("msssimScales(%d,%d) = %d, want %d", tc[0], tc[1], k, tc[2])
		}
	}
	e := msssimExponents(2)
	if math.Abs(e[0]-0.0448/0.3304) > 1e-12 || math.Abs(e[1]-0.2856/0.3304) > 1e-12 {
		t.Fatalf("renormalised exponents %v", e)
	}
	mustPanic(t, "7×50", func() { MSSSIMMap(tensor.New(1, 1, 7, 50), tensor.New(1, 1, 7, 50)) })
	rng := rand.New(rand.NewPCG(43, 44))
	x := randT(rng, 0, 1, 2, 3, 64, 64)
	identityAndNaN(t, "MSSSIMLoss", MSSSIMLoss, x)
	m := MSSSIMMap(x, x)
	for _, v := range m.Data {
		if math.Abs(float64(v)) > 1e-5 {
			t.Fatalf("MS-SSIM map of identical images has %v", v)
		}
	}
	inf := x.Clone()
	inf.Data[0] = float32(math.Inf(1))
	mustPanic(t, "Inf input", func() { MSSSIMLoss(NewVar(inf), NewVar(x)) })
}

func TestMSSSIMMapPeak(t *testing.T) { plantedPeak(t, "MS-SSIM", MSSSIMMap) }

func TestGradMSSSIM(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	x := randT(rng, 0, 1, 1, 2, 17, 19) // 3 scales, odd sizes
	gradCheckOpt(t, "MSSSIMLoss", 1e-2, 2e-2, func(in []*Var) *Var { return Scale(MSSSIMLoss(in[0], in[1]), 1000) }, x, jitter(rng, x, 0.3))
	// All 5 scales need 64x64, where one pixel moves the loss by about
	// 1e-6: within the float32 rounding of the loss (it differs between
	// the assembly and purego builds), so per-element differences are
	// noise. A random direction over every pixel moves it by far more.
	x = randT(rng, 0, 1, 1, 1, 64, 64)
	y := jitter(rng, x, 0.3)
	for side := 0; side < 2; side++ {
		in := []*tensor.Tensor{x, y}
		d := randT(rng, -1, 1, x.Shape...)
		vars := []*Var{NewVar(x), NewVar(y)}
		vars[side] = NewParamVar(in[side])
		Backward(MSSSIMLoss(vars[0], vars[1]))
		var analytic float64
		for i, g := range vars[side].Grad.Data {
			analytic += float64(g) * float64(d.Data[i])
		}
		at := func(eps float32) float64 {
			moved := in[side].Clone()
			for i := range moved.Data {
				moved.Data[i] += eps * d.Data[i]
			}
			args := []*tensor.Tensor{x, y}
			args[side] = moved
			var v float64
			NoGrad(func() { v = float64(MSSSIMLoss(NewVar(args[0]), NewVar(args[1])).Value.Data[0]) })
			return v
		}
		const eps = 1e-2
		numeric := (at(eps) - at(-eps)) / (2 * eps)
		if math.Abs(analytic-numeric) > 1e-2*math.Abs(numeric) {
			t.Errorf("MSSSIMLoss, 5 scales, input %d: directional derivative analytic %v, numeric %v", side, analytic, numeric)
		}
	}
}
