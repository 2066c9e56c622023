// Package tflite reads TensorFlow Lite flatbuffer models (schema
// tensorflow/lite/schema/schema.fbs, identifier "TFL3"), dequantises their
// weights to float32 and runs the graph in float32 on package ops (NCHW),
// the standard "dequantise and run float" way of using a quantised model
// as a pretrained feature extractor.
package tflite

import (
	"fmt"
	"os"
)

// TensorType is the element type of a tensor (schema enum TensorType).
type TensorType int8

// Tensor element types used by Vigil.
const (
	Float32 TensorType = 0
	Float16 TensorType = 1
	Int32   TensorType = 2
	Uint8   TensorType = 3
	Int64   TensorType = 4
	Int16   TensorType = 7
	Int8    TensorType = 9
)

func (t TensorType) String() string {
	switch t {
	case Float32:
		return "FLOAT32"
	case Float16:
		return "FLOAT16"
	case Int32:
		return "INT32"
	case Uint8:
		return "UINT8"
	case Int64:
		return "INT64"
	case Int16:
		return "INT16"
	case Int8:
		return "INT8"
	}
	return fmt.Sprintf("TensorType(%d)", int8(t))
}

// BuiltinOp is a builtin operator code (schema enum BuiltinOperator).
type BuiltinOp int32

// Builtin operators Vigil knows by name.
const (
	OpAdd             BuiltinOp = 0
	OpAveragePool2D   BuiltinOp = 1
	OpConcatenation   BuiltinOp = 2
	OpConv2D          BuiltinOp = 3
	OpDepthwiseConv2D BuiltinOp = 4
	OpDequantize      BuiltinOp = 6
	OpFullyConnected  BuiltinOp = 9
	OpMaxPool2D       BuiltinOp = 17
	OpReLU            BuiltinOp = 19
	OpReLU6           BuiltinOp = 21
	OpReshape         BuiltinOp = 22
	OpSoftmax         BuiltinOp = 25
	OpCustom          BuiltinOp = 32
	OpMean            BuiltinOp = 40
	OpQuantize        BuiltinOp = 114
)

var opNames = map[BuiltinOp]string{
	OpAdd: "ADD", OpAveragePool2D: "AVERAGE_POOL_2D", OpConcatenation: "CONCATENATION",
	OpConv2D: "CONV_2D", OpDepthwiseConv2D: "DEPTHWISE_CONV_2D", OpDequantize: "DEQUANTIZE",
	OpFullyConnected: "FULLY_CONNECTED", OpMaxPool2D: "MAX_POOL_2D", OpReLU: "RELU",
	OpReLU6: "RELU6", OpReshape: "RESHAPE", OpSoftmax: "SOFTMAX", OpCustom: "CUSTOM",
	OpMean: "MEAN", OpQuantize: "QUANTIZE",
}

func (o BuiltinOp) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("BuiltinOperator(%d)", int32(o))
}

// Padding is the schema enum Padding.
type Padding uint8

// Padding modes.
const (
	PaddingSame  Padding = 0
	PaddingValid Padding = 1
)

// Activation is the schema enum ActivationFunctionType.
type Activation uint8

// Fused activations.
const (
	ActNone      Activation = 0
	ActReLU      Activation = 1
	ActReLUN1To1 Activation = 2
	ActReLU6     Activation = 3
	ActTanh      Activation = 4
	ActSignBit   Activation = 5
)

// Union type codes of BuiltinOptions that Vigil decodes.
const (
	optConv2D          = 1
	optDepthwiseConv2D = 2
	optPool2D          = 5
	optFullyConnected  = 8
	optSoftmax         = 9
	optAdd             = 11
	optReshape         = 17
)

// Model is a decoded TFLite model (the tables Vigil needs).
type Model struct {
	Version       uint32
	OperatorCodes []OperatorCode
	Subgraphs     []Subgraph
	Description   string
	// Buffers holds the raw bytes of each buffer (aliasing the file
	// contents); index 0 is the empty sentinel.
	Buffers [][]byte
}

// OperatorCode identifies an operator kind.
type OperatorCode struct {
	// Builtin is max(builtin_code, deprecated_builtin_code), the rule the
	// TFLite runtime uses to read old and new files alike.
	Builtin BuiltinOp
	Custom  string
	Version int32
}

// Subgraph is one graph of the model; Subgraphs[0] is the main one.
type Subgraph struct {
	Name      string
	Tensors   []Tensor
	Inputs    []int32
	Outputs   []int32
	Operators []Operator
}

// Tensor describes one tensor of a subgraph.
type Tensor struct {
	Name   string
	Shape  []int32 // NHWC for images
	Type   TensorType
	Buffer uint32 // index into Model.Buffers; 0 = no data
	Quant  *Quantization
}

// Quantization holds affine quantisation parameters: real = Scale *
// (q - ZeroPoint), per tensor (one entry) or per channel along Dim.
type Quantization struct {
	Scale     []float32
	ZeroPoint []int64
	Dim       int32 // quantized_dimension
}

// Operator is one node of a subgraph.
type Operator struct {
	OpcodeIndex uint32
	Inputs      []int32 // tensor indices; -1 = optional input absent
	Outputs     []int32
	// Options is one of *Conv2DOptions, *DepthwiseConv2DOptions,
	// *Pool2DOptions, *FullyConnectedOptions, *SoftmaxOptions,
	// *AddOptions, *ReshapeOptions, or nil (absent or not decoded).
	Options any
	// OptionsType is the raw BuiltinOptions union type code.
	OptionsType uint8
}

// Conv2DOptions configures CONV_2D.
type Conv2DOptions struct {
	Padding          Padding
	StrideW, StrideH int32
	Activation       Activation
	DilationW        int32
	DilationH        int32
}

// DepthwiseConv2DOptions configures DEPTHWISE_CONV_2D.
type DepthwiseConv2DOptions struct {
	Padding          Padding
	StrideW, StrideH int32
	DepthMultiplier  int32
	Activation       Activation
	DilationW        int32
	DilationH        int32
}

// Pool2DOptions configures AVERAGE_POOL_2D and MAX_POOL_2D.
type Pool2DOptions struct {
	Padding                   Padding
	StrideW, StrideH          int32
	FilterWidth, FilterHeight int32
	Activation                Activation
}

// FullyConnectedOptions configures FULLY_CONNECTED.
type FullyConnectedOptions struct {
	Activation Activation
}

// SoftmaxOptions configures SOFTMAX.
type SoftmaxOptions struct {
	Beta float32
}

// AddOptions configures ADD.
type AddOptions struct {
	Activation Activation
}

// ReshapeOptions configures RESHAPE (the target shape may instead come
// from the second input tensor).
type ReshapeOptions struct {
	NewShape []int32
}

// ReadFile reads and parses a .tflite file; errors name the file.
func ReadFile(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("tflite: %s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a TFLite flatbuffer. Every offset is checked against b;
// a truncated or corrupt buffer yields an error, never a panic. The
// returned Model aliases b (buffer data is not copied).
func Parse(b []byte) (*Model, error) {
	if len(b) >= 8 && string(b[4:8]) != "TFL3" {
		return nil, fmt.Errorf("not a TFLite model (file identifier %q, want \"TFL3\")", b[4:8])
	}
	r := &reader{buf: b}
	root, err := r.root()
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	m := &Model{}
	if m.Version, err = root.u32(0, 0); err != nil {
		return nil, fmt.Errorf("model version: %w", err)
	}
	if m.Description, err = root.str(3); err != nil {
		return nil, fmt.Errorf("model description: %w", err)
	}
	codes, err := root.tableVector(1)
	if err != nil {
		return nil, fmt.Errorf("operator_codes: %w", err)
	}
	for i, ct := range codes {
		oc, err := parseOpCode(ct)
		if err != nil {
			return nil, fmt.Errorf("operator_codes[%d]: %w", i, err)
		}
		m.OperatorCodes = append(m.OperatorCodes, oc)
	}
	bufs, err := root.tableVector(4)
	if err != nil {
		return nil, fmt.Errorf("buffers: %w", err)
	}
	m.Buffers = make([][]byte, len(bufs))
	for i, bt := range bufs {
		if m.Buffers[i], err = parseBuffer(bt); err != nil {
			return nil, fmt.Errorf("buffers[%d]: %w", i, err)
		}
	}
	sgs, err := root.tableVector(2)
	if err != nil {
		return nil, fmt.Errorf("subgraphs: %w", err)
	}
	if len(sgs) == 0 {
		return nil, fmt.Errorf("model has no subgraphs")
	}
	for i, st := range sgs {
		sg, err := parseSubgraph(st, m)
		if err != nil {
			return nil, fmt.Errorf("subgraphs[%d]: %w", i, err)
		}
		m.Subgraphs = append(m.Subgraphs, sg)
	}
	return m, nil
}

func parseOpCode(t table) (OperatorCode, error) {
	dep, err := t.u8(0, 0)
	if err != nil {
		return OperatorCode{}, fmt.Errorf("deprecated_builtin_code: %w", err)
	}
	custom, err := t.str(1)
	if err != nil {
		return OperatorCode{}, fmt.Errorf("custom_code: %w", err)
	}
	ver, err := t.i32(2, 1)
	if err != nil {
		return OperatorCode{}, fmt.Errorf("version: %w", err)
	}
	code, err := t.i32(3, 0)
	if err != nil {
		return OperatorCode{}, fmt.Errorf("builtin_code: %w", err)
	}
	// deprecated_builtin_code is an int8 in the schema; codes >= 127 only
	// live in builtin_code, whose default 0 (ADD) loses to the old field.
	b := max(code, int32(int8(dep)))
	return OperatorCode{Builtin: BuiltinOp(b), Custom: custom, Version: ver}, nil
}

func parseBuffer(t table) ([]byte, error) {
	data, err := t.bytes(0)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	// Files over 2 GB keep buffer data after the flatbuffer and store an
	// absolute offset/size instead (offset 1 marks "none").
	off, err := t.u64(1, 0)
	if err != nil {
		return nil, fmt.Errorf("offset: %w", err)
	}
	size, err := t.u64(2, 0)
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	if len(data) == 0 && off > 1 {
		n := uint64(len(t.r.buf))
		if off > n || size > n-off {
			return nil, fmt.Errorf("external data offset %d size %d beyond file end %d", off, size, n)
		}
		data = t.r.buf[off : off+size : off+size]
	}
	return data, nil
}

func parseSubgraph(t table, m *Model) (Subgraph, error) {
	var sg Subgraph
	var err error
	if sg.Name, err = t.str(4); err != nil {
		return sg, fmt.Errorf("name: %w", err)
	}
	tensors, err := t.tableVector(0)
	if err != nil {
		return sg, fmt.Errorf("tensors: %w", err)
	}
	for i, tt := range tensors {
		ten, err := parseTensor(tt)
		if err != nil {
			return sg, fmt.Errorf("tensors[%d]: %w", i, err)
		}
		if int(ten.Buffer) >= len(m.Buffers) {
			return sg, fmt.Errorf("tensors[%d] %q: buffer %d out of range (%d buffers)", i, ten.Name, ten.Buffer, len(m.Buffers))
		}
		sg.Tensors = append(sg.Tensors, ten)
	}
	nt := len(sg.Tensors)
	if sg.Inputs, err = t.int32s(1); err != nil {
		return sg, fmt.Errorf("inputs: %w", err)
	}
	if sg.Outputs, err = t.int32s(2); err != nil {
		return sg, fmt.Errorf("outputs: %w", err)
	}
	if err := checkIndices(sg.Inputs, nt, false); err != nil {
		return sg, fmt.Errorf("inputs: %w", err)
	}
	if err := checkIndices(sg.Outputs, nt, false); err != nil {
		return sg, fmt.Errorf("outputs: %w", err)
	}
	ops, err := t.tableVector(3)
	if err != nil {
		return sg, fmt.Errorf("operators: %w", err)
	}
	for i, ot := range ops {
		op, err := parseOperator(ot)
		if err != nil {
			return sg, fmt.Errorf("operators[%d]: %w", i, err)
		}
		if int(op.OpcodeIndex) >= len(m.OperatorCodes) {
			return sg, fmt.Errorf("operators[%d]: opcode_index %d out of range (%d codes)", i, op.OpcodeIndex, len(m.OperatorCodes))
		}
		if err := checkIndices(op.Inputs, nt, true); err != nil {
			return sg, fmt.Errorf("operators[%d] inputs: %w", i, err)
		}
		if err := checkIndices(op.Outputs, nt, false); err != nil {
			return sg, fmt.Errorf("operators[%d] outputs: %w", i, err)
		}
		sg.Operators = append(sg.Operators, op)
	}
	return sg, nil
}

func checkIndices(idx []int32, n int, optional bool) error {
	for _, v := range idx {
		if (v == -1 && optional) || (v >= 0 && int(v) < n) {
			continue
		}
		return fmt.Errorf("tensor index %d out of range (%d tensors)", v, n)
	}
	return nil
}

func parseTensor(t table) (Tensor, error) {
	var ten Tensor
	var err error
	if ten.Name, err = t.str(3); err != nil {
		return ten, fmt.Errorf("name: %w", err)
	}
	if ten.Shape, err = t.int32s(0); err != nil {
		return ten, fmt.Errorf("%q shape: %w", ten.Name, err)
	}
	ty, err := t.u8(1, 0)
	if err != nil {
		return ten, fmt.Errorf("%q type: %w", ten.Name, err)
	}
	ten.Type = TensorType(int8(ty))
	if ten.Buffer, err = t.u32(2, 0); err != nil {
		return ten, fmt.Errorf("%q buffer: %w", ten.Name, err)
	}
	qt, ok, err := t.subTable(4)
	if err != nil {
		return ten, fmt.Errorf("%q quantization: %w", ten.Name, err)
	}
	if ok {
		q := &Quantization{}
		if q.Scale, err = qt.float32s(2); err != nil {
			return ten, fmt.Errorf("%q quantization scale: %w", ten.Name, err)
		}
		if q.ZeroPoint, err = qt.int64s(3); err != nil {
			return ten, fmt.Errorf("%q quantization zero_point: %w", ten.Name, err)
		}
		if q.Dim, err = qt.i32(6, 0); err != nil {
			return ten, fmt.Errorf("%q quantized_dimension: %w", ten.Name, err)
		}
		if len(q.Scale) > 0 {
			ten.Quant = q
		}
	}
	return ten, nil
}

func parseOperator(t table) (Operator, error) {
	var op Operator
	var err error
	if op.OpcodeIndex, err = t.u32(0, 0); err != nil {
		return op, fmt.Errorf("opcode_index: %w", err)
	}
	if op.Inputs, err = t.int32s(1); err != nil {
		return op, fmt.Errorf("inputs: %w", err)
	}
	if op.Outputs, err = t.int32s(2); err != nil {
		return op, fmt.Errorf("outputs: %w", err)
	}
	if op.OptionsType, err = t.u8(3, 0); err != nil {
		return op, fmt.Errorf("builtin_options_type: %w", err)
	}
	ot, ok, err := t.subTable(4)
	if err != nil {
		return op, fmt.Errorf("builtin_options: %w", err)
	}
	if !ok {
		return op, nil
	}
	if op.Options, err = parseOptions(op.OptionsType, ot); err != nil {
		return op, fmt.Errorf("builtin_options: %w", err)
	}
	return op, nil
}

// fieldReader accumulates the first error over a run of field reads.
type fieldReader struct {
	t   table
	err error
}

func (f *fieldReader) u8(i int, def uint8) uint8 {
	v, err := f.t.u8(i, def)
	if f.err == nil {
		f.err = err
	}
	return v
}

func (f *fieldReader) i32(i int, def int32) int32 {
	v, err := f.t.i32(i, def)
	if f.err == nil {
		f.err = err
	}
	return v
}

func (f *fieldReader) f32(i int, def float32) float32 {
	v, err := f.t.f32(i, def)
	if f.err == nil {
		f.err = err
	}
	return v
}

func parseOptions(typ uint8, t table) (any, error) {
	f := &fieldReader{t: t}
	var o any
	switch typ {
	case optConv2D:
		o = &Conv2DOptions{
			Padding: Padding(f.u8(0, 0)), StrideW: f.i32(1, 0), StrideH: f.i32(2, 0),
			Activation: Activation(f.u8(3, 0)), DilationW: f.i32(4, 1), DilationH: f.i32(5, 1),
		}
	case optDepthwiseConv2D:
		o = &DepthwiseConv2DOptions{
			Padding: Padding(f.u8(0, 0)), StrideW: f.i32(1, 0), StrideH: f.i32(2, 0),
			DepthMultiplier: f.i32(3, 0), Activation: Activation(f.u8(4, 0)),
			DilationW: f.i32(5, 1), DilationH: f.i32(6, 1),
		}
	case optPool2D:
		o = &Pool2DOptions{
			Padding: Padding(f.u8(0, 0)), StrideW: f.i32(1, 0), StrideH: f.i32(2, 0),
			FilterWidth: f.i32(3, 0), FilterHeight: f.i32(4, 0), Activation: Activation(f.u8(5, 0)),
		}
	case optFullyConnected:
		o = &FullyConnectedOptions{Activation: Activation(f.u8(0, 0))}
	case optSoftmax:
		o = &SoftmaxOptions{Beta: f.f32(0, 0)}
	case optAdd:
		o = &AddOptions{Activation: Activation(f.u8(0, 0))}
	case optReshape:
		ns, err := t.int32s(0)
		if err != nil {
			return nil, fmt.Errorf("new_shape: %w", err)
		}
		o = &ReshapeOptions{NewShape: ns}
	default:
		return nil, nil
	}
	if f.err != nil {
		return nil, f.err
	}
	return o, nil
}
