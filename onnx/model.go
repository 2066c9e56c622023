// Package onnx reads, writes and runs ONNX models without generated
// protobuf code: a hand-written wire codec (protowire) for the subset of the
// ONNX schema that CNN inference needs, a Builder for exporting Vigil's own
// networks, and an Executor that runs the common CNN operators on top of
// package ops.
//
// The Executor covers what torchvision-style CNN exports use (ResNet-18,
// -34, -50, Wide-ResNet-50-2 and similar; see SupportedOps): Conv,
// ConvTranspose, BatchNormalization (folded into the preceding Conv),
// pooling, Gemm/MatMul, elementwise arithmetic with broadcasting, common
// activations, shape ops, Resize and Pad (constant, reflect, edge), plus the integer shape arithmetic of dynamic-batch
// exports, which is evaluated while inferring shapes. Any tensor of the
// graph can be requested as an output (feature taps); fusions never hide a
// requested tensor. Weights stored as external data, sparse initializers,
// control flow and non-default domains are reported as errors.
package onnx

import "fmt"

// DataType is an ONNX TensorProto.DataType value.
type DataType int32

// ONNX element types. Only FLOAT and INT64 are held natively; INT32, DOUBLE
// and FLOAT16 are converted on decode.
const (
	DataTypeUndefined DataType = 0
	DataTypeFloat     DataType = 1
	DataTypeUint8     DataType = 2
	DataTypeInt8      DataType = 3
	DataTypeInt32     DataType = 6
	DataTypeInt64     DataType = 7
	DataTypeBool      DataType = 9
	DataTypeFloat16   DataType = 10
	DataTypeDouble    DataType = 11
)

// String names the type as in the ONNX schema.
func (d DataType) String() string {
	switch d {
	case DataTypeUndefined:
		return "UNDEFINED"
	case DataTypeFloat:
		return "FLOAT"
	case DataTypeUint8:
		return "UINT8"
	case DataTypeInt8:
		return "INT8"
	case DataTypeInt32:
		return "INT32"
	case DataTypeInt64:
		return "INT64"
	case DataTypeBool:
		return "BOOL"
	case DataTypeFloat16:
		return "FLOAT16"
	case DataTypeDouble:
		return "DOUBLE"
	}
	return fmt.Sprintf("DataType(%d)", int32(d))
}

// Model is a decoded ONNX ModelProto.
type Model struct {
	IRVersion    int64
	OpsetVersion int64 // version of the default ("" / "ai.onnx") operator set
	ProducerName string
	Graph        *Graph
	// Metadata is the model's metadata_props, in file order (exporters
	// document preprocessing and provenance there).
	Metadata []MetadataProp
}

// MetadataProp is one metadata_props entry (StringStringEntryProto).
type MetadataProp struct{ Key, Value string }

// Graph is an ONNX GraphProto.
type Graph struct {
	Name         string
	Nodes        []*Node
	Initializers []*Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	ValueInfo    []ValueInfo // shapes of intermediate tensors, when the exporter recorded them
}

// ValueInfo names a graph input/output and its (possibly partly dynamic) shape.
type ValueInfo struct {
	Name     string
	Shape    []int64  // -1 = dynamic (dim_param or missing); nil = unknown rank
	ElemType DataType // 0 is written as FLOAT
}

// Tensor is an ONNX TensorProto holding FLOAT data (Float) or integer data
// (Int64; INT32 is widened on decode).
type Tensor struct {
	Name  string
	Dims  []int64
	Float []float32
	Int64 []int64
	// DataType records the element type stored in the file. Decoding sets it;
	// for tensors built in code 0 means "FLOAT unless Int64 is set".
	// Tensors of types the engine cannot hold keep their DataType and no data.
	DataType DataType
}

// Numel is the element count implied by Dims.
func (t *Tensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Node is an ONNX NodeProto.
type Node struct {
	Name, OpType string
	Domain       string
	Inputs       []string // "" marks an omitted optional input
	Outputs      []string
	Attrs        []Attr
}

// AttrType is an ONNX AttributeProto.AttributeType.
type AttrType int32

// Attribute types (values as in onnx.proto).
const (
	AttrUndefined AttrType = 0
	AttrFloat     AttrType = 1
	AttrInt       AttrType = 2
	AttrString    AttrType = 3
	AttrTensor    AttrType = 4
	AttrGraph     AttrType = 5
	AttrFloats    AttrType = 6
	AttrInts      AttrType = 7
	AttrStrings   AttrType = 8
	AttrTensors   AttrType = 9
	AttrGraphs    AttrType = 10
)

// Attr is an ONNX AttributeProto. Graph-valued attributes (If/Loop bodies)
// keep only their name and type.
type Attr struct {
	Name    string
	Type    AttrType
	I       int64
	F       float32
	S       string
	Ints    []int64
	Floats  []float32
	Strings []string
	T       *Tensor
}

// IntAttr makes an INT attribute.
func IntAttr(name string, v int64) Attr { return Attr{Name: name, Type: AttrInt, I: v} }

// IntsAttr makes an INTS attribute.
func IntsAttr(name string, v ...int64) Attr {
	return Attr{Name: name, Type: AttrInts, Ints: append([]int64(nil), v...)}
}

// FloatAttr makes a FLOAT attribute.
func FloatAttr(name string, v float32) Attr { return Attr{Name: name, Type: AttrFloat, F: v} }

// FloatsAttr makes a FLOATS attribute.
func FloatsAttr(name string, v ...float32) Attr {
	return Attr{Name: name, Type: AttrFloats, Floats: append([]float32(nil), v...)}
}

// StringAttr makes a STRING attribute.
func StringAttr(name, v string) Attr { return Attr{Name: name, Type: AttrString, S: v} }

// StringsAttr makes a STRINGS attribute.
func StringsAttr(name string, v ...string) Attr {
	return Attr{Name: name, Type: AttrStrings, Strings: append([]string(nil), v...)}
}

// TensorAttr makes a TENSOR attribute (e.g. Constant's "value").
func TensorAttr(name string, t *Tensor) Attr { return Attr{Name: name, Type: AttrTensor, T: t} }

// Attr returns the node's attribute called name.
func (n *Node) Attr(name string) (Attr, bool) {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return Attr{}, false
}

// AttrInt returns an INT attribute or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a, ok := n.Attr(name); ok {
		return a.I
	}
	return def
}

// AttrFloat returns a FLOAT attribute or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a, ok := n.Attr(name); ok {
		return a.F
	}
	return def
}

// AttrInts returns an INTS attribute or nil when absent.
func (n *Node) AttrInts(name string) []int64 {
	if a, ok := n.Attr(name); ok {
		return a.Ints
	}
	return nil
}

// AttrString returns a STRING attribute or def when absent.
func (n *Node) AttrString(name, def string) string {
	if a, ok := n.Attr(name); ok {
		return a.S
	}
	return def
}

// label names a node for error messages.
func (n *Node) label() string {
	if n.Name != "" {
		return fmt.Sprintf("%s node %q", n.OpType, n.Name)
	}
	if len(n.Outputs) > 0 {
		return fmt.Sprintf("%s node (output %q)", n.OpType, n.Outputs[0])
	}
	return n.OpType + " node"
}
