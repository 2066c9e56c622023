package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

func randTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	return tensor.From(randFloats(r, tensor.Numel(shape)), shape...)
}

// scaled multiplies t by s in place (keeps activations near unit scale so
// the 1e-4 absolute tolerance is meaningful).
func scaled(t *tensor.Tensor, s float32) *tensor.Tensor {
	for i := range t.Data {
		t.Data[i] *= s
	}
	return t
}

func positive(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 0.5 + r.Float32()
	}
	return v
}

// roundTrip encodes and decodes m so every executor test also covers the codec.
func roundTrip(t *testing.T, m *Model) *Model {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return m2
}

func run1(t *testing.T, m *Model, outputs []string, in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	e, err := NewExecutor(m, outputs)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	// A second run must give the same answer (buffer reuse).
	out2, err := e.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range out {
		if d := maxAbsDiff(v, out2[k]); d != 0 {
			t.Fatalf("second run of %q differs by %g", k, d)
		}
	}
	if dir := os.Getenv("VIGIL_ONNX_DUMP"); dir != "" {
		dumpCase(t, dir, m, in, out)
	}
	return out
}

// dumpCase writes the case for ONNX Runtime (see VIGIL_ONNX_DUMP in
// resnet_test.go).
func dumpCase(t *testing.T, dir string, m *Model, in, out map[string]*tensor.Tensor) {
	t.Helper()
	dumpSeq++
	if err := WriteCase(dir, fmt.Sprintf("%s_%d", strings.ReplaceAll(t.Name(), "/", "_"), dumpSeq), m, in, out); err != nil {
		t.Fatal(err)
	}
}

var dumpSeq int

func checkClose(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: missing output", name)
	}
	if !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, want.Shape)
	}
	if d := maxAbsDiff(got, want); d > 1e-4 {
		t.Fatalf("%s: max abs diff %g", name, d)
	}
}

// blockNet is a miniature ResNet: Conv+BN+Relu, MaxPool, a residual block
// (Conv+BN+Relu, Conv+BN, Add, Relu), GAP, Flatten, Gemm.
type blockNet struct {
	m                             *Model
	w1, w2, w3, fcW               *tensor.Tensor
	bn                            [3][4][]float32
	fcB                           []float32
	x                             *tensor.Tensor
	refConv1, refBN1, refRelu1    *tensor.Tensor
	refPool, refB1, refOut, refFC *tensor.Tensor
}

func newBlockNet(r *rand.Rand) *blockNet {
	n := &blockNet{}
	n.x = randTensor(r, 2, 3, 11, 11)
	n.w1 = scaled(randTensor(r, 4, 3, 3, 3), 0.2)
	n.w2 = scaled(randTensor(r, 4, 4, 3, 3), 0.15)
	n.w3 = scaled(randTensor(r, 4, 4, 3, 3), 0.15)
	n.fcW = randTensor(r, 5, 4)
	n.fcB = randFloats(r, 5)
	b := NewBuilder("block")
	b.Input("input", 2, 3, 11, 11)
	ws := []*tensor.Tensor{n.w1, n.w2, n.w3}
	for i, w := range ws {
		name := []string{"conv1", "l1.conv1", "l1.conv2"}[i]
		b.Initializer(name+".weight", w.Shape, w.Data)
		n.bn[i] = [4][]float32{positive(r, 4), randFloats(r, 4), randFloats(r, 4), positive(r, 4)}
		for j, p := range []string{"weight", "bias", "running_mean", "running_var"} {
			b.Initializer(name+".bn."+p, []int{4}, n.bn[i][j])
		}
	}
	b.Initializer("fc.weight", n.fcW.Shape, n.fcW.Data)
	b.Initializer("fc.bias", []int{5}, n.fcB)
	pads := IntsAttr("pads", 1, 1, 1, 1)
	bnIn := func(p string) []string {
		return []string{p + ".bn.weight", p + ".bn.bias", p + ".bn.running_mean", p + ".bn.running_var"}
	}
	b.Node("Conv", "/conv1/Conv", []string{"input", "conv1.weight"}, []string{"c1"}, pads, IntsAttr("kernel_shape", 3, 3), IntsAttr("strides", 1, 1))
	b.Node("BatchNormalization", "/bn1/BN", append([]string{"c1"}, bnIn("conv1")...), []string{"b1"}, FloatAttr("epsilon", 1e-5))
	b.Node("Relu", "/relu/Relu", []string{"b1"}, []string{"r1"})
	b.Node("MaxPool", "/maxpool/MaxPool", []string{"r1"}, []string{"p1"}, IntsAttr("kernel_shape", 3, 3), IntsAttr("strides", 2, 2), pads)
	b.Node("Conv", "/l1/conv1/Conv", []string{"p1", "l1.conv1.weight"}, []string{"c2"}, pads)
	b.Node("BatchNormalization", "/l1/bn1/BN", append([]string{"c2"}, bnIn("l1.conv1")...), []string{"b2"})
	b.Node("Relu", "/l1/relu/Relu", []string{"b2"}, []string{"r2"})
	b.Node("Conv", "/l1/conv2/Conv", []string{"r2", "l1.conv2.weight"}, []string{"c3"}, pads)
	b.Node("BatchNormalization", "/l1/bn2/BN", append([]string{"c3"}, bnIn("l1.conv2")...), []string{"b3"})
	b.Node("Add", "/l1/Add", []string{"b3", "p1"}, []string{"a1"})
	b.Node("Relu", "/l1/relu_1/Relu", []string{"a1"}, []string{"/l1/relu_1/Relu_output_0"})
	b.Node("GlobalAveragePool", "/avgpool/GAP", []string{"/l1/relu_1/Relu_output_0"}, []string{"g"})
	b.Node("Flatten", "/Flatten", []string{"g"}, []string{"f"}, IntAttr("axis", 1))
	b.Node("Gemm", "/fc/Gemm", []string{"f", "fc.weight", "fc.bias"}, []string{"logits"}, FloatAttr("alpha", 1), FloatAttr("beta", 1), IntAttr("transB", 1))
	b.Output("logits", 2, 5)
	n.m = b.Model()

	p1 := [4]int{1, 1, 1, 1}
	one := [2]int{1, 1}
	bnr := func(x *tensor.Tensor, i int) *tensor.Tensor {
		return refBN(x, n.bn[i][0], n.bn[i][1], n.bn[i][2], n.bn[i][3], 1e-5)
	}
	inf := float32(3.4e38)
	n.refConv1 = refConv(n.x, n.w1, nil, one, one, p1, 1)
	n.refBN1 = bnr(n.refConv1, 0)
	n.refRelu1 = refClip(n.refBN1, 0, inf)
	n.refPool = refPool(n.refRelu1, true, [2]int{3, 3}, [2]int{2, 2}, p1, false, false)
	c2 := refClip(bnr(refConv(n.refPool, n.w2, nil, one, one, p1, 1), 1), 0, inf)
	c3 := bnr(refConv(c2, n.w3, nil, one, one, p1, 1), 2)
	n.refB1 = refClip(refAdd(c3, n.refPool), 0, inf)
	g := refGAP(n.refB1)
	n.refFC = refGemm(g.Reshape(2, 4), n.fcW, n.fcB, false, true, 1, 1)
	return n
}

func TestExecutorBlockNet(t *testing.T) {
	n := newBlockNet(rand.New(rand.NewPCG(3, 4)))
	m := roundTrip(t, n.m)
	in := map[string]*tensor.Tensor{"input": n.x}
	out := run1(t, m, nil, in)
	checkClose(t, "logits", out["logits"], n.refFC)

	// Feature taps, including ones that block fusion: the raw Conv output
	// (before BN folding), the BN output (before Relu fusion), the block
	// output and the pool output that is also read by the Add.
	taps := []string{"c1", "b1", "r1", "p1", "/l1/relu_1/Relu_output_0", "logits"}
	out = run1(t, m, taps, in)
	checkClose(t, "c1", out["c1"], n.refConv1)
	checkClose(t, "b1", out["b1"], n.refBN1)
	checkClose(t, "r1", out["r1"], n.refRelu1)
	checkClose(t, "p1", out["p1"], n.refPool)
	checkClose(t, "block", out["/l1/relu_1/Relu_output_0"], n.refB1)
	checkClose(t, "logits", out["logits"], n.refFC)

	// Profile reports every kernel step with its fused activation.
	e0, err := NewExecutor(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := e0.Profile(in, 2)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, s := range prof {
		ops = append(ops, s.Op)
	}
	if got := strings.Join(ops, " "); got != "Conv+Relu MaxPool Conv+Relu Conv Add+Relu GlobalAveragePool Gemm" {
		t.Fatalf("profile steps %q", got)
	}
	if prof[len(prof)-1].Output != "logits" || !tensor.SameShape(prof[len(prof)-1].Shape, []int{2, 5}) {
		t.Fatalf("last profiled step %+v", prof[len(prof)-1])
	}
	if out, err := e0.Run(in); err != nil || maxAbsDiff(out["logits"], n.refFC) > 1e-4 {
		t.Fatalf("run after Profile: %v", err)
	}

	// A tap alone prunes everything after it (no fc weights needed).
	e, err := NewExecutor(m, []string{"p1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.steps) != 2 { // fused Conv+BN+Relu, MaxPool
		t.Fatalf("tap p1 plans %d steps, want 2", len(e.steps))
	}
	got, err := e.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "p1 alone", got["p1"], n.refPool)
}

func TestExecutorFusion(t *testing.T) {
	n := newBlockNet(rand.New(rand.NewPCG(5, 6)))
	e, err := NewExecutor(n.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, st := range e.steps {
		kinds = append(kinds, st.node.OpType)
	}
	// BN folded into every Conv, Relu into Conv and into Add.
	want := "Conv MaxPool Conv Conv Add GlobalAveragePool Flatten Gemm"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
	// The model's own weights must be untouched by folding.
	if maxAbsDiff(tensor.From(n.m.Graph.Initializers[0].Float, n.w1.Shape...), n.w1) != 0 {
		t.Fatal("BN folding modified the model's initializer")
	}
}

func TestExecutorSteadyStateAllocs(t *testing.T) {
	n := newBlockNet(rand.New(rand.NewPCG(7, 8)))
	e, err := NewExecutor(n.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"input": n.x}
	if _, err := e.Run(in); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := e.Run(in); err != nil {
			t.Fatal(err)
		}
	})
	// Output map and tensor, pooling results from package ops and small
	// per-call closures; intermediates come from the pool.
	if allocs > 40 {
		t.Fatalf("%.0f allocations per Run", allocs)
	}
}

// TestExecutorMisc covers grouped/dilated/strided Conv,
// Clip from Constant inputs (fused as ReLU6), AveragePool with
// count_include_pad and ceil_mode, Identity, Concat, Reshape (0 and -1),
// MatMul and a broadcast Add of a Constant.
func TestExecutorMisc(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := randTensor(r, 1, 4, 9, 8)
	for i := range x.Data {
		x.Data[i] *= 4
	}
	w := randTensor(r, 6, 2, 3, 3)
	bias := randFloats(r, 6)
	mm := randTensor(r, 12*3*5, 3)
	cb := randFloats(r, 3)

	b := NewBuilder("misc")
	b.Input("x", 1, 4, 9, 8)
	b.Initializer("w", w.Shape, w.Data)
	b.Initializer("b", []int{6}, bias)
	b.Initializer("mm", mm.Shape, mm.Data)
	b.InitializerInt64("shape", []int{2}, []int64{0, -1})
	b.Node("Constant", "lo", nil, []string{"lo"}, TensorAttr("value", &Tensor{Float: []float32{0}, DataType: DataTypeFloat}))
	b.Node("Constant", "hi", nil, []string{"hi"}, TensorAttr("value", &Tensor{Float: []float32{6}, DataType: DataTypeFloat}))
	b.Node("Constant", "cb", nil, []string{"cb"}, TensorAttr("value", &Tensor{Dims: []int64{1, 3}, Float: cb, DataType: DataTypeFloat}))
	b.Node("Conv", "gconv", []string{"x", "w", "b"}, []string{"c"}, IntAttr("group", 2), IntsAttr("dilations", 2, 1),
		IntsAttr("strides", 2, 1), IntsAttr("pads", 2, 1, 2, 1))
	b.Node("Clip", "clip6", []string{"c", "lo", "hi"}, []string{"r6"})
	b.Node("AveragePool", "avg_incl", []string{"r6"}, []string{"a1"}, IntsAttr("kernel_shape", 3, 3), IntsAttr("strides", 2, 2),
		IntsAttr("pads", 1, 1, 1, 1), IntAttr("count_include_pad", 1), IntAttr("ceil_mode", 1))
	b.Node("AveragePool", "avg_excl", []string{"r6"}, []string{"a2"}, IntsAttr("kernel_shape", 3, 3), IntsAttr("strides", 2, 2),
		IntsAttr("pads", 1, 1, 1, 1), IntAttr("ceil_mode", 1))
	b.Node("Identity", "id", []string{"a2"}, []string{"a2i"})
	b.Node("Concat", "cat", []string{"a1", "a2i"}, []string{"cat"}, IntAttr("axis", 1))
	b.Node("Reshape", "flat", []string{"cat", "shape"}, []string{"flat"})
	b.Node("MatMul", "mm", []string{"flat", "mm"}, []string{"prod"})
	b.Node("Add", "addc", []string{"prod", "cb"}, []string{"y"})
	b.Output("y", 1, 3)
	m := roundTrip(t, b.Model())

	c := refConv(x, w, bias, [2]int{2, 1}, [2]int{2, 1}, [4]int{2, 1, 2, 1}, 2)
	if c.Shape[2] != 5 || c.Shape[3] != 8 {
		t.Fatalf("reference conv shape %v", c.Shape)
	}
	r6 := refClip(c, 0, 6)
	a1 := refPool(r6, false, [2]int{3, 3}, [2]int{2, 2}, [4]int{1, 1, 1, 1}, true, true)
	a2 := refPool(r6, false, [2]int{3, 3}, [2]int{2, 2}, [4]int{1, 1, 1, 1}, true, false)
	cat := tensor.New(1, 12, a1.Shape[2], a1.Shape[3])
	copy(cat.Data, a1.Data)
	copy(cat.Data[len(a1.Data):], a2.Data)
	if cat.Len() != mm.Shape[0] {
		t.Fatalf("test setup: concat has %d values, matmul expects %d", cat.Len(), mm.Shape[0])
	}
	y := refGemm(cat.Reshape(1, -1), mm, cb, false, false, 1, 1)

	out := run1(t, m, []string{"y", "r6", "a1", "a2i", "cat"}, map[string]*tensor.Tensor{"x": x})
	checkClose(t, "r6", out["r6"], r6)
	checkClose(t, "a1", out["a1"], a1)
	checkClose(t, "a2i", out["a2i"], a2)
	checkClose(t, "cat", out["cat"], cat)
	checkClose(t, "y", out["y"], y)

	// Requesting every node output (as a backbone probe does) disables all
	// fusion and still matches, Constant outputs included.
	var all []string
	for _, nd := range m.Graph.Nodes {
		all = append(all, nd.Outputs...)
	}
	outAll := run1(t, m, all, map[string]*tensor.Tensor{"x": x})
	checkClose(t, "all c", outAll["c"], c)
	checkClose(t, "all y", outAll["y"], y)
	checkClose(t, "all hi", outAll["hi"], tensor.From([]float32{6}))

	// Without taps Clip(0,6) is fused into the Conv as ReLU6.
	e, err := NewExecutor(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range e.steps {
		if st.node.OpType == "Clip" {
			t.Fatal("Clip(0,6) after Conv was not fused")
		}
	}
	got, err := e.Run(map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "y fused", got["y"], y)
}

// TestExecutorGemmAndElementwise covers Gemm's transA/alpha/beta, Clip
// with attributes (opset < 11 style), Softmax, Sub/Mul/Div broadcasting
// and a standalone BatchNormalization.
func TestExecutorGemmAndElementwise(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	a := randTensor(r, 4, 3) // used with transA: A' is [3,4]
	bm := randTensor(r, 4, 5)
	cv := randFloats(r, 5)
	x := randTensor(r, 2, 3, 2, 2)
	bnP := [4][]float32{positive(r, 3), randFloats(r, 3), randFloats(r, 3), positive(r, 3)}
	chan3 := randFloats(r, 3)

	b := NewBuilder("gemm")
	b.Input("a", 4, 3)
	b.Input("x", 2, 3, 2, 2)
	b.Initializer("B", bm.Shape, bm.Data)
	b.Initializer("C", []int{5}, cv)
	b.Initializer("s", []int{3, 1, 1}, chan3)
	for i, p := range []string{"g", "be", "mu", "var"} {
		b.Initializer(p, []int{3}, bnP[i])
	}
	b.Node("Gemm", "gemm", []string{"a", "B", "C"}, []string{"g0"}, IntAttr("transA", 1), FloatAttr("alpha", 0.5), FloatAttr("beta", 2))
	b.Node("Clip", "clip", []string{"g0"}, []string{"g1"}, FloatAttr("min", -0.25), FloatAttr("max", 0.5))
	b.Node("Softmax", "sm", []string{"g1"}, []string{"sm"}, IntAttr("axis", 1))
	b.Node("BatchNormalization", "bn", []string{"x", "g", "be", "mu", "var"}, []string{"xb"})
	b.Node("Mul", "mul", []string{"xb", "s"}, []string{"xm"})
	b.Node("Sub", "sub", []string{"s", "xm"}, []string{"xs"})
	b.Node("Div", "div", []string{"xs", "s"}, []string{"xd"})
	b.Output("sm", 3, 5)
	b.Output("xd", 2, 3, 2, 2)
	m := b.Model()
	m.OpsetVersion = 10 // Clip limits as attributes, Softmax coerced to 2-D
	m = roundTrip(t, m)

	g := refClip(refGemm(a, bm, cv, true, false, 0.5, 2), -0.25, 0.5)
	sm := g.Clone()
	for i := 0; i < 3; i++ {
		row := sm.Data[i*5 : i*5+5]
		var mx, s float64 = -1e30, 0
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		e := make([]float64, 5)
		for j, v := range row {
			e[j] = mathExp(float64(v) - mx)
			s += e[j]
		}
		for j := range row {
			row[j] = float32(e[j] / s)
		}
	}
	xb := refBN(x, bnP[0], bnP[1], bnP[2], bnP[3], 1e-5)
	xd := xb.Clone()
	for i := range xd.Data {
		c := (i / 4) % 3
		xd.Data[i] = (chan3[c] - xb.Data[i]*chan3[c]) / chan3[c]
	}
	out := run1(t, m, nil, map[string]*tensor.Tensor{"a": a, "x": x})
	checkClose(t, "sm", out["sm"], sm)
	checkClose(t, "xd", out["xd"], xd)
}

func TestExecutorErrors(t *testing.T) {
	base := func() *Builder {
		b := NewBuilder("err")
		b.Input("x", 1, 2, 4, 4)
		b.Initializer("w", []int{3, 2, 1, 1}, make([]float32, 6))
		return b
	}
	cases := []struct {
		name  string
		build func(b *Builder)
		outs  []string
		want  []string
	}{
		{"unsupported", func(b *Builder) {
			b.Node("Conv", "c", []string{"x", "w"}, []string{"c"})
			b.Node("FancyOp", "my_fancy", []string{"c"}, []string{"y"})
			b.Output("y")
		}, nil, []string{"FancyOp", "my_fancy"}},
		{"missing input", func(b *Builder) {
			b.Node("Conv", "c", []string{"x", "w"}, []string{"c"})
			b.Node("Add", "add", []string{"c", "nowhere"}, []string{"y"})
			b.Output("y")
		}, nil, []string{"nowhere", "add"}},
		{"cycle", func(b *Builder) {
			b.Node("Add", "a1", []string{"x", "t2"}, []string{"t1"})
			b.Node("Relu", "a2", []string{"t1"}, []string{"t2"})
			b.Output("t2")
		}, nil, []string{"cycle"}},
		{"unknown tap", func(b *Builder) {
			b.Node("Conv", "c", []string{"x", "w"}, []string{"c"})
		}, []string{"layer9"}, []string{"layer9"}},
		{"reshape of computed shape", func(b *Builder) {
			b.Node("Reshape", "rs", []string{"x", "x"}, []string{"y"})
			b.Output("y")
		}, nil, []string{"rs", "shape"}},
		{"bad constant", func(b *Builder) {
			b.Node("Constant", "k", nil, []string{"k"}, TensorAttr("value", &Tensor{Dims: []int64{4}, Float: []float32{1, 2}}))
			b.Node("Add", "add", []string{"x", "k"}, []string{"y"})
			b.Output("y")
		}, nil, []string{"need 4 values", `"k"`}},
		{"duplicate producer", func(b *Builder) {
			b.Node("Relu", "r1", []string{"x"}, []string{"y"})
			b.Node("Relu", "r2", []string{"x"}, []string{"y"})
			b.Output("y")
		}, nil, []string{"r1", "r2"}},
	}
	for _, c := range cases {
		b := base()
		c.build(b)
		_, err := NewExecutor(b.Model(), c.outs)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}

	// Shape errors at Run name the node; missing and misshapen inputs name the input.
	b := NewBuilder("shape")
	b.Input("x", 1, -1, 4, 4)
	b.Initializer("w", []int{3, 2, 1, 1}, make([]float32, 6))
	b.Node("Conv", "/conv1/Conv", []string{"x", "w"}, []string{"y"})
	b.Output("y")
	e, err := NewExecutor(b.Model(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(map[string]*tensor.Tensor{"x": tensor.New(1, 5, 4, 4)}); err == nil || !strings.Contains(err.Error(), "/conv1/Conv") {
		t.Fatalf("channel mismatch: %v", err)
	}
	if _, err := e.Run(map[string]*tensor.Tensor{}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("missing input: %v", err)
	}
	if _, err := e.Run(map[string]*tensor.Tensor{"x": tensor.New(1, 2, 5, 4)}); err == nil || !strings.Contains(err.Error(), "declared") {
		t.Fatalf("declared shape: %v", err)
	}
	// After errors the executor still works.
	out, err := e.Run(map[string]*tensor.Tensor{"x": tensor.New(1, 2, 4, 4)})
	if err != nil || out["y"].Shape[1] != 3 {
		t.Fatalf("after errors: %v", err)
	}
}

// FuzzExecutor feeds mutated models through Decode, NewExecutor and Run:
// whatever the bytes, the result is a model that runs or an error.
func FuzzExecutor(f *testing.F) {
	convT, _ := convTModel(rand.New(rand.NewPCG(2, 2)))
	for _, m := range []*Model{newBlockNet(rand.New(rand.NewPCG(1, 1))).m, smallModel(), shapeModel(), convT} {
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		e, err := NewExecutor(m, nil)
		if err != nil {
			return
		}
		in := map[string]*tensor.Tensor{}
		for _, vi := range m.Graph.Inputs {
			shape := make([]int, len(vi.Shape))
			n := 1
			for i, d := range vi.Shape {
				shape[i] = max(int(d), 1)
				n *= shape[i]
				if n > 4096 {
					return
				}
			}
			in[vi.Name] = tensor.New(shape...)
		}
		e.Run(in) //nolint: errors are expected; panics are not
	})
}

func TestExecutorActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	x := randTensor(r, 2, 3, 4, 5)
	for i := range x.Data {
		x.Data[i] *= 5
	}
	ref := map[string]func(float64) float64{
		"Sigmoid":     func(v float64) float64 { return 1 / (1 + math.Exp(-v)) },
		"Tanh":        math.Tanh,
		"LeakyRelu":   func(v float64) float64 { return math.Max(v, 0.1*v) },
		"HardSigmoid": func(v float64) float64 { return math.Min(math.Max(0.25*v+0.4, 0), 1) },
		"HardSwish":   func(v float64) float64 { return v * math.Min(math.Max(v/6+0.5, 0), 1) },
	}
	for op, f := range ref {
		b := NewBuilder(op)
		b.Input("x", 2, 3, 4, 5)
		var attrs []Attr
		switch op {
		case "LeakyRelu":
			attrs = append(attrs, FloatAttr("alpha", 0.1))
		case "HardSigmoid":
			attrs = append(attrs, FloatAttr("alpha", 0.25), FloatAttr("beta", 0.4))
		}
		b.Node(op, "act", []string{"x"}, []string{"y"}, attrs...)
		b.Output("y", 2, 3, 4, 5)
		m := b.Model()
		m.OpsetVersion = 14 // HardSwish
		want := x.Clone()
		for i, v := range want.Data {
			want.Data[i] = float32(f(float64(v)))
		}
		out := run1(t, roundTrip(t, m), nil, map[string]*tensor.Tensor{"x": x})
		checkClose(t, op, out["y"], want)
	}
}

// TestExecutorShapeArithmetic covers the integer subgraphs torch writes
// for x.view(x.size(0), -1) and friends (Shape, Gather, Slice, Mul,
// Unsqueeze, Concat feeding Reshape), with a dynamic batch size.
// shapeModel is the dynamic-batch flatten/view graph of
// TestExecutorShapeArithmetic (also a fuzzing seed).
func shapeModel() *Model {
	b := NewBuilder("shapes")
	b.Input("x", -1, 3, 4, 5)
	b.InitializerInt64("zero", nil, []int64{0})
	b.InitializerInt64("two", nil, []int64{2})
	b.InitializerInt64("three", nil, []int64{3})
	b.InitializerInt64("axes0", []int{1}, []int64{0})
	b.InitializerInt64("minus1", []int{1}, []int64{-1})
	b.InitializerInt64("s0", []int{1}, []int64{0})
	b.InitializerInt64("s2", []int{1}, []int64{2})
	b.Node("Shape", "shape", []string{"x"}, []string{"S"})
	b.Node("Gather", "g0", []string{"S", "zero"}, []string{"n"}, IntAttr("axis", 0))
	b.Node("Unsqueeze", "u0", []string{"n", "axes0"}, []string{"n1"})
	b.Node("Concat", "cat0", []string{"n1", "minus1"}, []string{"shape1"}, IntAttr("axis", 0))
	b.Node("Reshape", "view", []string{"x", "shape1"}, []string{"r1"})
	b.Node("Slice", "sl", []string{"S", "s0", "s2"}, []string{"nc"})
	b.Node("Gather", "g2", []string{"S", "two"}, []string{"h"})
	b.Node("Gather", "g3", []string{"S", "three"}, []string{"w"})
	b.Node("Mul", "hw", []string{"h", "w"}, []string{"hw"})
	b.Node("Unsqueeze", "u1", []string{"hw", "axes0"}, []string{"hw1"})
	b.Node("Concat", "cat1", []string{"nc", "hw1"}, []string{"shape2"}, IntAttr("axis", 0))
	b.Node("Reshape", "view2", []string{"x", "shape2"}, []string{"r2"})
	b.Node("Relu", "relu", []string{"r2"}, []string{"y"})
	b.Output("r1", -1, 60)
	b.Output("y", -1, 3, 20)
	return b.Model()
}

func TestExecutorShapeArithmetic(t *testing.T) {
	m := roundTrip(t, shapeModel())
	e, err := NewExecutor(m, []string{"r1", "y", "shape2"})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(15, 16))
	x2 := randTensor(r, 2, 3, 4, 5)
	out := run1(t, m, []string{"r1", "y"}, map[string]*tensor.Tensor{"x": x2})
	checkClose(t, "r1", out["r1"], x2.Clone().Reshape(2, 60))
	for _, n := range []int{2, 1, 3} {
		x := randTensor(r, n, 3, 4, 5)
		out, err := e.Run(map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, "r1", out["r1"], x.Clone().Reshape(n, 60))
		checkClose(t, "y", out["y"], refClip(x, 0, math.MaxFloat32).Reshape(n, 3, 20))
		checkClose(t, "shape2", out["shape2"], tensor.From([]float32{float32(n), 3, 20}, 3))
	}
	// Integer data where floats are needed is refused with the node named.
	b2 := NewBuilder("bad")
	b2.Input("x", 1, 3)
	b2.Node("Shape", "shape", []string{"x"}, []string{"S"})
	b2.Node("Relu", "relu_of_shape", []string{"S"}, []string{"y"})
	b2.Output("y")
	if _, err := NewExecutor(b2.Model(), nil); err == nil || !strings.Contains(err.Error(), "relu_of_shape") {
		t.Fatalf("Relu of a shape: %v", err)
	}
}

// TestExecutorAutoPad checks auto_pad for Conv and MaxPool: SAME_UPPER puts
// the odd padding at the end, SAME_LOWER at the start, VALID pads nothing.
func TestExecutorAutoPad(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	x := randTensor(r, 1, 2, 8, 6)
	w := randTensor(r, 3, 2, 3, 3)
	b := NewBuilder("autopad")
	b.Input("x", 1, 2, 8, 6)
	b.Initializer("w", w.Shape, w.Data)
	s2 := IntsAttr("strides", 2, 2)
	for _, mode := range []string{"SAME_UPPER", "SAME_LOWER", "VALID"} {
		b.Node("Conv", "conv_"+mode, []string{"x", "w"}, []string{"c_" + mode}, s2, StringAttr("auto_pad", mode))
		b.Node("MaxPool", "pool_"+mode, []string{"x"}, []string{"p_" + mode}, s2, StringAttr("auto_pad", mode), IntsAttr("kernel_shape", 3, 3))
	}
	b.Node("MaxPool", "pool_ceil", []string{"x"}, []string{"p_ceil"}, s2, IntsAttr("kernel_shape", 3, 3), IntAttr("ceil_mode", 1))
	m := roundTrip(t, b.Model())
	// Output 4x3 for SAME: total padding (4-1)*2+3-8 = 1 rows, (3-1)*2+3-6 = 1 column.
	pads := map[string][4]int{"SAME_UPPER": {0, 0, 1, 1}, "SAME_LOWER": {1, 1, 0, 0}, "VALID": {}}
	var names []string
	for mode := range pads {
		names = append(names, "c_"+mode, "p_"+mode)
	}
	out := run1(t, m, append(names, "p_ceil"), map[string]*tensor.Tensor{"x": x})
	// Ceil mode adds a last, partial window: 4x3 instead of 3x2.
	checkClose(t, "pool ceil", out["p_ceil"], refPool(x, true, [2]int{3, 3}, [2]int{2, 2}, [4]int{}, true, false))
	if s := out["p_ceil"].Shape; s[2] != 4 || s[3] != 3 {
		t.Fatalf("ceil pool shape %v, want 4x3", s)
	}
	for mode, p := range pads {
		checkClose(t, "conv "+mode, out["c_"+mode], refConv(x, w, nil, [2]int{2, 2}, [2]int{1, 1}, p, 1))
		checkClose(t, "pool "+mode, out["p_"+mode], refPool(x, true, [2]int{3, 3}, [2]int{2, 2}, p, false, false))
	}
	if s := out["c_SAME_LOWER"].Shape; s[2] != 4 || s[3] != 3 {
		t.Fatalf("SAME conv shape %v, want 4x3", s)
	}
}

// TestExecutorTransposeAndFolding covers the dynamo exporter's linear layer
// (Transpose of the weight, MatMul, Add of the bias), where the Transpose of
// a constant is computed once at load time, and a run-time Transpose.
func TestExecutorTransposeAndFolding(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	x := randTensor(r, 2, 3, 4, 5)
	w := randTensor(r, 7, 60)
	bias := randFloats(r, 7)
	b := NewBuilder("dynamo_linear")
	b.Input("x", 2, 3, 4, 5)
	b.Initializer("fc.weight", w.Shape, w.Data)
	b.Initializer("fc.bias", []int{7}, bias)
	b.Node("Transpose", "node_Transpose_0", []string{"fc.weight"}, []string{"val_0"}, IntsAttr("perm", 1, 0))
	b.Node("Flatten", "node_Flatten_1", []string{"x"}, []string{"flat"})
	b.Node("MatMul", "node_MatMul_2", []string{"flat", "val_0"}, []string{"val_1"})
	b.Node("Add", "node_Add_3", []string{"val_1", "fc.bias"}, []string{"linear"})
	b.Node("Transpose", "node_Transpose_4", []string{"x"}, []string{"nhwc"}, IntsAttr("perm", 0, 2, 3, 1))
	b.Output("linear", 2, 7)
	b.Output("nhwc", 2, 4, 5, 3)
	m := roundTrip(t, b.Model())
	e, err := NewExecutor(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range e.steps {
		if st.node.Name == "node_Transpose_0" {
			t.Fatal("Transpose of a constant weight was not folded")
		}
	}
	out := run1(t, m, nil, map[string]*tensor.Tensor{"x": x})
	checkClose(t, "linear", out["linear"], refGemm(x.Clone().Reshape(2, 60), w, bias, false, true, 1, 1))
	nhwc := tensor.New(2, 4, 5, 3)
	for n := 0; n < 2; n++ {
		for c := 0; c < 3; c++ {
			for h := 0; h < 4; h++ {
				for wd := 0; wd < 5; wd++ {
					nhwc.Data[((n*4+h)*5+wd)*3+c] = x.Data[((n*3+c)*4+h)*5+wd]
				}
			}
		}
	}
	checkClose(t, "nhwc", out["nhwc"], nhwc)
}

// TestExecutorReduceMeanResize covers ReduceMean (trailing and general
// axes) and Resize as PyTorch exports F.interpolate: nearest with scales,
// bilinear (half_pixel and align_corners) with sizes, including sizes
// computed from the input shape.
func TestExecutorReduceMeanResize(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	x := randTensor(r, 2, 3, 4, 5)
	b := NewBuilder("resize")
	b.Input("x", 2, 3, 4, 5)
	b.Initializer("scales", []int{4}, []float32{1, 1, 2, 3})
	b.InitializerInt64("sizes", []int{4}, []int64{2, 3, 7, 9})
	b.InitializerInt64("s2", []int{1}, []int64{2})
	b.InitializerInt64("hw", []int{2}, []int64{6, 10})
	b.Node("ReduceMean", "gap", []string{"x"}, []string{"m23"}, IntsAttr("axes", 2, 3), IntAttr("keepdims", 1))
	b.Node("ReduceMean", "m1", []string{"x"}, []string{"m1"}, IntsAttr("axes", 1), IntAttr("keepdims", 0))
	b.Node("Resize", "up_nearest", []string{"x", "", "scales"}, []string{"near"},
		StringAttr("mode", "nearest"), StringAttr("coordinate_transformation_mode", "asymmetric"), StringAttr("nearest_mode", "floor"))
	b.Node("Resize", "up_linear", []string{"x", "", "", "sizes"}, []string{"lin"},
		StringAttr("mode", "linear"), StringAttr("coordinate_transformation_mode", "pytorch_half_pixel"))
	b.Node("Shape", "shape", []string{"x"}, []string{"S"})
	b.InitializerInt64("zero", []int{1}, []int64{0})
	b.Node("Slice", "nc3", []string{"S", "zero", "s2"}, []string{"NC3"})
	b.Node("Concat", "size_cat", []string{"NC3", "hw"}, []string{"dynsizes"}, IntAttr("axis", 0))
	b.Node("Resize", "up_align", []string{"x", "", "", "dynsizes"}, []string{"aligned"},
		StringAttr("mode", "linear"), StringAttr("coordinate_transformation_mode", "align_corners"))
	m := roundTrip(t, b.Model())
	out := run1(t, m, []string{"m23", "m1", "near", "lin", "aligned"}, map[string]*tensor.Tensor{"x": x})

	m23, m1 := tensor.New(2, 3, 1, 1), tensor.New(2, 4, 5)
	for i, v := range x.Data {
		n, c, hw := i/60, (i/20)%3, i%20
		m23.Data[n*3+c] += v / 20
		m1.Data[n*20+hw] += v / 3
	}
	checkClose(t, "m23", out["m23"], m23)
	checkClose(t, "m1", out["m1"], m1)

	// Reference resampling straight from the ONNX formulas.
	resize := func(oh, ow int, src func(o, in, out int) (int, int, float64)) *tensor.Tensor {
		y := tensor.New(2, 3, oh, ow)
		for p := 0; p < 6; p++ {
			for oy := 0; oy < oh; oy++ {
				y0, y1, ty := src(oy, 4, oh)
				for ox := 0; ox < ow; ox++ {
					x0, x1, tx := src(ox, 5, ow)
					at := func(yy, xx int) float64 { return float64(x.Data[p*20+yy*5+xx]) }
					v := (1-ty)*((1-tx)*at(y0, x0)+tx*at(y0, x1)) + ty*((1-tx)*at(y1, x0)+tx*at(y1, x1))
					y.Data[(p*oh+oy)*ow+ox] = float32(v)
				}
			}
		}
		return y
	}
	lerp := func(align bool) func(o, in, out int) (int, int, float64) {
		return func(o, in, out int) (int, int, float64) {
			var c float64
			if align {
				c = float64(o) * float64(in-1) / float64(out-1)
			} else {
				c = math.Max((float64(o)+0.5)*float64(in)/float64(out)-0.5, 0)
			}
			i0 := int(c)
			i1 := min(i0+1, in-1)
			return i0, i1, c - float64(i0)
		}
	}
	nearest := func(o, in, out int) (int, int, float64) {
		i := o * in / out
		return i, i, 0
	}
	checkClose(t, "near", out["near"], resize(8, 15, nearest))
	checkClose(t, "lin", out["lin"], resize(7, 9, lerp(false)))
	checkClose(t, "aligned", out["aligned"], resize(6, 10, lerp(true)))
}

// TestExecutorPadGlobalMax covers constant Pad (attribute and input forms)
// and GlobalMaxPool.
func TestExecutorPadGlobalMax(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	x := randTensor(r, 1, 2, 3, 4)
	b := NewBuilder("pad")
	b.Input("x", 1, 2, 3, 4)
	b.InitializerInt64("pads", []int{8}, []int64{0, 1, 2, 0, 0, 0, 1, 3})
	b.Initializer("cv", nil, []float32{-1.5})
	b.Node("Pad", "pad", []string{"x", "pads", "cv"}, []string{"p"})
	b.Node("GlobalMaxPool", "gmp", []string{"x"}, []string{"g"})
	m := roundTrip(t, b.Model())
	out := run1(t, m, []string{"p", "g"}, map[string]*tensor.Tensor{"x": x})
	p := tensor.New(1, 3, 6, 7)
	p.Fill(-1.5)
	g := tensor.New(1, 2, 1, 1)
	for c := 0; c < 2; c++ {
		g.Data[c] = float32(math.Inf(-1))
		for h := 0; h < 3; h++ {
			for w := 0; w < 4; w++ {
				v := x.Data[(c*3+h)*4+w]
				p.Data[((c+1)*6+h+2)*7+w] = v
				g.Data[c] = max(g.Data[c], v)
			}
		}
	}
	checkClose(t, "pad", out["p"], p)
	checkClose(t, "gmp", out["g"], g)
}

// TestExecutorConcurrentRuns checks that concurrent Run calls (serialised
// inside) all return the single-run answer.
func TestExecutorConcurrentRuns(t *testing.T) {
	n := newBlockNet(rand.New(rand.NewPCG(25, 26)))
	e, err := NewExecutor(n.m, []string{"logits", "p1"})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"input": n.x}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 3; i++ {
				out, err := e.Run(in)
				if err == nil && (maxAbsDiff(out["logits"], n.refFC) > 1e-4 || maxAbsDiff(out["p1"], n.refPool) > 1e-4) {
					err = fmt.Errorf("concurrent run gave a different answer")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestExecutorMaxPoolNarrow pools inputs narrower than the kernel, where
// every window is clipped by padding.
func TestExecutorMaxPoolNarrow(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	for _, c := range []struct {
		h, w, s int
		pads    [4]int
	}{{2, 2, 1, [4]int{1, 1, 1, 1}}, {1, 5, 1, [4]int{1, 1, 1, 1}}, {5, 1, 2, [4]int{1, 1, 1, 1}}, {2, 2, 2, [4]int{0, 0, 1, 1}}} {
		x := randTensor(r, 1, 2, c.h, c.w)
		b := NewBuilder("narrow")
		b.Input("x", 1, 2, c.h, c.w)
		p := c.pads
		b.Node("MaxPool", "mp", []string{"x"}, []string{"y"}, IntsAttr("kernel_shape", 3, 3),
			IntsAttr("strides", int64(c.s), int64(c.s)), IntsAttr("pads", int64(p[0]), int64(p[1]), int64(p[2]), int64(p[3])))
		out := run1(t, roundTrip(t, b.Model()), []string{"y"}, map[string]*tensor.Tensor{"x": x})
		checkClose(t, fmt.Sprintf("narrow %dx%d", c.h, c.w), out["y"], refPool(x, true, [2]int{3, 3}, [2]int{c.s, c.s}, p, false, false))
	}
}

// TestExecutorMobileBlock runs a MobileNetV2 inverted residual with a
// squeeze-and-excitation gate (MobileNetV3/EfficientNet style): 1x1 expand
// + BN + ReLU6, depthwise 3x3 + BN + ReLU6, SE (ReduceMean, 1x1 convs,
// HardSigmoid, broadcast Mul), 1x1 project + BN and the residual Add.
func TestExecutorMobileBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 30))
	x := randTensor(r, 2, 4, 9, 9)
	we := scaled(randTensor(r, 12, 4, 1, 1), 0.5)
	wd := scaled(randTensor(r, 12, 1, 3, 3), 0.4)
	ws1, ws2 := scaled(randTensor(r, 3, 12, 1, 1), 0.3), scaled(randTensor(r, 12, 3, 1, 1), 0.5)
	bs1, bs2 := randFloats(r, 3), randFloats(r, 12)
	wp := scaled(randTensor(r, 4, 12, 1, 1), 0.3)
	var bn [3][4][]float32
	b := NewBuilder("mobile")
	b.Input("x", 2, 4, 9, 9)
	for i, c := range []int{12, 12, 4} {
		bn[i] = [4][]float32{positive(r, c), randFloats(r, c), randFloats(r, c), positive(r, c)}
		for j, p := range []string{"g", "b", "m", "v"} {
			b.Initializer(fmt.Sprintf("bn%d.%s", i, p), []int{c}, bn[i][j])
		}
	}
	bnIn := func(i int, x string) []string {
		return []string{x, fmt.Sprintf("bn%d.g", i), fmt.Sprintf("bn%d.b", i), fmt.Sprintf("bn%d.m", i), fmt.Sprintf("bn%d.v", i)}
	}
	for name, w := range map[string]*tensor.Tensor{"we": we, "wd": wd, "ws1": ws1, "ws2": ws2, "wp": wp} {
		b.Initializer(name, w.Shape, w.Data)
	}
	b.Initializer("bs1", []int{3}, bs1)
	b.Initializer("bs2", []int{12}, bs2)
	b.Initializer("zero", nil, []float32{0})
	b.Initializer("six", nil, []float32{6})
	b.Node("Conv", "expand", []string{"x", "we"}, []string{"e"})
	b.Node("BatchNormalization", "bn0", bnIn(0, "e"), []string{"eb"})
	b.Node("Clip", "relu6_0", []string{"eb", "zero", "six"}, []string{"er"})
	b.Node("Conv", "dw", []string{"er", "wd"}, []string{"d"}, IntAttr("group", 12), IntsAttr("pads", 1, 1, 1, 1), IntsAttr("kernel_shape", 3, 3))
	b.Node("BatchNormalization", "bn1", bnIn(1, "d"), []string{"db"})
	b.Node("Clip", "relu6_1", []string{"db", "zero", "six"}, []string{"dr"})
	b.Node("ReduceMean", "se_pool", []string{"dr"}, []string{"s0"}, IntsAttr("axes", 2, 3), IntAttr("keepdims", 1))
	b.Node("Conv", "se_fc1", []string{"s0", "ws1", "bs1"}, []string{"s1"})
	b.Node("Relu", "se_relu", []string{"s1"}, []string{"s2"})
	b.Node("Conv", "se_fc2", []string{"s2", "ws2", "bs2"}, []string{"s3"})
	b.Node("HardSigmoid", "se_gate", []string{"s3"}, []string{"s4"}, FloatAttr("alpha", 1.0/6), FloatAttr("beta", 0.5))
	b.Node("Mul", "se_scale", []string{"dr", "s4"}, []string{"ds"})
	b.Node("Conv", "project", []string{"ds", "wp"}, []string{"p"})
	b.Node("BatchNormalization", "bn2", bnIn(2, "p"), []string{"pb"})
	b.Node("Add", "residual", []string{"x", "pb"}, []string{"y"})
	b.Output("y", 2, 4, 9, 9)
	m := roundTrip(t, b.Model())

	one, p0, p1 := [2]int{1, 1}, [4]int{}, [4]int{1, 1, 1, 1}
	bnr := func(v *tensor.Tensor, i int) *tensor.Tensor {
		return refBN(v, bn[i][0], bn[i][1], bn[i][2], bn[i][3], 1e-5)
	}
	er := refClip(bnr(refConv(x, we, nil, one, one, p0, 1), 0), 0, 6)
	dr := refClip(bnr(refConv(er, wd, nil, one, one, p1, 12), 1), 0, 6)
	s := refConv(refClip(refConv(refGAP(dr), ws1, bs1, one, one, p0, 1), 0, 1e30), ws2, bs2, one, one, p0, 1)
	ds := dr.Clone()
	for i := range ds.Data {
		g := float64(s.Data[i/81])
		ds.Data[i] *= float32(math.Min(math.Max(g/6+0.5, 0), 1))
	}
	y := refAdd(x, bnr(refConv(ds, wp, nil, one, one, p0, 1), 2))
	out := run1(t, m, nil, map[string]*tensor.Tensor{"x": x})
	checkClose(t, "mobile y", out["y"], y)
	taps := run1(t, m, []string{"dr", "ds", "y"}, map[string]*tensor.Tensor{"x": x})
	checkClose(t, "mobile dr", taps["dr"], dr)
	checkClose(t, "mobile ds", taps["ds"], ds)
	checkClose(t, "mobile y (tapped)", taps["y"], y)
}
