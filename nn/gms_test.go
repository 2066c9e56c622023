package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// plane64 is a float64 image plane for the brute-force references.
type plane64 struct {
	h, w int
	v    []float64
}

func (p plane64) at(i, j int) float64 {
	if i < 0 || j < 0 || i >= p.h || j >= p.w {
		return 0
	}
	return p.v[i*p.w+j]
}

func planeOf(t *tensor.Tensor, b, c int) plane64 {
	_, ch, h, w := t.Dims4("planeOf")
	p := plane64{h, w, make([]float64, h*w)}
	for i := range p.v {
		p.v[i] = float64(t.Data[(b*ch+c)*h*w+i])
	}
	return p
}

// pool2Ref is 2×2 average pooling, stride 2, odd edge dropped.
func pool2Ref(p plane64) plane64 {
	q := plane64{p.h / 2, p.w / 2, make([]float64, (p.h/2)*(p.w/2))}
	for i := 0; i < q.h; i++ {
		for j := 0; j < q.w; j++ {
			q.v[i*q.w+j] = (p.at(2*i, 2*j) + p.at(2*i+1, 2*j) + p.at(2*i, 2*j+1) + p.at(2*i+1, 2*j+1)) / 4
		}
	}
	return q
}

// bilinearRef resizes p to h×w as PyTorch's interpolate(bilinear,
// align_corners=False) does: source coordinate (o+0.5)·in/out − 0.5,
// clamped at 0, neighbours clamped to the edge.
func bilinearRef(p plane64, h, w int) plane64 {
	src := func(o, in, out int) (int, int, float64) {
		s := (float64(o)+0.5)*float64(in)/float64(out) - 0.5
		if s < 0 {
			s = 0
		}
		a := int(math.Floor(s))
		if a > in-1 {
			a = in - 1
		}
		b := a + 1
		if b > in-1 {
			b = in - 1
		}
		return a, b, s - float64(a)
	}
	q := plane64{h, w, make([]float64, h*w)}
	for i := 0; i < h; i++ {
		i0, i1, ti := src(i, p.h, h)
		for j := 0; j < w; j++ {
			j0, j1, tj := src(j, p.w, w)
			q.v[i*w+j] = (1-ti)*((1-tj)*p.at(i0, j0)+tj*p.at(i0, j1)) + ti*((1-tj)*p.at(i1, j0)+tj*p.at(i1, j1))
		}
	}
	return q
}

// gmsRefPlane is the single-scale GMS map of two planes with explicit 3×3
// Prewitt kernels (cross-correlation, zero padding).
func gmsRefPlane(a, b plane64) plane64 {
	kx := [3][3]float64{{1, 0, -1}, {1, 0, -1}, {1, 0, -1}}
	ky := [3][3]float64{{1, 1, 1}, {0, 0, 0}, {-1, -1, -1}}
	mag := func(p plane64, i, j int) float64 {
		var gx, gy float64
		for u := 0; u < 3; u++ {
			for v := 0; v < 3; v++ {
				gx += kx[u][v] / 3 * p.at(i+u-1, j+v-1)
				gy += ky[u][v] / 3 * p.at(i+u-1, j+v-1)
			}
		}
		return math.Sqrt(gx*gx + gy*gy + 1e-12)
	}
	q := plane64{a.h, a.w, make([]float64, a.h*a.w)}
	for i := 0; i < a.h; i++ {
		for j := 0; j < a.w; j++ {
			m1, m2 := mag(a, i, j), mag(b, i, j)
			q.v[i*a.w+j] = (2*m1*m2 + 0.0026) / (m1*m1 + m2*m2 + 0.0026)
		}
	}
	return q
}

// msgmsRef is RIAD's MSGMS map in float64: per channel, GMS at `scales`
// scales, upsampled, 1 − mean over scales; then the channel mean.
func msgmsRef(x, y *tensor.Tensor, scales int) [][]float64 {
	n, c, h, w := x.Dims4("msgmsRef")
	out := make([][]float64, n)
	for b := 0; b < n; b++ {
		out[b] = make([]float64, h*w)
		for ci := 0; ci < c; ci++ {
			a, bb := planeOf(x, b, ci), planeOf(y, b, ci)
			acc := make([]float64, h*w)
			for s := 0; s < scales; s++ {
				if s > 0 {
					a, bb = pool2Ref(a), pool2Ref(bb)
				}
				up := bilinearRef(gmsRefPlane(a, bb), h, w)
				for i, v := range up.v {
					acc[i] += v
				}
			}
			for i := range acc {
				out[b][i] += (1 - acc[i]/float64(scales)) / float64(c)
			}
		}
	}
	return out
}

// checkMapLoss compares a map [N,1,H,W] and a loss with the reference map
// (whose mean the loss must be).
func checkMapLoss(t *testing.T, name string, m *tensor.Tensor, loss float32, ref [][]float64, tol float64) {
	t.Helper()
	var sum float64
	cnt := 0
	for b, r := range ref {
		for i, want := range r {
			if got := float64(m.Data[b*len(r)+i]); math.Abs(got-want) > tol {
				t.Fatalf("%s map[%d][%d] = %v, reference %v", name, b, i, got, want)
			}
			sum += want
			cnt++
		}
	}
	if len(m.Data) != cnt {
		t.Fatalf("%s map has %d values, want %d", name, len(m.Data), cnt)
	}
	if want := sum / float64(cnt); math.Abs(float64(loss)-want) > tol {
		t.Fatalf("%s loss %v, reference %v", name, loss, want)
	}
}

func TestMSGMSAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	// 13×17: odd sizes exercise the pooling's dropped edge and non-integer
	// upsampling ratios.
	x := randT(rng, 0, 1, 2, 3, 13, 17)
	y := jitter(rng, x, 0.3)
	checkMapLoss(t, "MSGMS", MSGMSMap(x, y), MSGMSLoss(NewVar(x), NewVar(y)).Item(), msgmsRef(x, y, 4), 2e-5)
	checkMapLoss(t, "GMS", GMSMap(x, y), GMSLoss(NewVar(x), NewVar(y)).Item(), msgmsRef(x, y, 1), 2e-5)
}

// TestGMSHandValue: x a horizontal ramp a·j, y flat. Inside, Prewitt gives
// g_x = (1/3)·3·(a(j−1) − a(j+1)) = −2a, g_y = 0, so m_x = √(4a² + ε) and
// m_y = √ε (ε = 1e-12): GMS = (2·m_x·m_y + c)/(4a² + 2ε + c), about c/(4a² + c).
func TestGMSHandValue(t *testing.T) {
	const a = 0.05
	x, y := tensor.New(1, 1, 6, 6), tensor.New(1, 1, 6, 6)
	for i := 0; i < 6; i++ {
		for j := 0; j < 6; j++ {
			x.Data[i*6+j] = a * float32(j)
		}
	}
	mx, my := math.Sqrt(4*a*a+1e-12), 1e-6
	want := 1 - (2*mx*my+0.0026)/(4*a*a+2e-12+0.0026)
	m := GMSMap(x, y)
	for _, ij := range [][2]int{{1, 1}, {2, 3}, {4, 4}} {
		if got := m.Data[ij[0]*6+ij[1]]; math.Abs(float64(got)-want) > 1e-5 {
			t.Fatalf("1−GMS at %v = %v, want %v", ij, got, want)
		}
	}
}

func TestMSGMSIdentityAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	x := randT(rng, 0, 1, 2, 3, 16, 16)
	identityAndNaN(t, "MSGMSLoss", MSGMSLoss, x)
	identityAndNaN(t, "GMSLoss", GMSLoss, x)
	flat := tensor.New(1, 1, 8, 8)
	if l := MSGMSLoss(NewVar(flat), NewVar(flat)).Item(); l != 0 {
		t.Fatalf("MSGMS of flat identical images %v, want 0", l)
	}
	mustPanic(t, "too small", func() { MSGMSMap(tensor.New(1, 1, 7, 9), tensor.New(1, 1, 7, 9)) })
	mustPanic(t, "shape mismatch", func() { MSGMSLoss(NewVar(x), NewVar(tensor.New(2, 3, 16, 15))) })
}

// jitter returns x plus uniform noise of width amp.
func jitter(rng *rand.Rand, x *tensor.Tensor, amp float32) *tensor.Tensor {
	y := x.Clone()
	for i := range y.Data {
		y.Data[i] += amp * (rng.Float32() - 0.5)
	}
	return y
}

// identityAndNaN checks that a loss of identical images is 0 and that a
// NaN in either input panics instead of giving a NaN loss.
func identityAndNaN(t *testing.T, name string, loss func(x, y *Var) *Var, x *tensor.Tensor) {
	t.Helper()
	if l := loss(NewVar(x), NewVar(x.Clone())).Item(); math.Abs(float64(l)) > 1e-5 {
		t.Fatalf("%s of identical images %v, want 0", name, l)
	}
	bad := x.Clone()
	bad.Data[len(bad.Data)/2] = float32(math.NaN())
	mustPanic(t, name+" of a NaN x", func() { loss(NewVar(bad), NewVar(x)) })
	mustPanic(t, name+" of a NaN y", func() { loss(NewVar(x), NewVar(bad)) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s: no panic", what)
		}
	}()
	f()
}

// plantedPeak checks that a dissimilarity map peaks inside the square where
// a local difference was planted.
func plantedPeak(t *testing.T, name string, mapFn func(x, y *tensor.Tensor) *tensor.Tensor) {
	t.Helper()
	const s = 32
	x := tensor.New(1, 1, s, s)
	for i := 0; i < s; i++ {
		for j := 0; j < s; j++ {
			x.Data[i*s+j] = 0.5 + 0.2*float32(math.Sin(float64(i)*0.7)*math.Cos(float64(j)*0.5))
		}
	}
	y := x.Clone()
	for i := 20; i < 25; i++ {
		for j := 8; j < 13; j++ {
			y.Data[i*s+j] = 0.5 + 0.3*float32((i+j)%2)
		}
	}
	m := mapFn(x, y)
	best := 0
	for i, v := range m.Data {
		if v > m.Data[best] {
			best = i
		}
	}
	if i, j := best/s, best%s; i < 17 || i > 27 || j < 5 || j > 15 {
		t.Fatalf("%s map peaks at (%d,%d), planted difference at rows 20-24, cols 8-12", name, i, j)
	}
	// Far from the defect the two images agree.
	if far := m.Data[3*s+28]; far > 0.1*m.Data[best] {
		t.Fatalf("%s map far from the defect %v vs peak %v", name, far, m.Data[best])
	}
}

func TestMapsPeakAtPlantedDifference(t *testing.T) {
	plantedPeak(t, "MSGMS", MSGMSMap)
	plantedPeak(t, "GMS", GMSMap)
}

func TestGradMSGMS(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	gradCheck(t, "MSGMSLoss", func(in []*Var) *Var { return Scale(MSGMSLoss(in[0], in[1]), 1000) },
		randT(rng, 0, 1, 1, 2, 9, 11), randT(rng, 0, 1, 1, 2, 9, 11))
	gradCheck(t, "GMSLoss", func(in []*Var) *Var { return Scale(GMSLoss(in[0], in[1]), 1000) },
		randT(rng, 0, 1, 2, 1, 6, 5), randT(rng, 0, 1, 2, 1, 6, 5))
}

// benchImageLoss times one forward and backward pass of an image loss on a
// training batch, 16×3×64×64, with the gradient flowing to x.
func benchImageLoss(b *testing.B, loss func(x, y *Var) *Var) {
	rng := rand.New(rand.NewPCG(61, 62))
	xt := randT(rng, 0, 1, 16, 3, 64, 64)
	y := NewVar(jitter(rng, xt, 0.2))
	x := NewParamVar(xt)
	b.ResetTimer()
	for range b.N {
		x.ZeroGrad()
		Backward(loss(x, y))
	}
}

func BenchmarkSSIMLoss(b *testing.B)   { benchImageLoss(b, SSIMLoss) }
func BenchmarkMSGMSLoss(b *testing.B)  { benchImageLoss(b, MSGMSLoss) }
func BenchmarkMSSSIMLoss(b *testing.B) { benchImageLoss(b, MSSSIMLoss) }
func BenchmarkCWSSIMLoss(b *testing.B) { benchImageLoss(b, CWSSIMLoss) }

// TestImageLossOneSidedGradients: with only x (or only y) requiring a
// gradient the losses skip the other side's work; what they give must
// equal the gradients of the two-sided pass.
func TestImageLossOneSidedGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	xt := randT(rng, 0, 1, 2, 2, 16, 18)
	yt := jitter(rng, xt, 0.3)
	for name, loss := range map[string]func(x, y *Var) *Var{
		"GMSLoss": GMSLoss, "MSGMSLoss": MSGMSLoss, "MSSSIMLoss": MSSSIMLoss, "CWSSIMLoss": CWSSIMLoss,
	} {
		bx, by := NewParamVar(xt), NewParamVar(yt)
		Backward(loss(bx, by))
		ox := NewParamVar(xt)
		Backward(loss(ox, NewVar(yt)))
		oy := NewParamVar(yt)
		Backward(loss(NewVar(xt), oy))
		for _, pair := range [][2]*Var{{bx, ox}, {by, oy}} {
			for i, g := range pair[0].Grad.Data {
				if d := pair[1].Grad.Data[i] - g; math.Abs(float64(d)) > 1e-7+1e-5*math.Abs(float64(g)) {
					t.Fatalf("%s: one-sided gradient %v, two-sided %v", name, pair[1].Grad.Data[i], g)
				}
			}
		}
	}
}
