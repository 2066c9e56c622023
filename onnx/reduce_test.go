package onnx

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// TestExecutorReductions checks ReduceSum (axes as an input, opset 13),
// ReduceMax and ReduceMin (axes as an attribute), over trailing and
// general axes and over all axes, and the maps Sqrt, Exp and Abs, against
// loops written from the definitions.
func TestExecutorReductions(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	x := randTensor(r, 2, 3, 4, 5)
	b := NewBuilder("reduce")
	b.Input("x", 2, 3, 4, 5)
	b.InitializerInt64("a1", []int{1}, []int64{1})
	b.Node("ReduceSum", "sum1", []string{"x", "a1"}, []string{"sum1"}, IntAttr("keepdims", 0))
	b.Node("ReduceMax", "max23", []string{"x"}, []string{"max23"}, IntsAttr("axes", 2, 3), IntAttr("keepdims", 1))
	b.Node("ReduceMin", "min02", []string{"x"}, []string{"min02"}, IntsAttr("axes", 0, -2), IntAttr("keepdims", 0))
	b.Node("ReduceMax", "maxall", []string{"x"}, []string{"maxall"}, IntAttr("keepdims", 0))
	b.Node("Abs", "abs", []string{"x"}, []string{"abs"})
	b.Node("Sqrt", "sqrt", []string{"abs"}, []string{"sqrt"})
	b.Node("Exp", "exp", []string{"x"}, []string{"exp"})
	b.Node("Log", "log", []string{"abs"}, []string{"log"})
	m := roundTrip(t, b.Model())
	names := []string{"sum1", "max23", "min02", "maxall", "abs", "sqrt", "exp", "log"}
	out := run1(t, m, names, map[string]*tensor.Tensor{"x": x})

	at := func(n, c, y, xx int) float32 { return x.Data[((n*3+c)*4+y)*5+xx] }
	sum1, max23, min02 := tensor.New(2, 4, 5), tensor.New(2, 3, 1, 1), tensor.New(3, 5)
	for i := range max23.Data {
		max23.Data[i] = float32(math.Inf(-1))
	}
	for i := range min02.Data {
		min02.Data[i] = float32(math.Inf(1))
	}
	hi := float32(math.Inf(-1))
	abs, sqrt, exp, log := tensor.New(x.Shape...), tensor.New(x.Shape...), tensor.New(x.Shape...), tensor.New(x.Shape...)
	for n := 0; n < 2; n++ {
		for c := 0; c < 3; c++ {
			for y := 0; y < 4; y++ {
				for xx := 0; xx < 5; xx++ {
					v := at(n, c, y, xx)
					sum1.Data[(n*4+y)*5+xx] += v
					max23.Data[n*3+c] = max(max23.Data[n*3+c], v)
					min02.Data[c*5+xx] = min(min02.Data[c*5+xx], v)
					hi = max(hi, v)
				}
			}
		}
	}
	for i, v := range x.Data {
		abs.Data[i] = float32(math.Abs(float64(v)))
		sqrt.Data[i] = float32(math.Sqrt(math.Abs(float64(v))))
		exp.Data[i] = float32(math.Exp(float64(v)))
		log.Data[i] = float32(math.Log(math.Abs(float64(v))))
	}
	checkClose(t, "sum1", out["sum1"], sum1)
	for name, want := range map[string]*tensor.Tensor{"max23": max23, "min02": min02, "maxall": tensor.From([]float32{hi}), "abs": abs, "sqrt": sqrt, "exp": exp, "log": log} {
		got := out[name]
		if !reflect.DeepEqual(got.Shape, want.Shape) && !(name == "maxall" && len(got.Shape) == 0) {
			t.Fatalf("%s: shape %v, want %v", name, got.Shape, want.Shape)
		}
		for i := range want.Data {
			if got.Data[i] != want.Data[i] {
				t.Fatalf("%s[%d] = %g, want %g", name, i, got.Data[i], want.Data[i])
			}
		}
	}

	// A NaN in the reduced values is the result, never skipped.
	x.Data[7] = float32(math.NaN())
	e, err := NewExecutor(m, []string{"max23", "maxall"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = e.Run(map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if v := out["maxall"].Data[0]; v == v {
		t.Fatalf("ReduceMax over a NaN gave %g", v)
	}
	if v := out["max23"].Data[0]; v == v {
		t.Fatalf("ReduceMax over a NaN (first plane) gave %g", v)
	}
}

// TestMetadataRoundTrip checks that metadata_props survive encoding in
// order.
func TestMetadataRoundTrip(t *testing.T) {
	m := smallModel()
	m.Metadata = []MetadataProp{{"vigil.preprocess", `{"size":256}`}, {"a", ""}, {"b", "ü"}}
	got := roundTrip(t, m)
	if !reflect.DeepEqual(got.Metadata, m.Metadata) {
		t.Fatalf("metadata %v, want %v", got.Metadata, m.Metadata)
	}
}
