package arch

import (
	"math"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// runGraph encodes and decodes the builder's model and runs it with
// onnx.Executor on input "x".
func runGraph(t *testing.T, b *onnx.Builder, x *tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	out, err := onnx.RunEncoded(b.Model(), map[string]*tensor.Tensor{"x": x})
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

// offDefaults sets batch-norm running statistics (variances around 1.5)
// and every 1-D parameter (biases, batch-norm affine parameters) away from
// their initial values, so an export's batch-norm folding is exercised.
func offDefaults(params []*nn.Param, buffers []nn.Buffer) {
	for i, buf := range buffers {
		for j := range buf.T.Data {
			v := 0.2 * float32(math.Sin(float64(3*i+j)))
			if strings.HasSuffix(buf.Name, "var") {
				v = 1.5 + v
			}
			buf.T.Data[j] = v
		}
	}
	for i, p := range params {
		if len(p.Value.Shape) == 1 {
			for j := range p.Value.Data {
				p.Value.Data[j] += 0.1 * float32(math.Cos(float64(5*i+j)))
			}
		}
	}
}

// exportMatchesForward builds a graph with export reading input "x" (the
// shape of x), runs it with onnx.Executor and returns the largest
// difference of its output (declared with outDims) from forward on x in
// evaluation mode, and forward's largest absolute value.
func exportMatchesForward(t *testing.T, forward func(*nn.Var) *nn.Var, x *tensor.Tensor, export func(b *onnx.Builder, x string) string, outDims ...int) (diff, scale float64) {
	t.Helper()
	b := onnx.NewBuilder("export")
	b.Input("x", x.Shape...)
	y := export(b, "x")
	b.Output(y, outDims...)
	out := runGraph(t, b, x)
	var want *nn.Var
	nn.NoGrad(func() { want = forward(nn.NewVar(x)) })
	for _, v := range want.Value.Data {
		scale = max(scale, math.Abs(float64(v)))
	}
	return maxDiff(out[y], want.Value), scale
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
		offDefaults(m.Params(), m.Buffers())
		m.Train(false)
		d, _ := exportMatchesForward(t, m.Forward, randInput(9, 2, s.In, 8, 12), func(b *onnx.Builder, x string) string {
			return m.ExportONNX(b, x, "unet/")
		}, 2, s.Out, 8, 12)
		if d > 1e-5 {
			t.Errorf("%+v: max abs diff %g", s, d)
		}
		t.Logf("%+v: max abs diff %.3g", s, d)
	}
}
