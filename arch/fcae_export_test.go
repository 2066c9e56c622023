package arch

import (
	"math"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// The exported graph, run by onnx.Executor after an encode/decode round
// trip, gives FCAE's code and reconstruction (He-initialised weights with
// random biases, so every bias and ReLU matters).
func TestFCAEExportMatchesForward(t *testing.T) {
	for _, s := range []FCAESpec{
		{In: 3, Width: 4, Depth: 1, Stride: 4, Latent: 3},
		{In: 1, Width: 2, Depth: 0, Stride: 8, Latent: 2},
	} {
		m, err := NewFCAE(s, 7)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range m.Params() {
			if strings.HasSuffix(p.Name, "bias") {
				for j := range p.Value.Data {
					p.Value.Data[j] = 0.1 * float32(math.Sin(float64(7*i+j)))
				}
			}
		}
		h, w := 2*s.Stride, 3*s.Stride
		x := randInput(5, 1, s.In, h, w)
		b := onnx.NewBuilder("fcae")
		b.Input("x", 1, s.In, h, w)
		code, recon, err := m.ExportONNX(b, "x", "ae/")
		if err != nil {
			t.Fatal(err)
		}
		b.Output(code, 1, s.Latent, h/s.Stride, w/s.Stride)
		b.Output(recon, 1, s.In, h, w)
		out := runGraph(t, b, x)
		var z, y *nn.Var
		nn.NoGrad(func() { z = m.Encode(nn.NewVar(x)); y = m.Forward(nn.NewVar(x)) })
		for _, c := range []struct {
			name      string
			got, want *tensor.Tensor
		}{{"code", out[code], z.Value}, {"recon", out[recon], y.Value}} {
			d := maxDiff(c.got, c.want)
			if d > 1e-5 {
				t.Errorf("%+v %s: max abs diff %g", s, c.name, d)
			}
			t.Logf("%+v %s: max abs diff %.3g", s, c.name, d)
		}
	}
}
