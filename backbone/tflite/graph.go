package tflite

import (
	"fmt"
	"strings"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// Net is the main subgraph of a TFLite model compiled to float32 kernels
// of package ops. Weights are dequantised once (see Dequantize) and
// converted from TFLite's NHWC filter layouts to OIHW; activations flow in
// NCHW. Spatial sizes are not fixed: convolutions and pools recompute
// their output size and SAME padding from the actual input, so the same
// Net runs at any input resolution (a classifier head that reshapes to a
// fixed length still needs the training size).
//
// Supported operators: CONV_2D, DEPTHWISE_CONV_2D, ADD (same shapes),
// AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE, SOFTMAX, FULLY_CONNECTED, RELU,
// RELU6, QUANTIZE and DEQUANTIZE (identities in float); fused NONE, RELU,
// RELU6 and RELU_N1_TO_1 activations. Anything else is refused by Compile.
//
// A Net is immutable after Compile and safe for concurrent Run calls.
type Net struct {
	tensors  []Tensor
	consts   []*tensor.Tensor // dequantised constants, file layout; nil for activations
	nodes    []node
	producer []int // node index producing tensor i, -1 for inputs/consts
	input    int
	outputs  []int
	inC      int // channels of the model input (NHWC dim 3)
}

type node struct {
	op      BuiltinOp
	index   int     // operator index in the subgraph, for error messages
	in      []int32 // data inputs (weights, biases and shapes are folded in)
	out     int32
	act     Activation
	pad     Padding
	sh, sw  int
	dh, dw  int
	kh, kw  int
	w, b    *tensor.Tensor // converted weights (OIHW / [O,I]) and bias
	depth   int            // depthwise: depth multiplier (0 = infer)
	beta    float32
	reshape []int // RESHAPE target from options (nil: from input 1)
}

// Compile builds a float32 Net from the model's first subgraph.
func Compile(m *Model) (*Net, error) {
	if len(m.Subgraphs) == 0 {
		return nil, fmt.Errorf("model has no subgraphs")
	}
	sg := &m.Subgraphs[0]
	if len(sg.Inputs) != 1 {
		return nil, fmt.Errorf("model has %d inputs, want 1 image input", len(sg.Inputs))
	}
	n := &Net{
		tensors:  sg.Tensors,
		consts:   make([]*tensor.Tensor, len(sg.Tensors)),
		producer: make([]int, len(sg.Tensors)),
		input:    int(sg.Inputs[0]),
	}
	for _, o := range sg.Outputs {
		n.outputs = append(n.outputs, int(o))
	}
	in := sg.Tensors[n.input]
	if len(in.Shape) != 4 {
		return nil, fmt.Errorf("input %q has shape %v, want NHWC", in.Name, in.Shape)
	}
	n.inC = int(in.Shape[3])
	if n.inC < 1 {
		return nil, fmt.Errorf("input %q has %d channels", in.Name, n.inC)
	}
	for i := range n.producer {
		n.producer[i] = -1
	}
	for i, t := range sg.Tensors {
		data := m.Buffers[t.Buffer]
		if len(data) == 0 {
			continue
		}
		v, err := Dequantize(data, t.Type, t.Shape, t.Quant)
		if err != nil {
			return nil, fmt.Errorf("tensor %d %q: %w", i, t.Name, err)
		}
		n.consts[i] = tensor.From(v, intShape(t.Shape)...)
	}
	weightOnly := make([]bool, len(sg.Tensors)) // constants folded into nodes
	for i, op := range sg.Operators {
		code := m.OperatorCodes[op.OpcodeIndex].Builtin
		if code == OpDequantize && len(op.Inputs) == 1 && len(op.Outputs) == 1 && op.Inputs[0] >= 0 &&
			n.consts[op.Inputs[0]] != nil && n.consts[op.Outputs[0]] == nil && n.producer[op.Outputs[0]] < 0 {
			// A constant (e.g. float16 weights) dequantised at load time.
			n.consts[op.Outputs[0]] = n.consts[op.Inputs[0]]
			continue
		}
		nd, err := n.compileOp(i, code, op, weightOnly)
		if err != nil {
			return nil, fmt.Errorf("operator %d (%v): %w", i, code, err)
		}
		if n.producer[nd.out] >= 0 || int(nd.out) == n.input || n.consts[nd.out] != nil {
			return nil, fmt.Errorf("operator %d (%v): output tensor %d is written twice", i, code, nd.out)
		}
		n.producer[nd.out] = len(n.nodes)
		n.nodes = append(n.nodes, nd)
	}
	// Constants only used as converted weights need no second copy.
	for _, nd := range n.nodes {
		for _, t := range nd.in {
			weightOnly[t] = false
		}
	}
	for _, o := range n.outputs {
		weightOnly[o] = false
	}
	for i, w := range weightOnly {
		if w {
			n.consts[i] = nil
		}
	}
	for _, o := range n.outputs {
		if n.producer[o] < 0 && o != n.input && n.consts[o] == nil {
			return nil, fmt.Errorf("output tensor %d %q is never computed", o, n.tensors[o].Name)
		}
	}
	return n, nil
}

func intShape(s []int32) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}

func checkAct(a Activation) error {
	switch a {
	case ActNone, ActReLU, ActReLU6, ActReLUN1To1:
		return nil
	}
	return fmt.Errorf("fused activation %d not supported", a)
}

// constArg returns the constant tensor for operator input k.
func (n *Net) constArg(op Operator, k int, what string) (*tensor.Tensor, int, error) {
	if k >= len(op.Inputs) || op.Inputs[k] < 0 {
		return nil, -1, fmt.Errorf("missing %s input", what)
	}
	t := int(op.Inputs[k])
	if n.consts[t] == nil {
		return nil, t, fmt.Errorf("%s %q is not a constant", what, n.tensors[t].Name)
	}
	return n.consts[t], t, nil
}

func (n *Net) compileOp(idx int, code BuiltinOp, op Operator, weightOnly []bool) (node, error) {
	nd := node{op: code, index: idx, in: op.Inputs[:min(len(op.Inputs), 1)], sh: 1, sw: 1, dh: 1, dw: 1}
	if len(op.Outputs) != 1 {
		return nd, fmt.Errorf("%d outputs, want 1", len(op.Outputs))
	}
	nd.out = op.Outputs[0]
	if len(op.Inputs) == 0 || op.Inputs[0] < 0 {
		return nd, fmt.Errorf("missing data input")
	}
	need := func(ok bool) error {
		if !ok {
			return fmt.Errorf("builtin options missing or of the wrong type (union type %d)", op.OptionsType)
		}
		return nil
	}
	switch code {
	case OpConv2D, OpDepthwiseConv2D:
		if code == OpConv2D {
			o, ok := op.Options.(*Conv2DOptions)
			if err := need(ok); err != nil {
				return nd, err
			}
			nd.pad, nd.sh, nd.sw, nd.dh, nd.dw, nd.act = o.Padding, int(o.StrideH), int(o.StrideW), int(o.DilationH), int(o.DilationW), o.Activation
		} else {
			o, ok := op.Options.(*DepthwiseConv2DOptions)
			if err := need(ok); err != nil {
				return nd, err
			}
			nd.pad, nd.sh, nd.sw, nd.dh, nd.dw, nd.act = o.Padding, int(o.StrideH), int(o.StrideW), int(o.DilationH), int(o.DilationW), o.Activation
			nd.depth = int(o.DepthMultiplier)
			if nd.depth < 0 {
				return nd, fmt.Errorf("depth_multiplier %d", nd.depth)
			}
		}
		if nd.sh < 1 || nd.sw < 1 || nd.dh < 1 || nd.dw < 1 {
			return nd, fmt.Errorf("stride %dx%d / dilation %dx%d must be >= 1", nd.sh, nd.sw, nd.dh, nd.dw)
		}
		if nd.pad != PaddingSame && nd.pad != PaddingValid {
			return nd, fmt.Errorf("padding %d not supported", nd.pad)
		}
		w, wi, err := n.constArg(op, 1, "filter")
		if err != nil {
			return nd, err
		}
		if len(w.Shape) != 4 || w.Len() == 0 {
			return nd, fmt.Errorf("filter %q has shape %v, want 4-D", n.tensors[wi].Name, w.Shape)
		}
		weightOnly[wi] = true
		nd.kh, nd.kw = w.Shape[1], w.Shape[2]
		if code == OpConv2D {
			nd.w = ohwiToOIHW(w)
		} else {
			if w.Shape[0] != 1 {
				return nd, fmt.Errorf("depthwise filter %q has shape %v, want [1,KH,KW,C*M]", n.tensors[wi].Name, w.Shape)
			}
			nd.w = depthwiseToOIHW(w)
		}
		if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
			b, bi, err := n.constArg(op, 2, "bias")
			if err != nil {
				return nd, err
			}
			if b.Len() != nd.w.Shape[0] {
				return nd, fmt.Errorf("bias %q has %d values for %d output channels", n.tensors[bi].Name, b.Len(), nd.w.Shape[0])
			}
			weightOnly[bi] = true
			nd.b = tensor.From(b.Data, b.Len())
		}
	case OpAveragePool2D, OpMaxPool2D:
		o, ok := op.Options.(*Pool2DOptions)
		if err := need(ok); err != nil {
			return nd, err
		}
		nd.pad, nd.sh, nd.sw, nd.kh, nd.kw, nd.act = o.Padding, int(o.StrideH), int(o.StrideW), int(o.FilterHeight), int(o.FilterWidth), o.Activation
		if nd.sh < 1 || nd.sw < 1 || nd.kh < 1 || nd.kw < 1 {
			return nd, fmt.Errorf("pool filter %dx%d stride %dx%d must be >= 1", nd.kh, nd.kw, nd.sh, nd.sw)
		}
		if nd.pad != PaddingSame && nd.pad != PaddingValid {
			return nd, fmt.Errorf("padding %d not supported", nd.pad)
		}
	case OpAdd:
		if o, ok := op.Options.(*AddOptions); ok {
			nd.act = o.Activation
		}
		if len(op.Inputs) != 2 || op.Inputs[1] < 0 {
			return nd, fmt.Errorf("ADD needs 2 inputs")
		}
		nd.in = op.Inputs
	case OpReshape:
		if o, ok := op.Options.(*ReshapeOptions); ok && len(o.NewShape) > 0 {
			nd.reshape = intShape(o.NewShape)
		} else {
			s, si, err := n.constArg(op, 1, "shape")
			if err != nil {
				return nd, err
			}
			if n.tensors[si].Type != Int32 {
				return nd, fmt.Errorf("shape tensor %q is %v, want INT32", n.tensors[si].Name, n.tensors[si].Type)
			}
			for _, v := range s.Data {
				nd.reshape = append(nd.reshape, int(v))
			}
		}
		if nd.reshape == nil {
			nd.reshape = []int{} // scalar
		}
	case OpSoftmax:
		nd.beta = 1
		if o, ok := op.Options.(*SoftmaxOptions); ok {
			nd.beta = o.Beta
		}
	case OpFullyConnected:
		if o, ok := op.Options.(*FullyConnectedOptions); ok {
			nd.act = o.Activation
		}
		w, wi, err := n.constArg(op, 1, "weights")
		if err != nil {
			return nd, err
		}
		if len(w.Shape) != 2 || w.Len() == 0 {
			return nd, fmt.Errorf("weights %q have shape %v, want [O,I]", n.tensors[wi].Name, w.Shape)
		}
		weightOnly[wi] = true
		nd.w = w
		if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
			b, bi, err := n.constArg(op, 2, "bias")
			if err != nil {
				return nd, err
			}
			if b.Len() != w.Shape[0] {
				return nd, fmt.Errorf("bias %q has %d values for %d outputs", n.tensors[bi].Name, b.Len(), w.Shape[0])
			}
			weightOnly[bi] = true
			nd.b = tensor.From(b.Data, b.Len())
		}
	case OpReLU:
		nd.act = ActReLU
	case OpReLU6:
		nd.act = ActReLU6
	case OpQuantize, OpDequantize:
	default:
		return nd, fmt.Errorf("operator not supported by the float importer")
	}
	return nd, checkAct(nd.act)
}

// ohwiToOIHW converts a TFLite conv filter [O,KH,KW,I] to [O,I,KH,KW].
func ohwiToOIHW(w *tensor.Tensor) *tensor.Tensor {
	o, kh, kw, ci := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	out := tensor.New(o, ci, kh, kw)
	for a := range o {
		for y := range kh {
			for x := range kw {
				src := w.Data[((a*kh+y)*kw+x)*ci:]
				for c := range ci {
					out.Data[((a*ci+c)*kh+y)*kw+x] = src[c]
				}
			}
		}
	}
	return out
}

// depthwiseToOIHW converts a depthwise filter [1,KH,KW,C*M] to
// [C*M,1,KH,KW]; output channel c*M+m reads input channel c, which is
// exactly grouped convolution with C groups.
func depthwiseToOIHW(w *tensor.Tensor) *tensor.Tensor {
	kh, kw, cm := w.Shape[1], w.Shape[2], w.Shape[3]
	out := tensor.New(cm, 1, kh, kw)
	for y := range kh {
		for x := range kw {
			src := w.Data[(y*kw+x)*cm:]
			for c := range cm {
				out.Data[(c*kh+y)*kw+x] = src[c]
			}
		}
	}
	return out
}

// samePad returns TFLite's output size and padding for one spatial axis.
// SAME: out = ceil(in/stride), pad_total = max((out-1)*stride + keff - in, 0)
// split with the smaller half first (top/left). VALID: no padding.
func samePad(in, k, stride, dil int, p Padding) (out, before, after int) {
	keff := (k-1)*dil + 1
	if p == PaddingValid {
		if in < keff {
			return 0, 0, 0
		}
		return (in-keff)/stride + 1, 0, 0
	}
	out = (in + stride - 1) / stride
	total := max((out-1)*stride+keff-in, 0)
	return out, total / 2, total - total/2
}

// InputIndex is the tensor index of the model input.
func (n *Net) InputIndex() int { return n.input }

// OutputIndices are the tensor indices of the model outputs.
func (n *Net) OutputIndices() []int { return append([]int(nil), n.outputs...) }

// InputChannels is the channel count the model input expects.
func (n *Net) InputChannels() int { return n.inC }

// TensorName returns the name of tensor i.
func (n *Net) TensorName(i int) string { return n.tensors[i].Name }

// TensorShape returns tensor i's shape as stored in the file (NHWC for
// 4-D tensors, at the model's nominal input size).
func (n *Net) TensorShape(i int) []int { return intShape(n.tensors[i].Shape) }

// ProducerOrder returns the position, in execution order, of the operator
// that computes tensor i, or -1 for inputs and constants.
func (n *Net) ProducerOrder(i int) int { return n.producer[i] }

// NumTensors is the number of tensors in the subgraph.
func (n *Net) NumTensors() int { return len(n.tensors) }

// TensorIndex finds a tensor by name. Converters often fuse several names
// into one joined by ';' (e.g. "A/Relu6;A/add_fold;..."), so name also
// matches the first ';'-separated component.
func (n *Net) TensorIndex(name string) (int, error) {
	for i, t := range n.tensors {
		if t.Name == name {
			return i, nil
		}
	}
	for i, t := range n.tensors {
		if first, _, ok := strings.Cut(t.Name, ";"); ok && first == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("no tensor named %q", name)
}

// Run executes the graph on x (N×C×H×W, already normalised to the value
// range the model expects) and returns the tensors with the given indices:
// 4-D tensors in NCHW, others in their TFLite layout. Only operators the
// requested tensors depend on are executed.
func (n *Net) Run(x *tensor.Tensor, outputs []int) (res []*tensor.Tensor, err error) {
	if len(x.Shape) != 4 || x.Shape[1] != n.inC || x.Shape[0] < 1 || x.Shape[2] < 1 || x.Shape[3] < 1 {
		return nil, fmt.Errorf("input shape %v, want N×%d×H×W", x.Shape, n.inC)
	}
	if len(x.Data) != tensor.Numel(x.Shape) {
		return nil, fmt.Errorf("input has %d values for shape %v", len(x.Data), x.Shape)
	}
	for _, o := range outputs {
		if o < 0 || o >= len(n.tensors) {
			return nil, fmt.Errorf("tensor index %d out of range", o)
		}
	}
	// Which nodes are needed, and the last node reading each tensor (so
	// intermediate activations are released early).
	needed := n.needed(outputs)
	lastUse := make([]int, len(n.tensors))
	for i := range lastUse {
		lastUse[i] = -1
	}
	for i, nd := range n.nodes {
		if needed[i] {
			for _, in := range nd.in {
				if in >= 0 {
					lastUse[in] = i
				}
			}
		}
	}
	// pooled marks activations whose buffers came from the tensor pool
	// and may go back to it after their last use.
	pooled := make([]bool, len(n.tensors))
	keep := make([]bool, len(n.tensors))
	for _, o := range outputs {
		keep[o] = true
	}
	vals := make([]*tensor.Tensor, len(n.tensors))
	vals[n.input] = x
	// The kernels panic on shape mismatches they consider programmer
	// errors; the checks below should prevent any, and a file that slips
	// past them still gets an error rather than a crash.
	cur := -1
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("operator %d (%v): %v", n.nodes[cur].index, n.nodes[cur].op, r)
		}
	}()
	for i := range n.nodes {
		if !needed[i] {
			continue
		}
		cur = i
		nd := &n.nodes[i]
		y, err := n.exec(nd, vals, pooled)
		if err != nil {
			return nil, fmt.Errorf("operator %d (%v): %w", nd.index, nd.op, err)
		}
		vals[nd.out] = y
		for _, in := range nd.in {
			if in >= 0 && lastUse[in] == i && !keep[in] && int(in) != n.input {
				if pooled[in] {
					tensor.Put(vals[in].Data)
					pooled[in] = false
				}
				vals[in] = nil
			}
		}
	}
	res = make([]*tensor.Tensor, len(outputs))
	for k, o := range outputs {
		v, err := n.value(o, vals)
		if err != nil {
			return nil, err
		}
		res[k] = v
	}
	return res, nil
}

// needed marks the nodes that the tensors outputs (valid indices) depend
// on.
func (n *Net) needed(outputs []int) []bool {
	needed := make([]bool, len(n.nodes))
	stack := append([]int(nil), outputs...)
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := n.producer[t]
		if p < 0 || needed[p] {
			continue
		}
		needed[p] = true
		for _, in := range n.nodes[p].in {
			if in >= 0 {
				stack = append(stack, int(in))
			}
		}
	}
	return needed
}

// value returns tensor t as an activation (4-D constants converted to NCHW).
func (n *Net) value(t int, vals []*tensor.Tensor) (*tensor.Tensor, error) {
	if v := vals[t]; v != nil {
		return v, nil
	}
	if c := n.consts[t]; c != nil {
		if len(c.Shape) == 4 {
			return nhwcToNCHW(c), nil
		}
		return c, nil
	}
	return nil, fmt.Errorf("tensor %d %q has no value", t, n.tensors[t].Name)
}

// exec runs one node. Convolution and ADD outputs are taken from the
// tensor buffer pool (marked in pooled) so a forward pass recycles its
// activation memory instead of allocating per layer.
func (n *Net) exec(nd *node, vals []*tensor.Tensor, pooled []bool) (*tensor.Tensor, error) {
	x, err := n.value(int(nd.in[0]), vals)
	if err != nil {
		return nil, err
	}
	var y *tensor.Tensor
	switch nd.op {
	case OpConv2D, OpDepthwiseConv2D:
		if len(x.Shape) != 4 {
			return nil, fmt.Errorf("input shape %v, want 4-D", x.Shape)
		}
		c := x.Shape[1]
		groups := 1
		if nd.op == OpConv2D {
			if nd.w.Shape[1] != c {
				return nil, fmt.Errorf("input has %d channels, filter expects %d", c, nd.w.Shape[1])
			}
		} else {
			cm := nd.w.Shape[0]
			if c == 0 || cm%c != 0 || (nd.depth > 0 && cm != c*nd.depth) {
				return nil, fmt.Errorf("depthwise filter has %d channels for %d input channels (multiplier %d)", cm, c, nd.depth)
			}
			groups = c
		}
		p, err := n.convParams(nd, x, groups)
		if err != nil {
			return nil, err
		}
		oh, ow := p.OutSize(x.Shape[2], x.Shape[3], nd.kh, nd.kw)
		shape := []int{x.Shape[0], nd.w.Shape[0], oh, ow}
		y = &tensor.Tensor{Shape: shape, Data: tensor.Get(tensor.Numel(shape))}
		pooled[nd.out] = true
		ops.Conv2dForwardInto(y, x, nd.w, nd.b, p)
		if nd.act == ActReLUN1To1 {
			ops.ClipInPlace(y, -1, 1)
		}
		return y, nil
	case OpAveragePool2D, OpMaxPool2D:
		if len(x.Shape) != 4 {
			return nil, fmt.Errorf("input shape %v, want 4-D", x.Shape)
		}
		oh, pt, pb := samePad(x.Shape[2], nd.kh, nd.sh, 1, nd.pad)
		ow, pl, pr := samePad(x.Shape[3], nd.kw, nd.sw, 1, nd.pad)
		if oh < 1 || ow < 1 {
			return nil, fmt.Errorf("input %dx%d smaller than the %dx%d pool window", x.Shape[2], x.Shape[3], nd.kh, nd.kw)
		}
		p := ops.Pool2D{KH: nd.kh, KW: nd.kw, StrideH: nd.sh, StrideW: nd.sw, PadT: pt, PadL: pl, PadB: pb, PadR: pr}
		if nd.op == OpAveragePool2D {
			y = ops.AvgPool2dForward(x, p)
		} else {
			y, _ = ops.MaxPool2dForward(x, p)
		}
	case OpAdd:
		b, err := n.value(int(nd.in[1]), vals)
		if err != nil {
			return nil, err
		}
		if !tensor.SameShape(x.Shape, b.Shape) {
			return nil, fmt.Errorf("operand shapes %v and %v differ (broadcasting not supported)", x.Shape, b.Shape)
		}
		y = &tensor.Tensor{Shape: append([]int(nil), x.Shape...), Data: tensor.Get(x.Len())}
		pooled[nd.out] = true
		ops.AddInto(y, x, b)
	case OpReshape:
		src := x
		if len(src.Shape) == 4 {
			src = nchwToNHWC(src)
		}
		target := nd.reshape
		if len(target) > 1 && target[0] >= 1 && target[0] != src.Shape[0] {
			// Converters bake batch 1 into the target; the batch
			// dimension follows the input instead.
			target = append([]int{src.Shape[0]}, target[1:]...)
		}
		shape, err := resolveShape(target, src.Len())
		if err != nil {
			return nil, err
		}
		if src == x {
			// y is a view of x: x's buffer must outlive it.
			pooled[nd.in[0]] = false
		}
		y = tensor.From(src.Data, shape...)
		if len(shape) == 4 {
			y = nhwcToNCHW(y)
		}
		return y, nil
	case OpSoftmax:
		if len(x.Shape) < 1 {
			return nil, fmt.Errorf("softmax of a scalar")
		}
		in := x
		if nd.beta != 1 {
			in = tensor.New(x.Shape...)
			for i, v := range x.Data {
				in.Data[i] = nd.beta * v
			}
		}
		axis := len(x.Shape) - 1 // TFLite: last axis = channels
		if len(x.Shape) == 4 {
			axis = 1
		}
		return ops.Softmax(in, axis), nil
	case OpFullyConnected:
		src := x
		if len(src.Shape) == 4 {
			src = nchwToNHWC(src)
		}
		in := nd.w.Shape[1]
		if src.Len()%in != 0 {
			return nil, fmt.Errorf("%d input values are not a multiple of %d", src.Len(), in)
		}
		y = ops.Linear(tensor.From(src.Data, src.Len()/in, in), nd.w, nd.b)
	case OpReLU, OpReLU6, OpQuantize, OpDequantize:
		y = x.Clone()
	default:
		return nil, fmt.Errorf("operator not supported")
	}
	switch nd.act {
	case ActReLU:
		ops.ReLUInPlace(y)
	case ActReLU6:
		ops.ClipInPlace(y, 0, 6)
	case ActReLUN1To1:
		ops.ClipInPlace(y, -1, 1)
	}
	return y, nil
}

// convParams computes the ops convolution geometry for input x.
func (n *Net) convParams(nd *node, x *tensor.Tensor, groups int) (ops.Conv2D, error) {
	oh, pt, pb := samePad(x.Shape[2], nd.kh, nd.sh, nd.dh, nd.pad)
	ow, pl, pr := samePad(x.Shape[3], nd.kw, nd.sw, nd.dw, nd.pad)
	if oh < 1 || ow < 1 {
		return ops.Conv2D{}, fmt.Errorf("input %dx%d smaller than the %dx%d filter", x.Shape[2], x.Shape[3], nd.kh, nd.kw)
	}
	p := ops.Conv2D{
		StrideH: nd.sh, StrideW: nd.sw, PadT: pt, PadL: pl, PadB: pb, PadR: pr,
		DilH: nd.dh, DilW: nd.dw, Groups: groups,
	}
	switch nd.act {
	case ActReLU:
		p.Act = ops.ActReLU
	case ActReLU6:
		p.Act = ops.ActReLU6
	}
	return p, nil
}

// resolveShape fills one -1 in shape for a tensor of n elements.
func resolveShape(shape []int, n int) ([]int, error) {
	out := append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range out {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, fmt.Errorf("bad reshape target %v", shape)
		default:
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("cannot reshape %d values to %v", n, shape)
		}
		out[infer] = n / known
	} else if known != n {
		return nil, fmt.Errorf("cannot reshape %d values to %v", n, shape)
	}
	return out, nil
}

// nchwToNHWC returns a transposed copy of a 4-D NCHW tensor.
func nchwToNHWC(x *tensor.Tensor) *tensor.Tensor {
	nb, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := tensor.New(nb, h, w, c)
	for b := range nb {
		for ch := range c {
			src := x.Data[(b*c+ch)*h*w:]
			for i := range h * w {
				y.Data[(b*h*w+i)*c+ch] = src[i]
			}
		}
	}
	return y
}

// nhwcToNCHW returns a transposed copy of a 4-D NHWC tensor.
func nhwcToNCHW(x *tensor.Tensor) *tensor.Tensor {
	nb, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := tensor.New(nb, c, h, w)
	for b := range nb {
		for ch := range c {
			dst := y.Data[(b*c+ch)*h*w:]
			for i := range h * w {
				dst[i] = x.Data[(b*h*w+i)*c+ch]
			}
		}
	}
	return y
}
