package arch

import (
	"math"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// runGraph encodes and decodes the builder's model and runs it with
// onnx.Executor on input "x".
func runGraph(t *testing.T, b *onnx.Builder, x *tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	enc, err := b.Model().Encode()
	if err != nil {
		t.Fatal(err)
	}
	om, err := onnx.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	e, err := onnx.NewExecutor(om, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// maxDiff is the largest |a − b| of two same-shaped tensors (+Inf when
// the shapes differ).
func maxDiff(a, b *tensor.Tensor) float64 {
	if !tensor.SameShape(a.Shape, b.Shape) {
		return math.Inf(1)
	}
	d := 0.0
	for i, v := range b.Data {
		d = max(d, math.Abs(float64(a.Data[i]-v)))
	}
	return d
}

// The exported U-Net, run by onnx.Executor, gives Forward in evaluation
// mode, with batch norm (running statistics and affine parameters set away
// from their defaults, so the folding is exercised) and without.
func TestUNetExportMatchesForward(t *testing.T) {
	for _, s := range []UNetSpec{{In: 3, Out: 3, Width: 4, Depth: 2, BatchNorm: true}, {In: 1, Out: 1, Width: 2, Depth: 1}} {
		m, err := NewUNet(s, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i, buf := range m.Buffers() {
			for j := range buf.T.Data {
				v := 0.2 * float32(math.Sin(float64(3*i+j)))
				if len(buf.Name) > 3 && buf.Name[len(buf.Name)-3:] == "var" {
					v = 1.5 + v
				}
				buf.T.Data[j] = v
			}
		}
		for i, p := range m.Params() {
			if len(p.Value.Shape) == 1 { // biases and batch-norm affine parameters
				for j := range p.Value.Data {
					p.Value.Data[j] += 0.1 * float32(math.Cos(float64(5*i+j)))
				}
			}
		}
		m.Train(false)
		x := randInput(9, 2, s.In, 8, 12)
		b := onnx.NewBuilder("unet")
		b.Input("x", 2, s.In, 8, 12)
		y := m.ExportONNX(b, "x", "unet/")
		b.Output(y, 2, s.Out, 8, 12)
		out := runGraph(t, b, x)
		var want *nn.Var
		nn.NoGrad(func() { want = m.Forward(nn.NewVar(x)) })
		d := maxDiff(out[y], want.Value)
		if d > 1e-5 {
			t.Errorf("%+v: max abs diff %g", s, d)
		}
		t.Logf("%+v: max abs diff %.3g", s, d)
	}
}
