package arch

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/tensor"
)

func randInput(seed uint64, shape ...int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = rng.Float32()
	}
	return t
}

// randomiseBN gives every batch norm non-trivial statistics and affine
// parameters so that the inference scale/shift and the ONNX folding are
// actually exercised.
func randomiseBN(m *ResNet18, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, p := range m.Params() {
		if n := p.Name; len(n) > 7 && (n[len(n)-7:] == ".weight" || n[len(n)-5:] == ".bias") && len(p.Value.Shape) == 1 && n[:2] != "fc" {
			for i := range p.Value.Data {
				if n[len(n)-5:] == ".bias" {
					p.Value.Data[i] = 0.2 * (rng.Float32() - 0.5)
				} else {
					p.Value.Data[i] = 0.5 + rng.Float32()
				}
			}
		}
	}
	for _, b := range m.Buffers() {
		for i := range b.T.Data {
			if b.Name[len(b.Name)-3:] == "var" {
				b.T.Data[i] = 0.5 + rng.Float32()
			} else {
				b.T.Data[i] = 0.2 * (rng.Float32() - 0.5)
			}
		}
	}
}

func TestResNet18Structure(t *testing.T) {
	m := NewResNet18(1000, 1)
	ps := m.Params()
	// torchvision.models.resnet18() has 11,689,512 parameters.
	if n := nn.NumParams(ps); n != 11689512 {
		t.Fatalf("%d parameters, want 11689512", n)
	}
	want := map[string][]int{
		"conv1.weight":                 {64, 3, 7, 7},
		"bn1.weight":                   {64},
		"layer1.0.conv1.weight":        {64, 64, 3, 3},
		"layer2.0.downsample.0.weight": {128, 64, 1, 1},
		"layer2.0.downsample.1.bias":   {128},
		"layer4.1.bn2.weight":          {512},
		"fc.weight":                    {1000, 512},
		"fc.bias":                      {1000},
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] {
			t.Fatalf("duplicate name %s", p.Name)
		}
		seen[p.Name] = true
		if s, ok := want[p.Name]; ok && !tensor.SameShape(s, p.Value.Shape) {
			t.Fatalf("%s shape %v want %v", p.Name, p.Value.Shape, s)
		}
	}
	for n := range want {
		if !seen[n] {
			t.Fatalf("missing %s", n)
		}
	}
	if len(ps) != 62 || len(m.Buffers()) != 40 {
		t.Fatalf("%d params, %d buffers; want 62 and 40", len(ps), len(m.Buffers()))
	}
	// Same seed, same weights.
	m2 := NewResNet18(1000, 1)
	if m2.Params()[10].Value.Data[5] != ps[10].Value.Data[5] {
		t.Fatal("same seed gave different weights")
	}
}

func TestResNet18FeaturesAndExport(t *testing.T) {
	m := NewResNet18(10, 3)
	randomiseBN(m, 4)
	m.Train(false)
	x := randInput(5, 2, 3, 64, 96)

	// Reference: the unfused graph path (grad enabled, params require grad).
	ref := m.Features(nn.NewVar(x), 4)
	refLogits := m.Forward(nn.NewVar(x))
	for i, f := range ref {
		want := []int{2, FeatureChannels[i], 64 / FeatureStrides[i], 96 / FeatureStrides[i]}
		if !tensor.SameShape(f.Value.Shape, want) {
			t.Fatalf("%s shape %v want %v", FeatureNames[i], f.Value.Shape, want)
		}
	}
	// Inference path (BN scale/shift and ReLU in one in-place pass, in-place residual).
	var fused []*nn.Var
	var fusedLogits *nn.Var
	nn.NoGrad(func() {
		fused = m.Features(nn.NewVar(x), 4)
		fusedLogits = m.Forward(nn.NewVar(x))
	})
	for i := range ref {
		assertClose(t, "fused "+FeatureNames[i], fused[i].Value, ref[i].Value, 1e-4)
	}
	assertClose(t, "fused logits", fusedLogits.Value, refLogits.Value, 1e-4)

	// ONNX export, encoded and decoded, run by the onnx executor.
	data, err := m.ExportONNX().Encode()
	if err != nil {
		t.Fatal(err)
	}
	om, err := onnx.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	names := append([]string{"logits"}, FeatureNames...)
	ex, err := onnx.NewExecutor(om, names)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ex.Run(map[string]*tensor.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "onnx logits", out["logits"], refLogits.Value, 1e-4)
	for i, n := range FeatureNames {
		assertClose(t, "onnx "+n, out[n], ref[i].Value, 1e-4)
	}
	// VIGIL_ONNX_DUMP=DIR writes the exported file with its input and nn's
	// own outputs, so ONNX Runtime can be checked on the very same file
	// (node onnx/testdata/ort_compare.js DIR).
	if dir := os.Getenv("VIGIL_ONNX_DUMP"); dir != "" {
		want := map[string]*tensor.Tensor{"logits": refLogits.Value}
		for i, n := range FeatureNames {
			want[n] = ref[i].Value
		}
		if err := onnx.WriteCase(dir, "vigil_resnet18_export", m.ExportONNX(), map[string]*tensor.Tensor{"input": x}, want); err != nil {
			t.Fatal(err)
		}
	}

	// The inference path must follow any change of weights or statistics.
	prev := refLogits.Value
	for _, change := range []func(){
		func() { m.Conv1.Weight.Value.Data[7] += 0.5 },        // one weight
		func() { m.Layers[2][1].BN2.RunningVar.Data[3] *= 2 }, // one statistic
	} {
		change()
		ref2 := m.Forward(nn.NewVar(x))
		var fused2 *nn.Var
		nn.NoGrad(func() { fused2 = m.Forward(nn.NewVar(x)) })
		assertClose(t, "changed-model logits", fused2.Value, ref2.Value, 1e-5)
		var diff float64
		for i, v := range ref2.Value.Data {
			diff = max(diff, math.Abs(float64(v-prev.Data[i])))
		}
		if diff < 1e-6 {
			t.Fatal("change did not change the output; test is vacuous")
		}
		prev = ref2.Value
	}
}

func assertClose(t *testing.T, what string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v want %v", what, got.Shape, want.Shape)
	}
	var scale float64
	for _, v := range want.Data {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i, v := range got.Data {
		if math.Abs(float64(v-want.Data[i])) > tol*max(scale, 1) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, v, want.Data[i])
		}
	}
}

func TestResNet18TrainStepAndSave(t *testing.T) {
	// Batch 4 at 64×64 leaves layer4's batch norm 16 values per channel;
	// with fewer (2×1×1) its statistics make the loss surface chaotic.
	m := NewResNet18(3, 7)
	x := randInput(8, 4, 3, 64, 64)
	opt := optim.NewSGD(m.Params(), 0.01, 0.9, 0, false)
	y := []int{0, 2, 1, 1}
	loss0 := nn.CrossEntropy(m.Forward(nn.NewVar(x)), y)
	nn.Backward(loss0)
	for _, p := range m.Params() {
		if p.Grad == nil {
			t.Fatalf("%s got no gradient", p.Name)
		}
	}
	opt.Step()
	for i := 0; i < 3; i++ {
		opt.ZeroGrad()
		l := nn.CrossEntropy(m.Forward(nn.NewVar(x)), y)
		nn.Backward(l)
		opt.Step()
	}
	loss1 := nn.CrossEntropy(m.Forward(nn.NewVar(x)), y)
	if loss1.Item() >= loss0.Item() {
		t.Fatalf("loss did not drop: %v -> %v", loss0.Item(), loss1.Item())
	}
	path := filepath.Join(t.TempDir(), "r18.safetensors")
	if err := nn.SaveParams(path, m); err != nil {
		t.Fatal(err)
	}
	m2 := NewResNet18(3, 99)
	if err := nn.LoadParams(path, m2); err != nil {
		t.Fatal(err)
	}
	m.Train(false)
	m2.Train(false)
	var a, b *nn.Var
	nn.NoGrad(func() { a, b = m.Forward(nn.NewVar(x)), m2.Forward(nn.NewVar(x)) })
	assertClose(t, "reloaded", b.Value, a.Value, 0)
}

func TestConvAE(t *testing.T) {
	m := NewConvAE(1)
	x := randInput(2, 2, 3, 64, 64)
	if z := m.Encode(nn.NewVar(x)); !tensor.SameShape(z.Value.Shape, []int{2, 32, 16, 16}) {
		t.Fatalf("latent shape %v", z.Value.Shape)
	}
	names := []string{"enc.0.weight", "enc.0.bias", "enc.1.weight", "enc.1.bias", "enc.2.weight", "enc.2.bias",
		"enc.3.weight", "enc.3.bias", "dec.0.weight", "dec.0.bias", "dec.1.weight", "dec.1.bias"}
	ps := m.Params()
	for i, p := range ps {
		if p.Name != names[i] {
			t.Fatalf("param %d is %s, want %s", i, p.Name, names[i])
		}
	}
	if s := ps[2].Value.Shape; !tensor.SameShape(s, []int{64, 32, 3, 3}) {
		t.Fatalf("L2 weight %v", s)
	}
	// Learns a smooth image quickly with both losses.
	img := tensor.New(2, 3, 64, 64)
	for i := range img.Data {
		p := i % 4096
		img.Data[i] = 0.5 + 0.4*float32(math.Sin(float64(p%64)/9)*math.Cos(float64(p/64)/7))
	}
	for _, lossFn := range []func(a, b *nn.Var) *nn.Var{nn.MSELoss, nn.SSIMLoss} {
		m := NewConvAE(1)
		opt := optim.NewAdam(m.Params(), 2e-3, 0)
		target := nn.NewVar(img)
		first := lossFn(m.Forward(target), target).Item()
		var last float32
		for i := 0; i < 25; i++ {
			opt.ZeroGrad()
			l := lossFn(m.Forward(target), target)
			nn.Backward(l)
			opt.Step()
			last = l.Item()
		}
		if !(last < 0.5*first) {
			t.Fatalf("loss %v -> %v: did not halve", first, last)
		}
	}
}

// TestBasicBlockGradient checks the residual block's composed gradient
// (conv, training batch norm, ReLU, projection shortcut, add) by central
// differences on the input and on a weight of each branch.
func TestBasicBlockGradient(t *testing.T) {
	rng := nn.NewRNG(3)
	b := &BasicBlock{
		Conv1: convInit(2, 4, 3, 2, 1, rng), BN1: nn.NewBatchNorm2d(4),
		Conv2: convInit(4, 4, 3, 1, 1, rng), BN2: nn.NewBatchNorm2d(4),
		DownConv: convInit(2, 4, 1, 2, 0, rng), DownBN: nn.NewBatchNorm2d(4),
	}
	x := nn.NewParamVar(randInput(4, 2, 2, 6, 6))
	proj := randInput(5, 2, 4, 3, 3)
	loss := func() float64 {
		var s float64
		nn.NoGrad(func() {
			for i, v := range b.Forward(x).Value.Data {
				s += float64(v) * float64(proj.Data[i]-0.5)
			}
		})
		return s
	}
	y := b.Forward(x)
	for i := range proj.Data {
		proj.Data[i] -= 0.5
	}
	nn.BackwardWith(y, proj)
	for i := range proj.Data {
		proj.Data[i] += 0.5
	}
	check := func(name string, v *nn.Var, idx []int) {
		for _, i := range idx {
			x0 := v.Value.Data[i]
			const h = 1e-4 // small-batch BN is strongly curved; 1e-3 is too coarse
			v.Value.Data[i] = x0 + h
			lp := loss()
			v.Value.Data[i] = x0 - h
			lm := loss()
			v.Value.Data[i] = x0
			num := (lp - lm) / (float64(x0+h) - float64(x0-h))
			ana := float64(v.Grad.Data[i])
			if math.Abs(num-ana) > 2e-2*max(math.Abs(num), math.Abs(ana))+2e-3 {
				t.Errorf("%s[%d]: analytic %v numeric %v", name, i, ana, num)
			}
		}
	}
	check("input", x, []int{0, 7, 20, 35, 50, 71})
	check("conv1.weight", b.Conv1.Weight.Var, []int{0, 5, 30, 71})
	check("conv2.weight", b.Conv2.Weight.Var, []int{1, 40, 143})
	check("downsample.0.weight", b.DownConv.Weight.Var, []int{0, 3, 7})
	check("bn2.weight", b.BN2.Weight.Var, []int{0, 3})
}
