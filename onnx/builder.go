package onnx

import (
	"fmt"

	"github.com/vigil-ad/vigil/tensor"
)

// Builder assembles a Model in code, for exporting Vigil's networks:
//
//	b := onnx.NewBuilder("resnet18")
//	b.Input("input", 1, 3, 224, 224)
//	b.Initializer("conv1.weight", []int{64, 3, 7, 7}, w)
//	b.Node("Conv", "/conv1/Conv", []string{"input", "conv1.weight"}, []string{"x"}, onnx.IntsAttr("strides", 2, 2))
//	b.Output("x", 1, 64, 112, 112)
//	m := b.Model()
//
// Models use opset 13 and IR version 8; FLOAT initializers are stored as
// raw_data when encoded.
type Builder struct {
	g *Graph
}

// Opset and IR version written by Builder.
const (
	BuilderOpset     = 13
	BuilderIRVersion = 8
)

// NewBuilder starts an empty graph called name.
func NewBuilder(name string) *Builder {
	return &Builder{g: &Graph{Name: name}}
}

func dims64(dims []int) []int64 {
	d := make([]int64, len(dims))
	for i, v := range dims {
		d[i] = int64(v)
	}
	return d
}

// tensorDims is dims64 with nil for scalars, as Decode returns them.
func tensorDims(dims []int) []int64 {
	if len(dims) == 0 {
		return nil
	}
	return dims64(dims)
}

// Input declares a FLOAT graph input; a negative dim is dynamic.
func (b *Builder) Input(name string, dims ...int) {
	b.g.Inputs = append(b.g.Inputs, ValueInfo{Name: name, Shape: dims64(dims), ElemType: DataTypeFloat})
}

// Output declares a FLOAT graph output; a negative dim is dynamic.
func (b *Builder) Output(name string, dims ...int) {
	b.g.Outputs = append(b.g.Outputs, ValueInfo{Name: name, Shape: dims64(dims), ElemType: DataTypeFloat})
}

// Initializer adds a FLOAT weight tensor. data is copied; it panics if
// len(data) does not match dims (a programming error in the exporter).
func (b *Builder) Initializer(name string, dims []int, data []float32) {
	t := &Tensor{Name: name, Dims: tensorDims(dims), Float: append([]float32{}, data...), DataType: DataTypeFloat}
	if int64(len(data)) != t.Numel() {
		panic(fmt.Sprintf("onnx.Builder.Initializer %q: %d values for dims %v", name, len(data), dims))
	}
	b.g.Initializers = append(b.g.Initializers, t)
}

// InitializerInt64 adds an INT64 tensor (e.g. a Reshape target shape).
func (b *Builder) InitializerInt64(name string, dims []int, data []int64) {
	t := &Tensor{Name: name, Dims: tensorDims(dims), Int64: append([]int64{}, data...), DataType: DataTypeInt64}
	if int64(len(data)) != t.Numel() {
		panic(fmt.Sprintf("onnx.Builder.InitializerInt64 %q: %d values for dims %v", name, len(data), dims))
	}
	b.g.Initializers = append(b.g.Initializers, t)
}

// Tensor adds a copy of t (any element type the package holds) as an
// initializer called name, e.g. a weight copied from another model.
func (b *Builder) Tensor(name string, t *Tensor) {
	c := *t
	c.Name = name
	c.Dims = append([]int64(nil), t.Dims...)
	c.Float = append([]float32(nil), t.Float...)
	c.Int64 = append([]int64(nil), t.Int64...)
	if t.Float == nil {
		c.Float = nil
	}
	if t.Int64 == nil {
		c.Int64 = nil
	}
	b.g.Initializers = append(b.g.Initializers, &c)
}

// Node appends an operator node (default domain) and returns it.
func (b *Builder) Node(op, name string, inputs, outputs []string, attrs ...Attr) *Node {
	n := &Node{
		Name:    name,
		OpType:  op,
		Inputs:  append([]string(nil), inputs...),
		Outputs: append([]string(nil), outputs...),
		Attrs:   append([]Attr(nil), attrs...),
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return n
}

// Model returns the assembled model (opset 13, IR version 8). The Builder
// must not be used afterwards.
func (b *Builder) Model() *Model {
	return &Model{IRVersion: BuilderIRVersion, OpsetVersion: BuilderOpset, ProducerName: "vigil", Graph: b.g}
}

// RunEncoded writes m in the ONNX wire format, reads it back and runs it
// with Vigil's executor: what a consumer of an exported file sees, so
// exporters test the bytes rather than the in-memory graph.
func RunEncoded(m *Model, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	enc, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("onnx: encode: %w", err)
	}
	dm, err := Decode(enc)
	if err != nil {
		return nil, fmt.Errorf("onnx: decode: %w", err)
	}
	e, err := NewExecutor(dm, nil)
	if err != nil {
		return nil, err
	}
	return e.Run(inputs)
}
