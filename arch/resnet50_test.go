package arch

import (
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// TestResNet50ExportMatchesForward checks torchvision's parameter count and
// that the exported ONNX graph (batch norms folded), run by the onnx
// executor after an encode/decode round trip, gives nn's evaluation-mode
// logits and layer shapes.
func TestResNet50ExportMatchesForward(t *testing.T) {
	m := NewResNet50(1000, 7)
	total := 0
	for _, p := range m.Params() {
		total += p.Value.Len()
	}
	if total != 25557032 {
		t.Fatalf("ResNet-50 has %d parameters, torchvision's has 25557032", total)
	}
	if got := m.Params()[len(m.Params())-3].Name; got != "layer4.2.bn3.bias" {
		t.Errorf("third-last parameter %q, want layer4.2.bn3.bias", got)
	}
	// Non-trivial batch-norm statistics so the folding is exercised.
	rng := rand.New(rand.NewPCG(3, 4))
	for _, b := range m.Buffers() {
		for i := range b.T.Data {
			if n := b.Name; n[len(n)-3:] == "var" {
				b.T.Data[i] = 0.5 + rng.Float32()
			} else {
				b.T.Data[i] = 0.2 * (rng.Float32() - 0.5)
			}
		}
	}
	m.Train(false)
	x := randInput(9, 1, 3, 64, 64)
	var ref *nn.Var
	nn.NoGrad(func() { ref = m.Forward(nn.NewVar(x)) })

	data, err := m.ExportONNX().Encode()
	if err != nil {
		t.Fatal(err)
	}
	om, err := onnx.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := onnx.NewExecutor(om, []string{"logits", "layer1", "layer4"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := ex.Run(map[string]*tensor.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "onnx logits", out["logits"], ref.Value, 1e-3)
	if s := out["layer1"].Shape; !tensor.SameShape(s, []int{1, 256, 16, 16}) {
		t.Errorf("layer1 shape %v, want [1 256 16 16]", s)
	}
	if s := out["layer4"].Shape; !tensor.SameShape(s, []int{1, 2048, 2, 2}) {
		t.Errorf("layer4 shape %v, want [1 2048 2 2]", s)
	}
}
