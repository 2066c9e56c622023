package nn

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

func smallNet(seed uint64) *Sequential {
	rng := NewRNG(seed)
	return NewSequential(
		NewConv2d(ConvSpec{In: 1, Out: 4, Kernel: 3, Pad: 1}, rng),
		NewBatchNorm2d(4),
		Func(ReLU),
		MaxPool(2, 2, 0),
		NewConv2d(ConvSpec{In: 4, Out: 4, Kernel: 3, Pad: 1, Groups: 4, NoBias: true}, rng),
		Func(GlobalAvgPool),
		NewLinear(4, 2, true, rng),
	)
}

func TestSeededInitAndNames(t *testing.T) {
	a, b, c := smallNet(1), smallNet(1), smallNet(2)
	pa, pb, pc := a.Params(), b.Params(), c.Params()
	names := []string{"0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "6.weight", "6.bias"}
	if len(pa) != len(names) {
		t.Fatalf("%d params, want %d", len(pa), len(names))
	}
	differs := false
	for i, p := range pa {
		if p.Name != names[i] {
			t.Fatalf("param %d named %q, want %q", i, p.Name, names[i])
		}
		for j, v := range p.Value.Data {
			if v != pb[i].Value.Data[j] {
				t.Fatalf("same seed, different %s", p.Name)
			}
			if v != pc[i].Value.Data[j] {
				differs = true
			}
		}
	}
	if !differs {
		t.Fatal("different seeds gave identical weights")
	}
	// Kaiming-uniform bound 1/sqrt(fan_in) = 1/3 for the first conv.
	for _, v := range pa[0].Value.Data {
		if math.Abs(float64(v)) > 1.0/3 {
			t.Fatalf("init value %v outside the Kaiming bound", v)
		}
	}
	bufs := a.Buffers()
	if len(bufs) != 2 || bufs[0].Name != "1.running_mean" || bufs[1].Name != "1.running_var" {
		t.Fatalf("buffers %v", bufs)
	}
}

func TestSaveLoadParams(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	a := smallNet(1)
	x := NewVar(randT(NewRNG(3), 0, 1, 2, 1, 8, 8))
	a.Forward(x) // updates running statistics
	if err := SaveParams(path, a); err != nil {
		t.Fatal(err)
	}
	b := smallNet(9)
	if err := LoadParams(path, b); err != nil {
		t.Fatal(err)
	}
	a.Train(false)
	b.Train(false)
	ya, yb := a.Forward(x).Value.Data, b.Forward(x).Value.Data
	for i := range ya {
		if ya[i] != yb[i] {
			t.Fatalf("loaded model output %v differs from saved %v", yb, ya)
		}
	}
	if b.Buffers()[0].T.Data[0] != a.Buffers()[0].T.Data[0] {
		t.Fatal("running mean not restored")
	}

	// Shape mismatch names the tensor and leaves the model untouched.
	rng := NewRNG(1)
	wrong := NewSequential(NewConv2d(ConvSpec{In: 1, Out: 5, Kernel: 3, Pad: 1}, rng))
	before := wrong.Params()[0].Value.Clone()
	err := LoadParams(path, wrong)
	if err == nil || !strings.Contains(err.Error(), `"0.weight"`) || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("want shape error naming 0.weight, got %v", err)
	}
	for i, v := range wrong.Params()[0].Value.Data {
		if v != before.Data[i] {
			t.Fatal("failed load modified the model")
		}
	}
	// Missing tensor.
	bigger := NewSequential(smallNet(1), NewLinear(2, 2, true, rng))
	if err := LoadParams(path, bigger); err == nil || !strings.Contains(err.Error(), "missing tensor") {
		t.Fatalf("want missing-tensor error, got %v", err)
	}
	// Extra tensor in the file.
	ts := StateTensors(a)
	ts = append(ts, safetensors.F32("extra.weight", []int{1}, []float32{1}))
	if err := safetensors.WriteFile(path, nil, ts); err != nil {
		t.Fatal(err)
	}
	if err := LoadParams(path, b); err == nil || !strings.Contains(err.Error(), "extra.weight") {
		t.Fatalf("want unexpected-tensor error, got %v", err)
	}
	// PyTorch's batch-norm counters are tolerated.
	ts[len(ts)-1] = safetensors.Tensor{Name: "1.num_batches_tracked", DType: "I64", Shape: []int{}, Data: make([]byte, 8)}
	if err := safetensors.WriteFile(path, nil, ts); err != nil {
		t.Fatal(err)
	}
	if err := LoadParams(path, b); err != nil {
		t.Fatalf("num_batches_tracked rejected: %v", err)
	}
	// Corrupt file.
	os.WriteFile(path, []byte("garbage"), 0o644)
	if err := LoadParams(path, b); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("want error naming the file, got %v", err)
	}
}

// stripes makes a batch of 1×8×8 images with horizontal (class 0) or
// vertical (class 1) stripes at random phase plus noise.
func stripes(seed uint64, n int) (*tensor.Tensor, []int) {
	rng := NewRNG(seed)
	x := tensor.New(n, 1, 8, 8)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		y[i] = rng.IntN(2)
		ph := rng.IntN(4)
		period := 2 + rng.IntN(3)
		for r := 0; r < 8; r++ {
			for c := 0; c < 8; c++ {
				k := r
				if y[i] == 1 {
					k = c
				}
				v := float32(0)
				if (k+ph)%period == 0 {
					v = 1
				}
				x.Data[i*64+r*8+c] = v + 0.3*(rng.Float32()-0.5)
			}
		}
	}
	return x, y
}

// TestTrainStripes trains the small CNN with plain SGD (momentum) written
// inline to keep this package free of optim, and checks held-out accuracy.
func TestTrainStripes(t *testing.T) {
	m := smallNet(5)
	ps := m.Params()
	vel := make([][]float32, len(ps))
	for i, p := range ps {
		vel[i] = make([]float32, len(p.Value.Data))
	}
	for step := 0; step < 150; step++ {
		x, y := stripes(uint64(100+step), 32)
		loss := CrossEntropy(m.Forward(NewVar(x)), y)
		ZeroGrad(ps)
		Backward(loss)
		for i, p := range ps {
			for j := range p.Value.Data {
				vel[i][j] = 0.9*vel[i][j] + p.Grad.Data[j]
				p.Value.Data[j] -= 0.05 * vel[i][j]
			}
		}
	}
	m.Train(false)
	x, y := stripes(99999, 400)
	var logits *Var
	NoGrad(func() { logits = m.Forward(NewVar(x)) })
	correct := 0
	for i, c := range y {
		pred := 0
		if logits.Value.Data[2*i+1] > logits.Value.Data[2*i] {
			pred = 1
		}
		if pred == c {
			correct++
		}
	}
	if acc := float64(correct) / float64(len(y)); acc < 0.95 {
		t.Fatalf("held-out accuracy %.3f, want >= 0.95", acc)
	}
}
