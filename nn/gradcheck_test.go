package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// randT returns a tensor of uniform values in [lo, hi).
func randT(rng *rand.Rand, lo, hi float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*rng.Float32()
	}
	return t
}

// randAway returns values in [-1,1) at least gap away from 0 (keeps ReLU-like
// kinks out of the finite-difference stencil).
func randAway(rng *rand.Rand, gap float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		v := gap + (1-gap)*rng.Float32()
		if rng.IntN(2) == 0 {
			v = -v
		}
		t.Data[i] = v
	}
	return t
}

// gradCheck compares the analytic gradient of L = Σ r⊙f(inputs), with r a
// fixed random projection, against central differences accumulated in
// float64. Every input requires a gradient; at most 60 elements per input
// are probed (chosen at random) to keep the test fast.
func gradCheck(t *testing.T, name string, f func(in []*Var) *Var, inputs ...*tensor.Tensor) {
	t.Helper()
	gradCheckOpt(t, name, 1e-3, 2e-2, f, inputs...)
}

func gradCheckOpt(t *testing.T, name string, h, rtol float64, f func(in []*Var) *Var, inputs ...*tensor.Tensor) {
	t.Helper()
	bad := gradMismatches(name, h, rtol, f, inputs...)
	for i, msg := range bad {
		if i == 5 {
			t.Errorf("%s: %d more mismatches", name, len(bad)-5)
			break
		}
		t.Error(msg)
	}
}

// gradMismatches does the work of gradCheck and returns one message per
// probed element whose analytic and numeric gradients disagree.
func gradMismatches(name string, h, rtol float64, f func(in []*Var) *Var, inputs ...*tensor.Tensor) []string {
	rng := rand.New(rand.NewPCG(7, uint64(len(name))))
	vars := make([]*Var, len(inputs))
	for i, x := range inputs {
		vars[i] = NewParamVar(x)
	}
	out := f(vars)
	r := randT(rng, -1, 1, out.Value.Shape...)
	BackwardWith(out, r)
	loss := func() float64 {
		var s float64
		NoGrad(func() {
			o := f(vars)
			for i, v := range o.Value.Data {
				s += float64(v) * float64(r.Data[i])
			}
		})
		return s
	}
	var bad []string
	for k, v := range vars {
		if v.Grad == nil {
			return append(bad, fmt.Sprintf("%s: input %d got no gradient", name, k))
		}
		var gmax float64
		for _, g := range v.Grad.Data {
			gmax = max(gmax, math.Abs(float64(g)))
		}
		idx := rng.Perm(len(v.Value.Data))
		if len(idx) > 60 {
			idx = idx[:60]
		}
		for _, i := range idx {
			x0 := v.Value.Data[i]
			step := float32(h * max(1, math.Abs(float64(x0))))
			v.Value.Data[i] = x0 + step
			hiX := v.Value.Data[i]
			lp := loss()
			v.Value.Data[i] = x0 - step
			loX := v.Value.Data[i]
			lm := loss()
			v.Value.Data[i] = x0
			num := (lp - lm) / float64(hiX-loX)
			ana := float64(v.Grad.Data[i])
			tol := 1e-3*gmax + 1e-4 + rtol*max(math.Abs(num), math.Abs(ana))
			if math.Abs(num-ana) > tol {
				bad = append(bad, fmt.Sprintf("%s: input %d elem %d: analytic %.6g numeric %.6g", name, k, i, ana, num))
			}
		}
	}
	return bad
}

// TestGradCheckCatchesErrors makes sure the checker itself fails on a
// subtly wrong backward pass (gradient off by 10%).
func TestGradCheckCatchesErrors(t *testing.T) {
	wrongSquare := func(x *Var) *Var {
		out := like(x.Value)
		for i, v := range x.Value.Data {
			out.Data[i] = v * v
		}
		var res *Var
		res = result(out, []*Var{x}, func() {
			g := like(x.Value)
			for i, d := range res.Grad.Data {
				g.Data[i] = 1.8 * x.Value.Data[i] * d
			}
			x.accum(g)
		})
		return res
	}
	rng := rand.New(rand.NewPCG(1, 1))
	if bad := gradMismatches("wrong", 1e-3, 2e-2, func(in []*Var) *Var { return wrongSquare(in[0]) }, randAway(rng, 0.2, 3, 4)); len(bad) == 0 {
		t.Fatal("gradient checker accepted a wrong gradient")
	}
}

func TestGradElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := func() *tensor.Tensor { return randAway(rng, 0.05, 2, 3, 4, 5) }
	gradCheck(t, "Add", func(in []*Var) *Var { return Add(in[0], in[1]) }, a(), a())
	gradCheck(t, "AddSelf", func(in []*Var) *Var { return Add(in[0], in[0]) }, a())
	gradCheck(t, "Sub", func(in []*Var) *Var { return Sub(in[0], in[1]) }, a(), a())
	gradCheck(t, "Mul", func(in []*Var) *Var { return Mul(in[0], in[1]) }, a(), a())
	gradCheck(t, "Div", func(in []*Var) *Var { return Div(in[0], in[1]) }, a(), randT(rng, 0.5, 2, 2, 3, 4, 5))
	gradCheck(t, "AddChannel", func(in []*Var) *Var { return Add(in[0], in[1]) }, a(), randT(rng, -1, 1, 3))
	gradCheck(t, "SubChannel4D", func(in []*Var) *Var { return Sub(in[0], in[1]) }, a(), randT(rng, -1, 1, 1, 3, 1, 1))
	gradCheck(t, "MulChannel", func(in []*Var) *Var { return Mul(in[0], in[1]) }, a(), randT(rng, -1, 1, 3))
	gradCheck(t, "MulScalar", func(in []*Var) *Var { return Mul(in[0], in[1]) }, a(), randT(rng, -1, 1, 1))
	gradCheck(t, "DivChannel", func(in []*Var) *Var { return Div(in[0], in[1]) }, a(), randT(rng, 0.5, 2, 3))
	gradCheck(t, "Scale", func(in []*Var) *Var { return Scale(in[0], -2.5) }, a())
	gradCheck(t, "AddScalar", func(in []*Var) *Var { return AddScalar(in[0], 3) }, a())
	gradCheck(t, "ReLU", func(in []*Var) *Var { return ReLU(in[0]) }, a())
	gradCheck(t, "LeakyReLU", func(in []*Var) *Var { return LeakyReLU(in[0], 0.1) }, a())
	r6 := randAway(rng, 0.05, 2, 3, 4, 5)
	for i := range r6.Data {
		r6.Data[i] *= 8 // spans both kinks (0 and 6)
		if math.Abs(float64(r6.Data[i]-6)) < 0.1 {
			r6.Data[i] = 5
		}
	}
	gradCheck(t, "ReLU6", func(in []*Var) *Var { return ReLU6(in[0]) }, r6)
	gradCheck(t, "Sigmoid", func(in []*Var) *Var { return Sigmoid(in[0]) }, a())
	gradCheck(t, "Tanh", func(in []*Var) *Var { return Tanh(in[0]) }, a())
	gradCheck(t, "Exp", func(in []*Var) *Var { return Exp(in[0]) }, a())
	gradCheck(t, "Log", func(in []*Var) *Var { return Log(in[0]) }, randT(rng, 0.5, 2, 3, 4))
	gradCheck(t, "Sqrt", func(in []*Var) *Var { return Sqrt(in[0]) }, randT(rng, 0.5, 2, 3, 4))
	gradCheck(t, "Square", func(in []*Var) *Var { return Square(in[0]) }, a())
}

func TestGradLinalg(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gradCheck(t, "Linear", func(in []*Var) *Var { return Linear(in[0], in[1], in[2]) },
		randT(rng, -1, 1, 4, 6), randT(rng, -1, 1, 5, 6), randT(rng, -1, 1, 5))
	gradCheck(t, "LinearNoBias", func(in []*Var) *Var { return Linear(in[0], in[1], nil) },
		randT(rng, -1, 1, 3, 7), randT(rng, -1, 1, 2, 7))
	gradCheck(t, "MatMul", func(in []*Var) *Var { return MatMul(in[0], in[1]) },
		randT(rng, -1, 1, 3, 4), randT(rng, -1, 1, 4, 5))
	gradCheck(t, "Sum", func(in []*Var) *Var { return Sum(in[0]) }, randT(rng, -1, 1, 3, 4))
	gradCheck(t, "Mean", func(in []*Var) *Var { return Mean(in[0]) }, randT(rng, -1, 1, 3, 4))
	gradCheck(t, "Reshape", func(in []*Var) *Var { return Mul(Reshape(in[0], 4, -1), in[1]) },
		randT(rng, -1, 1, 2, 2, 3), randT(rng, -1, 1, 4, 3))
	gradCheck(t, "Flatten", func(in []*Var) *Var { return Square(Flatten(in[0])) }, randT(rng, -1, 1, 2, 2, 3))
	gradCheck(t, "Concat", func(in []*Var) *Var { return Square(Concat(in[0], in[1], in[0])) },
		randT(rng, -1, 1, 2, 2, 3, 3), randT(rng, -1, 1, 2, 1, 3, 3))
	gradCheck(t, "Softmax", func(in []*Var) *Var { return Softmax(in[0], -1) }, randT(rng, -2, 2, 3, 5))
	gradCheck(t, "SoftmaxAxis1", func(in []*Var) *Var { return Softmax(in[0], 1) }, randT(rng, -2, 2, 2, 4, 3))
	gradCheck(t, "LogSoftmax", func(in []*Var) *Var { return LogSoftmax(in[0], -1) }, randT(rng, -2, 2, 3, 5))
	gradCheck(t, "LogSoftmaxAxis1", func(in []*Var) *Var { return LogSoftmax(in[0], 1) }, randT(rng, -2, 2, 2, 4, 3))
	gradCheck(t, "Dropout", func(in []*Var) *Var {
		return Dropout(in[0], 0.3, true, rand.New(rand.NewPCG(9, 9)))
	}, randT(rng, -1, 1, 4, 10))
}

func TestSoftmaxValues(t *testing.T) {
	x := NewVar(tensor.From([]float32{1, 2, 3, 1000, 1000, 1000}, 2, 3))
	y := Softmax(x, 1).Value.Data
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	s := e[0] + e[1] + e[2]
	for i := 0; i < 3; i++ {
		if math.Abs(float64(y[i])-e[i]/s) > 1e-6 || math.Abs(float64(y[3+i])-1.0/3) > 1e-6 {
			t.Fatalf("softmax %v", y)
		}
	}
	ls := LogSoftmax(x, 1).Value.Data
	if math.Abs(float64(ls[2])-math.Log(1/s)) > 1e-5 || math.IsNaN(float64(ls[3])) {
		t.Fatalf("logsoftmax %v", ls)
	}
}

func TestDropoutStats(t *testing.T) {
	x := NewVar(tensor.New(10000))
	x.Value.Fill(1)
	y := Dropout(x, 0.25, true, rand.New(rand.NewPCG(1, 1))).Value.Data
	zeros := 0
	for _, v := range y {
		if v == 0 {
			zeros++
		} else if math.Abs(float64(v)-4.0/3) > 1e-6 {
			t.Fatalf("survivor scaled to %v", v)
		}
	}
	if zeros < 2300 || zeros > 2700 {
		t.Fatalf("%d of 10000 dropped, want ~2500", zeros)
	}
	if Dropout(x, 0.25, false, nil) != x {
		t.Fatal("eval dropout must be the identity")
	}
}

func TestBackwardAccumulatesAndSkips(t *testing.T) {
	// y = w*x + w*w: dy/dw = x + 2w; x does not require a gradient.
	w := NewParamVar(tensor.From([]float32{3}, 1))
	x := NewVar(tensor.From([]float32{5}, 1))
	y := Add(Mul(w, x), Mul(w, w))
	Backward(y)
	if w.Grad.Data[0] != 11 {
		t.Fatalf("dy/dw = %v, want 11", w.Grad.Data[0])
	}
	if x.Grad != nil {
		t.Fatal("input without RequiresGrad got a gradient")
	}
	// A second pass accumulates.
	Backward(Add(Mul(w, x), Mul(w, w)))
	if w.Grad.Data[0] != 22 {
		t.Fatalf("accumulated grad %v, want 22", w.Grad.Data[0])
	}
	// A second Backward through a released graph panics instead of
	// silently dropping gradients.
	h := Mul(w, x)
	l1, l2 := Square(h), Scale(h, 2)
	Backward(l1)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Backward through a released graph did not panic")
			}
		}()
		Backward(l2)
	}()
	// Frozen parameters build no graph either, without global state.
	SetRequiresGrad([]*Param{{Name: "w", Var: w}}, false)
	if z := Mul(w, x); z.RequiresGrad || z.backward != nil {
		t.Fatal("frozen parameter recorded a graph")
	}
	w.RequiresGrad = true
	// NoGrad builds no graph.
	NoGrad(func() {
		z := Mul(w, w)
		if z.RequiresGrad || z.backward != nil {
			t.Fatal("NoGrad recorded a graph")
		}
	})
}

func TestGradLosses(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	gradCheck(t, "MSELoss", func(in []*Var) *Var { return MSELoss(in[0], in[1]) },
		randT(rng, -1, 1, 2, 3, 4), randT(rng, -1, 1, 2, 3, 4))
	gradCheck(t, "L1Loss", func(in []*Var) *Var { return L1Loss(in[0], in[1]) },
		randAway(rng, 0.1, 2, 3, 4), randAway(rng, 0.1, 2, 3, 4).Clone())
	targets := []int{0, 3, 2, 4}
	gradCheck(t, "CrossEntropy", func(in []*Var) *Var { return CrossEntropy(in[0], targets) },
		randT(rng, -2, 2, 4, 5))
	// Margin large enough that some but not all triplets are active.
	gradCheck(t, "TripletMargin", func(in []*Var) *Var { return TripletMarginLoss(in[0], in[1], in[2], 0.3) },
		randT(rng, -1, 1, 6, 4), randT(rng, -1, 1, 6, 4), randT(rng, -1, 1, 6, 4))
}

func TestLossValues(t *testing.T) {
	p := NewVar(tensor.From([]float32{1, 2, 3, 4}, 2, 2))
	q := NewVar(tensor.From([]float32{0, 2, 5, 3}, 2, 2))
	if v := MSELoss(p, q).Item(); v != (1+0+4+1)/4.0 {
		t.Fatalf("MSE %v", v)
	}
	if v := L1Loss(p, q).Item(); v != (1+0+2+1)/4.0 {
		t.Fatalf("L1 %v", v)
	}
	// CE of uniform logits is log K.
	z := NewVar(tensor.New(3, 4))
	if v := CrossEntropy(z, []int{0, 1, 3}).Item(); math.Abs(float64(v)-math.Log(4)) > 1e-6 {
		t.Fatalf("CE %v want log 4", v)
	}
	// Triplet: a=0, p at distance 1, n at distance 3, margin 1 -> 0; margin 2.5 -> 0.5.
	a := NewVar(tensor.From([]float32{0, 0}, 1, 2))
	pp := NewVar(tensor.From([]float32{1, 0}, 1, 2))
	nn := NewVar(tensor.From([]float32{0, 3}, 1, 2))
	if v := TripletMarginLoss(a, pp, nn, 1).Item(); v != 0 {
		t.Fatalf("triplet %v want 0", v)
	}
	if v := TripletMarginLoss(a, pp, nn, 2.5).Item(); math.Abs(float64(v)-0.5) > 1e-5 {
		t.Fatalf("triplet %v want 0.5", v)
	}
}

func TestExpf(t *testing.T) {
	for x := -87.0; x <= 88; x += 0.0137 {
		got, want := float64(expf(float32(x))), math.Exp(float64(float32(x)))
		if math.Abs(got-want) > 4e-7*want {
			t.Fatalf("expf(%v) = %v, want %v", x, got, want)
		}
	}
	if expf(-1000) <= 0 || math.IsInf(float64(expf(1000)), 0) {
		t.Fatal("expf does not clamp")
	}
	if s := sigmoid(-200); s < 0 || s > 1e-30 {
		t.Fatalf("sigmoid(-200) = %v", s)
	}
	if s := sigmoid(200); s != 1 {
		t.Fatalf("sigmoid(200) = %v", s)
	}
}

func TestReluMask(t *testing.T) {
	y := []float32{1, 0, -2, float32(math.Copysign(0, -1)), 1e-40, 3}
	d := []float32{5, 5, 5, 5, 5, 5}
	reluMask(d, y)
	// -0 (a conv epilogue can pass it through) masks like +0.
	want := []float32{5, 0, 0, 0, 5, 5}
	for i := range d {
		if d[i] != want[i] {
			t.Fatalf("reluMask = %v, want %v", d, want)
		}
	}
}
