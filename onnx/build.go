package onnx

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/vigil-ad/vigil/tensor"
)

// builder turns one node into a kernel and lists the inputs the kernel
// reads at run time (compile-time constants such as Conv weights are
// captured by the kernel).
type builder func(b *nodeBuild) (kernel, []string, error)

// builders holds one entry per float operator the Executor runs (default
// domain); it is the one list of them, SupportedOps and the compile-time
// check read it. Constant is not here: Executor folds it into a constant.
var builders = map[string]builder{
	"Conv":               buildConv,
	"MaxPool":            buildPool,
	"AveragePool":        buildPool,
	"GlobalAveragePool":  func(b *nodeBuild) (kernel, []string, error) { return gapK{}, b.in0(), nil },
	"GlobalMaxPool":      func(b *nodeBuild) (kernel, []string, error) { return gmpK{}, b.in0(), nil },
	"ConvTranspose":      buildConvTranspose,
	"Pad":                buildPad,
	"BatchNormalization": buildBatchNorm,
	"Relu": func(b *nodeBuild) (kernel, []string, error) {
		return &unaryK{lo: 0, hi: float32(math.Inf(1))}, b.in0(), nil
	},
	"Sigmoid":     buildMap,
	"Tanh":        buildMap,
	"LeakyRelu":   buildMap,
	"HardSigmoid": buildMap,
	"HardSwish":   buildMap,
	"Clip":        buildClip,
	"Add":         buildBinary,
	"Sub":         buildBinary,
	"Mul":         buildBinary,
	"Div":         buildBinary,
	"Flatten": func(b *nodeBuild) (kernel, []string, error) {
		return &reshapeK{mode: "flatten", axis: int(b.n.AttrInt("axis", 1))}, b.in0(), nil
	},
	"Identity":  buildIdentity,
	"Dropout":   buildIdentity,
	"Reshape":   buildReshape,
	"Squeeze":   buildSqueeze,
	"Unsqueeze": buildSqueeze,
	"Gemm":      buildGemm,
	"MatMul":    buildMatMul,
	"Concat":    buildConcat,
	"Transpose": func(b *nodeBuild) (kernel, []string, error) {
		return &transposeK{perm: b.n.AttrInts("perm")}, b.in0(), nil
	},
	"ReduceMean": buildReduce,
	"ReduceSum":  buildReduce,
	"ReduceMax":  buildReduce,
	"ReduceMin":  buildReduce,
	"Sqrt":       buildMap,
	"Exp":        buildMap,
	"Log":        buildMap,
	"Abs":        buildMap,
	"Resize":     buildResize,
	"Upsample":   buildResize,
	"Softmax":    buildSoftmax,
}

// supportedOps is the set of float operators (builders plus Constant).
var supportedOps = func() map[string]bool {
	m := map[string]bool{"Constant": true}
	for op := range builders {
		m[op] = true
	}
	return m
}()

// SupportedOps returns the operator types the Executor can run, sorted.
// Shape, Gather, Slice and Cast are supported on integer (shape) tensors only.
func SupportedOps() []string {
	var s []string
	for k := range supportedOps {
		s = append(s, k)
	}
	for k := range intOps {
		if !supportedOps[k] {
			s = append(s, k)
		}
	}
	slices.Sort(s)
	return s
}

// buildKernel checks what every operator needs and hands nd to its builder.
func buildKernel(nd *irNode, consts map[string]*Tensor, opset int64, isInt func(string) bool) (kernel, []string, error) {
	b := &nodeBuild{nd: nd, n: nd.n, consts: consts, opset: opset, isInt: isInt}
	if len(nd.out) == 0 || nd.out[0] == "" {
		return b.fail("node has no output")
	}
	if nd.op != "Constant" && b.in(0) == "" {
		return b.fail("missing first input")
	}
	build := builders[nd.op]
	if build == nil {
		return b.fail("unsupported operator")
	}
	return build(b)
}

// nodeBuild is what a builder sees of its node.
type nodeBuild struct {
	nd     *irNode
	n      *Node
	consts map[string]*Tensor
	opset  int64
	isInt  func(string) bool // whether a tensor name holds integers
}

// fail returns an error naming the node.
func (b *nodeBuild) fail(format string, args ...any) (kernel, []string, error) {
	return nil, nil, fmt.Errorf("onnx: %s: %s", b.n.label(), fmt.Sprintf(format, args...))
}

// in returns input i's name, "" when absent.
func (b *nodeBuild) in(i int) string {
	if i < len(b.nd.in) {
		return b.nd.in[i]
	}
	return ""
}

// in0 lists the first input alone, what most kernels read.
func (b *nodeBuild) in0() []string { return []string{b.in(0)} }

// dynamicInts reports whether input i is an integer tensor computed from
// shapes at run time rather than a constant.
func (b *nodeBuild) dynamicInts(i int) bool {
	name := b.in(i)
	return name != "" && b.consts[name] == nil && b.isInt(name)
}

func (b *nodeBuild) floatConst(name, what string) (*tensor.Tensor, error) {
	t := b.consts[name]
	if t == nil {
		return nil, fmt.Errorf("onnx: %s: %s %q must be an initializer or Constant", b.n.label(), what, name)
	}
	if t.Float == nil {
		return nil, fmt.Errorf("onnx: %s: %s %q is not a float tensor", b.n.label(), what, name)
	}
	return &tensor.Tensor{Shape: toInts(t.Dims), Data: t.Float}, nil
}

func (b *nodeBuild) intsInput(name, what string) ([]int64, error) {
	t := b.consts[name]
	if t == nil {
		return nil, fmt.Errorf("onnx: %s: %s %q must be an initializer or Constant (computed shapes are not supported)", b.n.label(), what, name)
	}
	if t.Int64 == nil {
		return nil, fmt.Errorf("onnx: %s: %s %q is not an integer tensor", b.n.label(), what, name)
	}
	return t.Int64, nil
}

func buildConv(b *nodeBuild) (kernel, []string, error) {
	nd, n := b.nd, b.n
	k := &convK{act: nd.act}
	var err error
	if nd.w != nil {
		k.w = &tensor.Tensor{Shape: toInts(nd.w.Dims), Data: nd.w.Float}
		k.b = &tensor.Tensor{Shape: toInts(nd.b.Dims), Data: nd.b.Float}
	} else {
		if b.in(1) == "" {
			return b.fail("missing weight input")
		}
		if k.w, err = b.floatConst(b.in(1), "weight"); err != nil {
			return nil, nil, err
		}
		if b.in(2) != "" {
			if k.b, err = b.floatConst(b.in(2), "bias"); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(k.w.Shape) != 4 {
		return b.fail("only 2-D convolution is supported (weight shape %v)", k.w.Shape)
	}
	if k.b != nil && k.b.Len() != k.w.Shape[0] {
		return b.fail("bias has %d values for %d output channels", k.b.Len(), k.w.Shape[0])
	}
	if err := k.win.parse(n, k.w.Shape[2:], true); err != nil {
		return nil, nil, err
	}
	k.group = int(n.AttrInt("group", 1))
	if k.group <= 0 || k.w.Shape[0]%k.group != 0 {
		return b.fail("group %d does not divide %d output channels", k.group, k.w.Shape[0])
	}
	return k, b.in0(), nil
}

// buildConvTranspose builds ConvTranspose with a constant weight [Cin,
// Cout/group, kh, kw] and optional bias; output_shape and the SAME
// auto_pad modes (which derive pads from it) are refused.
func buildConvTranspose(b *nodeBuild) (kernel, []string, error) {
	n := b.n
	k := &convTK{act: b.nd.act}
	if b.in(1) == "" {
		return b.fail("missing weight input")
	}
	var err error
	if k.w, err = b.floatConst(b.in(1), "weight"); err != nil {
		return nil, nil, err
	}
	if len(k.w.Shape) != 4 {
		return b.fail("only 2-D transposed convolution is supported (weight shape %v)", k.w.Shape)
	}
	k.group = int(n.AttrInt("group", 1))
	if k.group <= 0 || k.w.Shape[0]%k.group != 0 {
		return b.fail("group %d does not divide %d input channels", k.group, k.w.Shape[0])
	}
	if b.in(2) != "" {
		if k.b, err = b.floatConst(b.in(2), "bias"); err != nil {
			return nil, nil, err
		}
		if k.b.Len() != k.w.Shape[1]*k.group {
			return b.fail("bias has %d values for %d output channels", k.b.Len(), k.w.Shape[1]*k.group)
		}
	}
	if err := k.win.parse(n, k.w.Shape[2:], true); err != nil {
		return nil, nil, err
	}
	switch k.win.autoPad {
	case "NOTSET", "":
	case "VALID":
		k.win.pads = [4]int{}
	default:
		return b.fail("auto_pad %s is not supported for ConvTranspose (give explicit pads)", k.win.autoPad)
	}
	if _, ok := n.Attr("output_shape"); ok {
		return b.fail("the output_shape attribute is not supported (give pads and output_padding)")
	}
	if op := n.AttrInts("output_padding"); op != nil {
		if len(op) != 2 {
			return b.fail("output_padding %v: want 2 values", op)
		}
		for i, v := range op {
			// ONNX requires output_padding smaller than the stride or the dilation.
			if v < 0 || (int(v) >= k.win.stride[i] && int(v) >= k.win.dil[i]) {
				return b.fail("output_padding %v must be non-negative and smaller than the stride %v or dilation %v", op, k.win.stride, k.win.dil)
			}
			k.outPad[i] = int(v)
		}
	}
	return k, b.in0(), nil
}

// buildPool builds MaxPool and AveragePool.
func buildPool(b *nodeBuild) (kernel, []string, error) {
	n := b.n
	ks := n.AttrInts("kernel_shape")
	if len(ks) != 2 {
		return b.fail("kernel_shape %v: only 2-D pooling is supported", ks)
	}
	k := &poolK{max: b.nd.op == "MaxPool", ceil: n.AttrInt("ceil_mode", 0) != 0, countPad: n.AttrInt("count_include_pad", 0) != 0}
	if err := k.win.parse(n, []int{int(ks[0]), int(ks[1])}, k.max); err != nil {
		return nil, nil, err
	}
	if k.win.dil != [2]int{1, 1} {
		return b.fail("dilated pooling is not supported")
	}
	return k, b.in0(), nil
}

func buildPad(b *nodeBuild) (kernel, []string, error) {
	n := b.n
	k := &padK{pads: n.AttrInts("pads"), value: n.AttrFloat("value", 0), mode: n.AttrString("mode", "constant")}
	switch k.mode {
	case "constant", "reflect", "edge":
	default:
		return b.fail("pad mode %q is not supported (constant, reflect and edge are)", k.mode)
	}
	if b.in(3) != "" {
		return b.fail("the axes input is not supported")
	}
	if b.in(2) != "" {
		c := b.consts[b.in(2)]
		if c == nil || c.Float == nil || len(c.Float) != 1 {
			return b.fail("constant_value %q must be a float scalar constant", b.in(2))
		}
		k.value = c.Float[0]
	}
	if b.in(1) != "" {
		if b.dynamicInts(1) {
			k.dynamic = true
			return k, []string{b.in(0), b.in(1)}, nil
		}
		pads, err := b.intsInput(b.in(1), "pads")
		if err != nil {
			return nil, nil, err
		}
		k.pads = pads
	}
	return k, b.in0(), nil
}

// buildBatchNorm folds the four parameter tensors into a per-channel scale
// and shift.
func buildBatchNorm(b *nodeBuild) (kernel, []string, error) {
	n := b.n
	if len(b.nd.in) != 5 {
		return b.fail("want 5 inputs, got %d", len(b.nd.in))
	}
	if n.AttrInt("training_mode", 0) != 0 {
		return b.fail("training_mode=1 is not supported")
	}
	var p [4]*tensor.Tensor
	for i := range p {
		var err error
		if p[i], err = b.floatConst(b.in(i+1), "parameter"); err != nil {
			return nil, nil, err
		}
	}
	c := p[0].Len()
	k := &bnK{scale: make([]float32, c), shift: make([]float32, c)}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	for i := 1; i < 4; i++ {
		if p[i].Len() != c {
			return b.fail("parameters have %d and %d values", c, p[i].Len())
		}
	}
	for i := range c {
		s := float64(p[0].Data[i]) / math.Sqrt(float64(p[3].Data[i])+eps)
		k.scale[i] = float32(s)
		k.shift[i] = float32(float64(p[1].Data[i]) - float64(p[2].Data[i])*s)
	}
	return k, b.in0(), nil
}

// buildMap builds the pointwise maps: Sigmoid, Tanh, LeakyRelu,
// HardSigmoid, HardSwish, Sqrt, Exp, Log and Abs.
func buildMap(b *nodeBuild) (kernel, []string, error) {
	n := b.n
	k := &mapK{op: b.nd.op, alpha: n.AttrFloat("alpha", 0.01), beta: 0.5}
	if b.nd.op == "HardSigmoid" {
		k.alpha = n.AttrFloat("alpha", 0.2)
		k.beta = n.AttrFloat("beta", 0.5)
	}
	return k, b.in0(), nil
}

func buildClip(b *nodeBuild) (kernel, []string, error) {
	lo, hi, ok := clipBounds(b.nd, b.consts)
	if !ok {
		return b.fail("min/max must be scalar constants")
	}
	return &unaryK{lo: lo, hi: hi}, b.in0(), nil
}

// buildBinary builds Add, Sub, Mul and Div (arithOps holds the arithmetic).
func buildBinary(b *nodeBuild) (kernel, []string, error) {
	if b.in(1) == "" {
		return b.fail("missing second input")
	}
	f, ok := arithOps[b.nd.op]
	if !ok {
		return b.fail("no arithmetic for %s", b.nd.op)
	}
	return &binaryK{op: b.nd.op, f: f, act: b.nd.act}, []string{b.in(0), b.in(1)}, nil
}

// buildIdentity builds Identity and Dropout (inference: a no-op).
func buildIdentity(b *nodeBuild) (kernel, []string, error) {
	return &reshapeK{mode: "identity"}, b.in0(), nil
}

func buildReshape(b *nodeBuild) (kernel, []string, error) {
	k := &reshapeK{mode: "reshape", allowZero: b.n.AttrInt("allowzero", 0) != 0}
	if b.dynamicInts(1) {
		// Shape computed from input shapes: read at shape inference.
		k.dynamic = true
		return k, []string{b.in(0), b.in(1)}, nil
	}
	shape, err := b.intsInput(b.in(1), "shape")
	if err != nil {
		return nil, nil, err
	}
	k.shape = shape
	return k, b.in0(), nil
}

// buildSqueeze builds Squeeze and Unsqueeze: axes as an attribute (before
// opset 13) or an input.
func buildSqueeze(b *nodeBuild) (kernel, []string, error) {
	op := b.nd.op
	axes := b.n.AttrInts("axes")
	if b.dynamicInts(1) {
		return &reshapeK{mode: op, dynamic: true}, []string{b.in(0), b.in(1)}, nil
	}
	if b.in(1) != "" {
		var err error
		if axes, err = b.intsInput(b.in(1), "axes"); err != nil {
			return nil, nil, err
		}
	}
	if op == "Unsqueeze" && len(axes) == 0 {
		return b.fail("no axes")
	}
	return &reshapeK{mode: op, shape: axes}, b.in0(), nil
}

func buildGemm(b *nodeBuild) (kernel, []string, error) {
	n := b.n
	if b.in(1) == "" {
		return b.fail("missing input B")
	}
	return &gemmK{alpha: n.AttrFloat("alpha", 1), beta: n.AttrFloat("beta", 1),
		transA: n.AttrInt("transA", 0) != 0, transB: n.AttrInt("transB", 0) != 0}, []string{b.in(0), b.in(1), b.in(2)}, nil
}

func buildMatMul(b *nodeBuild) (kernel, []string, error) {
	if b.in(1) == "" {
		return b.fail("missing input B")
	}
	return &gemmK{alpha: 1, matmul: true}, []string{b.in(0), b.in(1)}, nil
}

func buildConcat(b *nodeBuild) (kernel, []string, error) {
	a, ok := b.n.Attr("axis")
	if !ok {
		return b.fail("missing axis attribute")
	}
	for _, s := range b.nd.in {
		if s == "" {
			return b.fail("empty input name")
		}
	}
	return &concatK{axis: int(a.I)}, slices.Clone(b.nd.in), nil
}

// buildReduce builds ReduceMean, ReduceSum, ReduceMax and ReduceMin.
func buildReduce(b *nodeBuild) (kernel, []string, error) {
	n := b.n
	k := &reduceK{op: strings.ToLower(strings.TrimPrefix(b.nd.op, "Reduce")), axes: n.AttrInts("axes"),
		keep: n.AttrInt("keepdims", 1) != 0, noopEmpty: n.AttrInt("noop_with_empty_axes", 0) != 0}
	if b.in(1) != "" { // axes as an input: ReduceSum from opset 13, the others from 18
		axes, err := b.intsInput(b.in(1), "axes")
		if err != nil {
			return nil, nil, err
		}
		k.axes = axes
	}
	return k, b.in0(), nil
}

func buildSoftmax(b *nodeBuild) (kernel, []string, error) {
	axis := int64(-1)
	if b.opset < 13 {
		axis = 1
	}
	return &softmaxK{axis: int(b.n.AttrInt("axis", axis)), coerce2D: b.opset < 13}, b.in0(), nil
}

// buildResize builds Resize and Upsample: nearest (PyTorch's asymmetric
// floor) and bilinear, from scales or sizes (constant or computed from
// shapes).
func buildResize(b *nodeBuild) (kernel, []string, error) {
	nd, n, consts := b.nd, b.n, b.consts
	k := &resizeK{}
	mode := n.AttrString("mode", "nearest")
	ct := n.AttrString("coordinate_transformation_mode", "half_pixel")
	newStyle := nd.op == "Resize" && b.opset >= 11
	switch mode {
	case "nearest":
		if newStyle && (ct != "asymmetric" || n.AttrString("nearest_mode", "round_prefer_floor") != "floor") {
			return b.fail("nearest resize supports coordinate_transformation_mode=asymmetric with nearest_mode=floor (PyTorch's), got %s/%s",
				ct, n.AttrString("nearest_mode", "round_prefer_floor"))
		}
	case "linear", "bilinear":
		if !newStyle {
			return b.fail("linear %s before opset 11 (asymmetric coordinates) is not supported", nd.op)
		}
		switch ct {
		case "half_pixel", "pytorch_half_pixel":
		case "align_corners":
			k.alignCorners = true
		default:
			return b.fail("linear resize with coordinate_transformation_mode=%s is not supported", ct)
		}
		k.linear = true
	default:
		return b.fail("resize mode %q is not supported", mode)
	}
	if n.AttrInt("antialias", 0) != 0 {
		return b.fail("antialias is not supported")
	}
	if axes := n.AttrInts("axes"); axes != nil {
		return b.fail("the axes attribute is not supported")
	}
	scalesIn, sizesIn := b.in(1), ""
	if newStyle {
		scalesIn, sizesIn = b.in(2), b.in(3)
	}
	if a, ok := n.Attr("scales"); ok && nd.op == "Upsample" { // Upsample-7
		k.scales = a.Floats
	}
	if c := consts[sizesIn]; c != nil && c.Numel() == 0 {
		sizesIn = "" // an empty sizes tensor means "use scales"
	}
	if sizesIn != "" {
		if c := consts[sizesIn]; c != nil && c.Int64 != nil {
			k.sizes = c.Int64
		} else if b.isInt(sizesIn) {
			k.dynamic = true
			return k, []string{b.in(0), sizesIn}, nil
		} else {
			return b.fail("sizes %q must be an integer constant or computed from shapes", sizesIn)
		}
	} else if scalesIn != "" {
		c := consts[scalesIn]
		if c == nil || c.Float == nil {
			return b.fail("scales %q must be a float constant", scalesIn)
		}
		k.scales = c.Float
	}
	if k.scales == nil && k.sizes == nil {
		return b.fail("neither scales nor sizes given")
	}
	return k, b.in0(), nil
}
