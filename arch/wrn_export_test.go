package arch

import (
	"math"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
)

// The exported WRN, run by onnx.Executor, gives Forward in evaluation
// mode, with the batch norms' running statistics and affine parameters
// set away from their defaults so the folding is exercised; a 3-channel
// WRN-10-1 and a 1-channel WRN-16-1 (two blocks per stage).
func TestWRNExportMatchesForward(t *testing.T) {
	for _, s := range []struct{ in, depth, widen int }{{3, 10, 1}, {1, 16, 1}} {
		m, err := NewWRN(s.in, s.depth, s.widen, 5, 7)
		if err != nil {
			t.Fatal(err)
		}
		for i, buf := range m.Buffers() {
			for j := range buf.T.Data {
				v := 0.2 * float32(math.Sin(float64(3*i+j)))
				if strings.HasSuffix(buf.Name, "var") {
					v = 1.5 + v
				}
				buf.T.Data[j] = v
			}
		}
		for i, p := range m.Params() {
			if len(p.Value.Shape) == 1 {
				for j := range p.Value.Data {
					p.Value.Data[j] += 0.1 * float32(math.Cos(float64(5*i+j)))
				}
			}
		}
		m.Train(false)
		x := randInput(4, 2, s.in, 8, 8)
		b := onnx.NewBuilder("wrn")
		b.Input("x", 2, s.in, 8, 8)
		y := m.ExportONNX(b, "x", "wrn/")
		b.Output(y, 2, 5)
		out := runGraph(t, b, x)
		var want *nn.Var
		nn.NoGrad(func() { want = m.Forward(nn.NewVar(x)) })
		d := maxDiff(out[y], want.Value)
		if d > 1e-5 {
			t.Errorf("%+v: max abs diff %g", s, d)
		}
		var scale float64
		for _, v := range want.Value.Data {
			scale = max(scale, math.Abs(float64(v)))
		}
		t.Logf("%+v: max abs diff %.3g (logits up to %.3g)", s, d, scale)
	}
}
