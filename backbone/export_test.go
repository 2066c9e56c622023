package backbone

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// checkGraphExport writes ex's graph for an h×w input, runs it with
// onnx.Executor and compares every tap with Features.
func checkGraphExport(t *testing.T, ex GraphExporter, h, w int) {
	t.Helper()
	r := rand.New(rand.NewPCG(9, 10))
	x := tensor.New(1, 3, h, w)
	for i := range x.Data {
		x.Data[i] = r.Float32()
	}
	want, err := ex.Features(x)
	if err != nil {
		t.Fatal(err)
	}
	b := onnx.NewBuilder("backbone")
	b.Input("image", 1, 3, h, w)
	names, err := ex.ExportONNX(b, "image", "bb/", h, w)
	if err != nil {
		t.Fatal(err)
	}
	e, err := onnx.NewExecutor(b.Model(), names)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Run(map[string]*tensor.Tensor{"image": x})
	if err != nil {
		t.Fatal(err)
	}
	for k, nm := range names {
		g, wt := got[nm], want[k]
		if !tensor.SameShape(g.Shape, wt.Shape) {
			t.Fatalf("%s tap %d: shape %v, Features gives %v", ex.Name(), k, g.Shape, wt.Shape)
		}
		for i := range wt.Data {
			if math.Abs(float64(g.Data[i]-wt.Data[i])) > 1e-4*(1+math.Abs(float64(wt.Data[i]))) {
				t.Fatalf("%s tap %d [%d] = %g, Features gives %g", ex.Name(), k, i, g.Data[i], wt.Data[i])
			}
		}
	}
}

// TestGraphExportMatchesFeatures covers the random CNN, an ONNX file with
// ImageNet normalisation, and the same file with caffe's BGR
// normalisation (the resnet50 path), whose channel swap the exported 1×1
// normalisation must reproduce.
func TestGraphExportMatchesFeatures(t *testing.T) {
	checkGraphExport(t, NewRandom(3), 32, 48)
	p := writeStrideModel(t, 1)
	e, err := NewONNX(p, []string{"s16", "s4relu", "s8"})
	if err != nil {
		t.Fatal(err)
	}
	checkGraphExport(t, e, 32, 48)
	m, err := onnx.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	caffe, err := newONNXModel(m, p, []string{"s4", "s8"}, normaliseCaffe)
	if err != nil {
		t.Fatal(err)
	}
	checkGraphExport(t, caffe, 64, 32)
	m.OpsetVersion = 11
	old, err := newONNXModel(m, p, []string{"s4"}, normaliseImageNet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExportONNX(onnx.NewBuilder("x"), "image", "bb/", 32, 32); err == nil {
		t.Fatal("opset 11 source exported")
	}
}
