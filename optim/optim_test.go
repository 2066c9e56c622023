package optim

import (
	"bytes"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

func param(name string, v ...float32) *nn.Param {
	return &nn.Param{Name: name, Var: nn.NewParamVar(tensor.From(append([]float32(nil), v...), len(v)))}
}

func setGrad(p *nn.Param, g ...float32) { p.Grad = tensor.From(append([]float32(nil), g...), len(g)) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*max(1, math.Abs(b)) }

func TestSGD(t *testing.T) {
	p := param("w", 1, -2)
	o := NewSGD([]*nn.Param{p}, 0.1, 0.9, 0.01, false)
	// Step 1: d = g + wd·w; buf = d; w -= lr·buf.
	setGrad(p, 0.5, 1)
	o.Step()
	d0 := []float64{0.5 + 0.01*1, 1 + 0.01*-2}
	w := []float64{1 - 0.1*d0[0], -2 - 0.1*d0[1]}
	for i := range w {
		if !near(float64(p.Value.Data[i]), w[i]) {
			t.Fatalf("step1 w=%v want %v", p.Value.Data, w)
		}
	}
	// Step 2: buf = 0.9·buf + d.
	setGrad(p, -1, 0)
	o.Step()
	for i, g := range []float64{-1, 0} {
		d := g + 0.01*w[i]
		w[i] -= 0.1 * (0.9*d0[i] + d)
	}
	for i := range w {
		if !near(float64(p.Value.Data[i]), w[i]) {
			t.Fatalf("step2 w=%v want %v", p.Value.Data, w)
		}
	}
	// Nesterov: w -= lr·(d + m·buf).
	q := param("q", 1)
	n := NewSGD([]*nn.Param{q}, 0.1, 0.5, 0, true)
	setGrad(q, 2)
	n.Step()
	if !near(float64(q.Value.Data[0]), 1-0.1*(2+0.5*2)) {
		t.Fatalf("nesterov %v", q.Value.Data[0])
	}
	// No gradient: untouched.
	r := param("r", 3)
	NewSGD([]*nn.Param{r}, 1, 0, 0, false).Step()
	if r.Value.Data[0] != 3 {
		t.Fatal("param without gradient moved")
	}
}

// adamRef is a float64 Adam/AdamW reference.
func adamRef(w, grads []float64, lr, wd float64, decoupled bool, steps int) float64 {
	m, v := 0.0, 0.0
	x := w[0]
	for t := 1; t <= steps; t++ {
		g := grads[t-1]
		if decoupled {
			x *= 1 - lr*wd
		} else {
			g += wd * x
		}
		m = 0.9*m + 0.1*g
		v = 0.999*v + 0.001*g*g
		mh := m / (1 - math.Pow(0.9, float64(t)))
		vh := v / (1 - math.Pow(0.999, float64(t)))
		x -= lr * mh / (math.Sqrt(vh) + 1e-8)
	}
	return x
}

func TestAdam(t *testing.T) {
	grads := []float64{0.3, -0.1, 0.7, 0.2, -0.5}
	for _, dec := range []bool{false, true} {
		p := param("w", 0.8)
		var o *Adam
		if dec {
			o = NewAdamW([]*nn.Param{p}, 0.01, 0.1)
		} else {
			o = NewAdam([]*nn.Param{p}, 0.01, 0.1)
		}
		for _, g := range grads {
			setGrad(p, float32(g))
			o.Step()
		}
		want := adamRef([]float64{0.8}, grads, 0.01, 0.1, dec, len(grads))
		if math.Abs(float64(p.Value.Data[0])-want) > 1e-6 {
			t.Fatalf("decoupled=%v: w=%v want %v", dec, p.Value.Data[0], want)
		}
	}
	// The first Adam step moves each weight by about lr regardless of scale.
	p := param("w", 0, 0)
	o := NewAdam([]*nn.Param{p}, 0.01, 0)
	setGrad(p, 1e-3, -50)
	o.Step()
	if !near(float64(p.Value.Data[0]), -0.01) || !near(float64(p.Value.Data[1]), 0.01) {
		t.Fatalf("first step %v", p.Value.Data)
	}
}

func TestSchedules(t *testing.T) {
	s := StepLR{Base: 1, StepSize: 3, Gamma: 0.5}
	for step, want := range []float64{1, 1, 1, 0.5, 0.5, 0.5, 0.25} {
		if s.LR(step) != want {
			t.Fatalf("StepLR(%d)=%v want %v", step, s.LR(step), want)
		}
	}
	c := Cosine{Base: 1, Min: 0.1, Total: 12, Warmup: 2}
	if c.LR(0) != 0.5 || c.LR(1) != 1 || c.LR(2) != 1 {
		t.Fatalf("warmup %v %v %v", c.LR(0), c.LR(1), c.LR(2))
	}
	if !near(c.LR(7), 0.55) || c.LR(12) != 0.1 || c.LR(100) != 0.1 {
		t.Fatalf("cosine mid %v end %v", c.LR(7), c.LR(12))
	}
	for i := 3; i < 12; i++ {
		if c.LR(i) >= c.LR(i-1) {
			t.Fatal("cosine not decreasing")
		}
	}
	p := param("w", 1)
	o := NewSGD([]*nn.Param{p}, 1, 0, 0, false)
	Apply(o, s, 3)
	if o.LR() != 0.5 {
		t.Fatal("Apply did not set the rate")
	}
}

// trainer bundles a model (with dropout and batch norm, so RNG and buffers
// matter), an optimiser and a data generator.
type trainer struct {
	m   *nn.Sequential
	opt Optimizer
	rng *rand.PCG
}

func newTrainer(kind string) *trainer {
	rng := nn.NewRNG(42)
	src := rand.NewPCG(1, 2)
	m := nn.NewSequential(
		nn.NewConv2d(nn.ConvSpec{In: 1, Out: 3, Kernel: 3, Pad: 1}, rng),
		nn.NewBatchNorm2d(3),
		nn.Func(nn.ReLU),
		nn.Func(nn.Flatten),
		nn.NewDropout(0.2, rand.New(src)),
		nn.NewLinear(3*5*5, 2, true, rng),
	)
	var opt Optimizer
	switch kind {
	case "sgd":
		opt = NewSGD(m.Params(), 0.05, 0.9, 1e-4, true)
	case "adamw":
		opt = NewAdamW(m.Params(), 0.01, 0.01)
	}
	return &trainer{m: m, opt: opt, rng: src}
}

func (tr *trainer) step(step int) {
	r := rand.New(tr.rng)
	x := tensor.New(4, 1, 5, 5)
	y := make([]int, 4)
	for i := range x.Data {
		x.Data[i] = r.Float32()
	}
	for i := range y {
		y[i] = r.IntN(2)
	}
	Apply(tr.opt, Cosine{Base: 0.05, Min: 0.001, Total: 20, Warmup: 2}, step)
	tr.opt.ZeroGrad()
	nn.Backward(nn.CrossEntropy(tr.m.Forward(nn.NewVar(x)), y))
	tr.opt.Step()
}

func TestCheckpointResume(t *testing.T) {
	const n = 6
	for _, kind := range []string{"sgd", "adamw"} {
		straight := newTrainer(kind)
		for s := 0; s < 2*n; s++ {
			straight.step(s)
		}

		first := newTrainer(kind)
		for s := 0; s < n; s++ {
			first.step(s)
		}
		path := filepath.Join(t.TempDir(), "ck.safetensors")
		if err := SaveCheckpoint(path, first.m, first.opt, &Checkpoint{Epoch: 1, Step: n, Seed: 42, RNG: first.rng}); err != nil {
			t.Fatal(err)
		}
		resumed := newTrainer(kind)
		ck := &Checkpoint{RNG: resumed.rng}
		if err := LoadCheckpoint(path, resumed.m, resumed.opt, ck); err != nil {
			t.Fatal(err)
		}
		if ck.Epoch != 1 || ck.Step != n || ck.Seed != 42 {
			t.Fatalf("checkpoint fields %+v", ck)
		}
		for s := ck.Step; s < 2*n; s++ {
			resumed.step(s)
		}
		sp, rp := straight.m.Params(), resumed.m.Params()
		for i := range sp {
			for j, v := range sp[i].Value.Data {
				if v != rp[i].Value.Data[j] {
					t.Fatalf("%s: %s differs after resume: %v vs %v", kind, sp[i].Name, v, rp[i].Value.Data[j])
				}
			}
		}
		sb, rb := straight.m.Buffers(), resumed.m.Buffers()
		for i := range sb {
			for j, v := range sb[i].T.Data {
				if v != rb[i].T.Data[j] {
					t.Fatalf("%s: buffer %s differs after resume", kind, sb[i].Name)
				}
			}
		}
	}
}

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.safetensors")
	tr := newTrainer("adamw")
	tr.step(0)
	if err := SaveCheckpoint(path, tr.m, tr.opt, &Checkpoint{Epoch: 3}); err != nil {
		t.Fatal(err)
	}
	// Wrong optimiser kind.
	other := newTrainer("sgd")
	err := LoadCheckpoint(path, other.m, other.opt, &Checkpoint{})
	if err == nil || !strings.Contains(err.Error(), "adamw") || !strings.Contains(err.Error(), path) {
		t.Fatalf("want optimiser-kind error naming the file, got %v", err)
	}
	// Model with a different layer shape (the optimiser state is checked
	// first, so its moment tensor is the one named).
	rng := nn.NewRNG(1)
	m := nn.NewSequential(nn.NewConv2d(nn.ConvSpec{In: 1, Out: 4, Kernel: 3, Pad: 1}, rng))
	err = LoadCheckpoint(path, m, NewAdamW(m.Params(), 0.1, 0), &Checkpoint{})
	if err == nil || !strings.Contains(err.Error(), "0.weight") || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("want shape error naming 0.weight, got %v", err)
	}
	// Not a checkpoint.
	if err := nn.SaveParams(path, tr.m); err != nil {
		t.Fatal(err)
	}
	if err := LoadCheckpoint(path, tr.m, tr.opt, &Checkpoint{}); err == nil || !strings.Contains(err.Error(), "not a vigil checkpoint") {
		t.Fatalf("got %v", err)
	}
}

// The caller's extra state survives the round trip unchanged, and a
// checkpoint without extras loads as empty maps.
func TestCheckpointExtra(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	tr := newTrainer("adamw")
	tr.step(0)
	best := safetensors.F32("", []int{2}, []float32{1.5, -2})
	in := &Checkpoint{Epoch: 2, Meta: map[string]string{"best_val": "0.25", "stage": "ae"},
		Tensors: map[string]safetensors.Tensor{"best.0.weight": best}}
	if err := SaveCheckpoint(path, tr.m, tr.opt, in); err != nil {
		t.Fatal(err)
	}
	out := &Checkpoint{}
	if err := LoadCheckpoint(path, tr.m, tr.opt, out); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(out.Meta, in.Meta) {
		t.Fatalf("meta %v, want %v", out.Meta, in.Meta)
	}
	got, ok := out.Tensors["best.0.weight"]
	if len(out.Tensors) != 1 || !ok || got.Name != "best.0.weight" || !slices.Equal(got.Shape, []int{2}) || !bytes.Equal(got.Data, best.Data) {
		t.Fatalf("tensors %+v", out.Tensors)
	}
	if err := SaveCheckpoint(path, tr.m, tr.opt, &Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if err := LoadCheckpoint(path, tr.m, tr.opt, out); err != nil || len(out.Meta) != 0 || len(out.Tensors) != 0 {
		t.Fatalf("extras of a plain checkpoint: %v %v (err %v)", out.Meta, out.Tensors, err)
	}
}
