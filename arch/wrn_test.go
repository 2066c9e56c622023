package arch

import (
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/tensor"
)

// WRN-10-1 on one channel with 5 classes has a hand-countable parameter
// set, gives logits of the right shape and, evaluated, the same logits as
// the graph path (the fused batch-norm inference must match).
func TestWRNStructure(t *testing.T) {
	m, err := NewWRN(1, 10, 1, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	bn := func(c int) int { return 2 * c }
	block := func(in, out int) int {
		n := 9*in*out + bn(out) + 9*out*out + bn(out)
		if in != out {
			n += in*out + bn(out)
		}
		return n
	}
	want := 9*16 + bn(16) + block(16, 16) + block(16, 32) + block(32, 64) + 64*5 + 5
	if got := nn.NumParams(m.Params()); got != want {
		t.Fatalf("%d parameters, want %d", got, want)
	}
	x := randInput(3, 2, 1, 12, 12)
	randomBN := func() {
		for i, b := range m.Buffers() {
			for j := range b.T.Data {
				if len(b.Name) > 3 && b.Name[len(b.Name)-3:] == "var" {
					b.T.Data[j] = 0.5 + 0.1*float32((i+j)%7)
				} else {
					b.T.Data[j] = 0.05 * float32((i*3+j)%5-2)
				}
			}
		}
	}
	randomBN()
	m.Train(false)
	var fused, graph *tensor.Tensor
	nn.NoGrad(func() { fused = m.Forward(nn.NewVar(x)).Value })
	graph = m.Forward(nn.NewVar(x)).Value // params require grad: graph path
	if !tensor.SameShape(fused.Shape, []int{2, 5}) {
		t.Fatalf("logits shape %v", fused.Shape)
	}
	for i := range fused.Data {
		if d := fused.Data[i] - graph.Data[i]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("logit %d: fused %g, graph %g", i, fused.Data[i], graph.Data[i])
		}
	}
	if _, err := NewWRN(1, 12, 1, 5, 1); err == nil {
		t.Error("depth 12 (not 6n+4) was accepted")
	}
}

// A WRN-10-1 learns to tell two tiny synthetic image classes apart
// (bright top half vs bright bottom half): the training loss falls well below
// chance level.
func TestWRNLearns(t *testing.T) {
	m, err := NewWRN(1, 10, 1, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	opt := optim.NewAdam(m.Params(), 3e-3, 0)
	x := tensor.New(16, 1, 8, 8)
	y := make([]int, 16)
	for i := 0; i < 16; i++ {
		y[i] = i % 2
		for r := 0; r < 8; r++ {
			for c := 0; c < 8; c++ {
				v := float32((i*7+r*3+c)%5) * 0.05
				if (r < 4) == (y[i] == 0) {
					v += 0.8
				}
				x.Data[i*64+r*8+c] = v
			}
		}
	}
	var first, last float32
	for step := 0; step < 30; step++ {
		opt.ZeroGrad()
		loss := nn.CrossEntropy(m.Forward(nn.NewVar(x)), y)
		nn.Backward(loss)
		opt.Step()
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
	}
	if !(last < 0.1 && last < first/4) {
		t.Fatalf("loss %g -> %g: the network did not learn", first, last)
	}
}
