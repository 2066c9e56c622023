package tflite

import (
	"fmt"

	"github.com/vigil-ad/vigil/onnx"
)

// ExportONNX adds to b the float network that computes the tensors outs
// (indices into the subgraph) from the graph tensor input, an NCHW
// [1,C,h,w] batch already normalised as the model expects. Only the
// operators the outputs depend on are written; SAME padding becomes the
// explicit pads that Run uses at this input size, fused activations become
// Relu or Clip nodes. Tensor names it creates start with prefix; it
// returns the names of outs (NCHW for 4-D tensors). Operators that
// reorder layouts (RESHAPE, FULLY_CONNECTED, SOFTMAX) are refused: feature
// taps never need them.
func (n *Net) ExportONNX(b *onnx.Builder, input string, h, w int, outs []int, prefix string) ([]string, error) {
	for _, t := range outs {
		if t < 0 || t >= len(n.tensors) {
			return nil, fmt.Errorf("tensor index %d out of range", t)
		}
	}
	needed := n.needed(outs)
	name := func(t int) string {
		if t == n.input {
			return input
		}
		return fmt.Sprintf("%st%d", prefix, t)
	}
	// Spatial size of every computed activation, to resolve SAME padding.
	size := map[int][2]int{n.input: {h, w}}
	chans := map[int]int{n.input: n.inC}
	clip := map[[2]float32]string{}
	clipBounds := func(lo, hi float32) (string, string) {
		key := [2]float32{lo, hi}
		if _, ok := clip[key]; !ok {
			clip[key] = fmt.Sprintf("%sclip%d", prefix, len(clip))
			b.Initializer(clip[key]+"_lo", nil, []float32{lo})
			b.Initializer(clip[key]+"_hi", nil, []float32{hi})
		}
		return clip[key] + "_lo", clip[key] + "_hi"
	}
	// act writes the fused activation of a node whose raw result is raw.
	act := func(nd *node, raw string) {
		out := name(int(nd.out))
		switch nd.act {
		case ActReLU:
			b.Node("Relu", out+"_relu", []string{raw}, []string{out})
		case ActReLU6, ActReLUN1To1:
			lo, hi := float32(0), float32(6)
			if nd.act == ActReLUN1To1 {
				lo, hi = -1, 1
			}
			l, u := clipBounds(lo, hi)
			b.Node("Clip", out+"_clip", []string{raw, l, u}, []string{out})
		default:
			b.Node("Identity", out+"_id", []string{raw}, []string{out})
		}
	}
	for i := range n.nodes {
		if !needed[i] {
			continue
		}
		nd := &n.nodes[i]
		in := int(nd.in[0])
		if n.consts[in] != nil {
			return nil, fmt.Errorf("operator %d (%v): constant data input is not exported", nd.index, nd.op)
		}
		hw, ok := size[in]
		if !ok {
			return nil, fmt.Errorf("operator %d (%v): input tensor %d is not a feature map", nd.index, nd.op, in)
		}
		out := int(nd.out)
		raw := name(out) + "_raw"
		switch nd.op {
		case OpConv2D, OpDepthwiseConv2D:
			oh, pt, pb := samePad(hw[0], nd.kh, nd.sh, nd.dh, nd.pad)
			ow, pl, pr := samePad(hw[1], nd.kw, nd.sw, nd.dw, nd.pad)
			if oh < 1 || ow < 1 {
				return nil, fmt.Errorf("operator %d (%v): input %dx%d smaller than the %dx%d filter", nd.index, nd.op, hw[0], hw[1], nd.kh, nd.kw)
			}
			group := 1
			if nd.op == OpDepthwiseConv2D {
				group = chans[in]
			}
			wn := name(out) + "_w"
			b.Initializer(wn, nd.w.Shape, nd.w.Data)
			ins := []string{name(in), wn}
			if nd.b != nil {
				b.Initializer(name(out)+"_b", nd.b.Shape, nd.b.Data)
				ins = append(ins, name(out)+"_b")
			}
			b.Node("Conv", name(out)+"_conv", ins, []string{raw},
				onnx.IntsAttr("kernel_shape", int64(nd.kh), int64(nd.kw)),
				onnx.IntsAttr("strides", int64(nd.sh), int64(nd.sw)),
				onnx.IntsAttr("dilations", int64(nd.dh), int64(nd.dw)),
				onnx.IntsAttr("pads", int64(pt), int64(pl), int64(pb), int64(pr)),
				onnx.IntAttr("group", int64(group)))
			size[out], chans[out] = [2]int{oh, ow}, nd.w.Shape[0]
		case OpAveragePool2D, OpMaxPool2D:
			oh, pt, pb := samePad(hw[0], nd.kh, nd.sh, 1, nd.pad)
			ow, pl, pr := samePad(hw[1], nd.kw, nd.sw, 1, nd.pad)
			if oh < 1 || ow < 1 {
				return nil, fmt.Errorf("operator %d (%v): input %dx%d smaller than the %dx%d window", nd.index, nd.op, hw[0], hw[1], nd.kh, nd.kw)
			}
			op := "AveragePool" // padding excluded from the mean, as Run's ops.Pool2D
			if nd.op == OpMaxPool2D {
				op = "MaxPool"
			}
			b.Node(op, name(out)+"_pool", []string{name(in)}, []string{raw},
				onnx.IntsAttr("kernel_shape", int64(nd.kh), int64(nd.kw)),
				onnx.IntsAttr("strides", int64(nd.sh), int64(nd.sw)),
				onnx.IntsAttr("pads", int64(pt), int64(pl), int64(pb), int64(pr)))
			size[out], chans[out] = [2]int{oh, ow}, chans[in]
		case OpAdd:
			other := int(nd.in[1])
			if n.consts[other] != nil || size[other] != hw || chans[other] != chans[in] {
				return nil, fmt.Errorf("operator %d (ADD): operands are not two feature maps of one shape", nd.index)
			}
			b.Node("Add", name(out)+"_add", []string{name(in), name(other)}, []string{raw})
			size[out], chans[out] = hw, chans[in]
		case OpReLU, OpReLU6, OpQuantize, OpDequantize:
			raw = name(in)
			size[out], chans[out] = hw, chans[in]
		default:
			return nil, fmt.Errorf("operator %d (%v) is not exported (feature taps do not need it)", nd.index, nd.op)
		}
		act(nd, raw)
	}
	names := make([]string, len(outs))
	for k, o := range outs {
		if _, ok := size[o]; !ok {
			return nil, fmt.Errorf("tensor %d %q is not a computed feature map", o, n.tensors[o].Name)
		}
		names[k] = name(o)
	}
	return names, nil
}
