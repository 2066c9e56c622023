package arch

import (
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
)

// The exported dense pass, run by onnx.Executor, gives Dense for every
// receptive field (p=33 and p=65 split and interleave two and three pool
// levels), on a batch of two.
func TestPatchNetExportDenseMatchesDense(t *testing.T) {
	for _, p := range PatchSizes {
		net, err := NewPatchNet(p, 3, 0.03, uint64(p))
		if err != nil {
			t.Fatal(err)
		}
		s := net.DenseSize(5)
		x := randInput(uint64(p)+1, 2, 3, s, s)
		b := onnx.NewBuilder("patchnet")
		b.Input("x", 2, 3, s, s)
		y, o, err := net.ExportDense(b, "x", 2, s, "pn/")
		if err != nil {
			t.Fatal(err)
		}
		b.Output(y, 2, 3, o, o)
		out := runGraph(t, b, x)
		var want *nn.Var
		nn.NoGrad(func() { want = net.Dense(nn.NewVar(x)) })
		d := maxDiff(out[y], want.Value)
		if d > 1e-5 {
			t.Errorf("p=%d: max abs diff %g (shapes %v, %v)", p, d, out[y].Shape, want.Value.Shape)
		}
		t.Logf("p=%d: input %d, output %d: max abs diff %.3g", p, s, o, d)
	}
	net, _ := NewPatchNet(33, 3, 0.03, 1)
	if _, _, err := net.ExportDense(onnx.NewBuilder("bad"), "x", 1, net.DenseSize(5)+1, ""); err == nil {
		t.Error("a side Dense refuses is accepted")
	}
}
