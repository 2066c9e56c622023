package tflite

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// TestExportONNXMatchesRun writes the tiny quantised net (SAME/VALID
// convolutions, depthwise with a multiplier, fused ReLU6/ReLU, ADD,
// average pool) and the ReLU/MaxPool/Quantize model as ONNX graphs, at
// the nominal size and at a non-square one, runs them with onnx.Executor
// and compares every tapped tensor with Run.
func TestExportONNXMatchesRun(t *testing.T) {
	cases := []struct {
		file  []byte
		taps  []string
		sizes [][2]int
	}{
		{makeTiny(2).file, []string{"a0", "a1", "a2", "a3", "a4"}, [][2]int{{6, 6}, {11, 8}}},
		{reluPoolModel(), []string{"pool", "relu", "relu6", "out"}, [][2]int{{6, 6}, {9, 13}}},
	}
	r := rand.New(rand.NewPCG(7, 8))
	for ci, c := range cases {
		m, err := Parse(c.file)
		if err != nil {
			t.Fatal(err)
		}
		net, err := Compile(m)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, nm := range c.taps {
			i, err := net.TensorIndex(nm)
			if err != nil {
				t.Fatal(err)
			}
			idx = append(idx, i)
		}
		for _, sz := range c.sizes {
			x := tensor.New(1, net.InputChannels(), sz[0], sz[1])
			for i := range x.Data {
				x.Data[i] = float32(r.Float64()*4 - 2)
			}
			want, err := net.Run(x, idx)
			if err != nil {
				t.Fatal(err)
			}
			b := onnx.NewBuilder("tflite")
			b.Input("x", 1, net.InputChannels(), sz[0], sz[1])
			names, err := net.ExportONNX(b, "x", sz[0], sz[1], idx, "tfl/")
			if err != nil {
				t.Fatal(err)
			}
			e, err := onnx.NewExecutor(b.Model(), names)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Run(map[string]*tensor.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			for k, nm := range names {
				g, w := got[nm], want[k]
				if !tensor.SameShape(g.Shape, w.Shape) {
					t.Fatalf("case %d %v: %s shape %v, Run gives %v", ci, sz, c.taps[k], g.Shape, w.Shape)
				}
				for i := range w.Data {
					if math.Abs(float64(g.Data[i]-w.Data[i])) > 1e-5*(1+math.Abs(float64(w.Data[i]))) {
						t.Fatalf("case %d %v: %s[%d] = %g, Run gives %g", ci, sz, c.taps[k], i, g.Data[i], w.Data[i])
					}
				}
			}
		}
	}
}

// A tap behind a RESHAPE is refused by name.
func TestExportONNXRefusesLayoutOps(t *testing.T) {
	m, err := Parse(makeTiny(2).file)
	if err != nil {
		t.Fatal(err)
	}
	net, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	i, err := net.TensorIndex("a6")
	if err != nil {
		t.Fatal(err)
	}
	b := onnx.NewBuilder("tflite")
	_, err = net.ExportONNX(b, "x", 6, 6, []int{i}, "tfl/")
	if err == nil || !strings.Contains(err.Error(), "not exported") {
		t.Fatalf("err = %v, want a refusal of the operator", err)
	}
}
