package backbone

import (
	"fmt"
	"slices"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// GraphExporter is an Extractor whose network can be written into an ONNX
// graph, so that a detector built on it can be exported whole (vigil
// export).
type GraphExporter interface {
	Extractor
	// ExportONNX adds to b the nodes and initializers that compute the taps
	// (in Taps order) from the graph tensor input, shape [1,3,h,w] with RGB
	// values in [0,1]: the extractor's input normalisation is part of the
	// graph. Tensor names it creates start with prefix. It returns the tap
	// tensors' names.
	ExportONNX(b *onnx.Builder, input, prefix string, h, w int) ([]string, error)
}

var (
	_ GraphExporter = (*Random)(nil)
	_ GraphExporter = (*TFLite)(nil)
	_ GraphExporter = (*ONNX)(nil)
)

// exportNorm writes an extractor's input normalisation, an affine map of
// the three channels, as a 1×1 convolution from input to prefix+"norm".
// The map is measured by running norm on the origin and the three unit
// pixels, so it covers channel reordering (caffe's BGR) as well as scaling.
func exportNorm(b *onnx.Builder, input, prefix string, norm func(*tensor.Tensor) *tensor.Tensor) string {
	probe := tensor.New(4, 3, 1, 1)
	for c := 0; c < 3; c++ {
		probe.Data[(c+1)*3+c] = 1
	}
	y := norm(probe)
	wt, bias := make([]float32, 9), make([]float32, 3)
	for o := 0; o < 3; o++ {
		bias[o] = y.Data[o]
		for c := 0; c < 3; c++ {
			wt[o*3+c] = y.Data[(c+1)*3+o] - bias[o]
		}
	}
	out := prefix + "norm"
	b.Initializer(out+"_w", []int{3, 3, 1, 1}, wt)
	b.Initializer(out+"_b", []int{3}, bias)
	b.Node("Conv", out, []string{input, out + "_w", out + "_b"}, []string{out}, onnx.IntsAttr("kernel_shape", 1, 1))
	return out
}

// ExportONNX writes the four strided convolutions (GraphExporter).
func (m *Random) ExportONNX(b *onnx.Builder, input, prefix string, h, w int) ([]string, error) {
	x := exportNorm(b, input, prefix, func(t *tensor.Tensor) *tensor.Tensor {
		y := t.Clone()
		for i := range y.Data {
			y.Data[i] = 2*y.Data[i] - 1
		}
		return y
	})
	var taps []string
	for i := range m.ws {
		out := fmt.Sprintf("%sconv%d", prefix, i+1)
		b.Initializer(out+"_w", m.ws[i].Shape, m.ws[i].Data)
		b.Initializer(out+"_b", m.bs[i].Shape, m.bs[i].Data)
		b.Node("Conv", out+"_conv", []string{x, out + "_w", out + "_b"}, []string{out + "_pre"},
			onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("strides", 2, 2), onnx.IntsAttr("pads", 1, 1, 1, 1))
		b.Node("Relu", out+"_relu", []string{out + "_pre"}, []string{out})
		x = out
		if i >= 1 {
			taps = append(taps, out)
		}
	}
	return taps, nil
}

// ExportONNX writes the float network up to the taps (GraphExporter).
func (e *TFLite) ExportONNX(b *onnx.Builder, input, prefix string, h, w int) ([]string, error) {
	x := exportNorm(b, input, prefix, func(t *tensor.Tensor) *tensor.Tensor {
		y, _ := e.normalise(t)
		return y
	})
	names, err := e.net.ExportONNX(b, x, h, w, e.idx, prefix)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return names, nil
}

// ExportONNX copies the source graph's nodes and initializers, every name
// prefixed, with the normalisation in front (GraphExporter). The copy is
// the whole graph; an executor or ONNX Runtime prunes what the taps do not
// need. The exported file declares opset 13, so sources of opsets 13 to 17
// (the same CNN operators) are accepted and others refused.
func (e *ONNX) ExportONNX(b *onnx.Builder, input, prefix string, h, w int) ([]string, error) {
	if v := e.model.OpsetVersion; v < 13 || v > 17 {
		return nil, fmt.Errorf("%s: opset %d is not exported (13 to 17 are; re-export the backbone at one of them)", e.name, v)
	}
	g := e.model.Graph
	x := exportNorm(b, input, prefix, e.norm)
	rename := func(s string) string {
		switch {
		case s == "":
			return ""
		case s == e.input:
			return x
		}
		return prefix + s
	}
	for _, t := range g.Initializers {
		if t.Float == nil && t.Int64 == nil && t.Numel() > 0 {
			return nil, fmt.Errorf("%s: initializer %q of type %v is not exported", e.name, t.Name, t.DataType)
		}
		b.Tensor(rename(t.Name), t)
	}
	for _, n := range g.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			return nil, fmt.Errorf("%s: node %q of domain %q is not exported", e.name, n.Name, n.Domain)
		}
		ins, outs := slices.Clone(n.Inputs), slices.Clone(n.Outputs)
		for i := range ins {
			ins[i] = rename(ins[i])
		}
		for i := range outs {
			outs[i] = rename(outs[i])
		}
		b.Node(n.OpType, rename(n.Name), ins, outs, n.Attrs...)
	}
	taps := make([]string, len(e.layers))
	for i, l := range e.layers {
		taps[i] = rename(l)
	}
	return taps, nil
}
