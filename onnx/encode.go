package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vigil-ad/vigil/internal/atomicfile"
	"github.com/vigil-ad/vigil/tensor"
	"google.golang.org/protobuf/encoding/protowire"
)

// Encode serializes the model as an ONNX ModelProto. Tensors are written
// with raw_data (little-endian), as current exporters do.
func (m *Model) Encode() ([]byte, error) {
	if m.Graph == nil {
		return nil, errors.New("onnx: encode: model has no graph")
	}
	var b []byte
	if m.IRVersion != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.IRVersion))
	}
	if m.ProducerName != "" {
		b = appendString(b, 2, m.ProducerName)
	}
	g, err := encodeGraph(m.Graph)
	if err != nil {
		return nil, fmt.Errorf("onnx: encode: %w", err)
	}
	b = appendMessage(b, 7, g)
	var op []byte
	op = appendString(op, 1, "")
	op = protowire.AppendTag(op, 2, protowire.VarintType)
	op = protowire.AppendVarint(op, uint64(m.OpsetVersion))
	b = appendMessage(b, 8, op)
	for _, p := range m.Metadata {
		var e []byte
		e = appendString(e, 1, p.Key)
		e = appendString(e, 2, p.Value)
		b = appendMessage(b, 14, e)
	}
	return b, nil
}

// WriteFile encodes m and writes it atomically to path.
func WriteFile(path string, m *Model) error {
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func encodeGraph(g *Graph) ([]byte, error) {
	var b []byte
	for i, n := range g.Nodes {
		nb, err := encodeNode(n)
		if err != nil {
			return nil, fmt.Errorf("graph.node[%d] (%s): %w", i, n.Name, err)
		}
		b = appendMessage(b, 1, nb)
	}
	if g.Name != "" {
		b = appendString(b, 2, g.Name)
	}
	for i, t := range g.Initializers {
		tb, err := encodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("graph.initializer[%d]: %w", i, err)
		}
		b = appendMessage(b, 5, tb)
	}
	for _, l := range []struct {
		num protowire.Number
		vis []ValueInfo
	}{{11, g.Inputs}, {12, g.Outputs}, {13, g.ValueInfo}} {
		for _, vi := range l.vis {
			b = appendMessage(b, l.num, encodeValueInfo(vi))
		}
	}
	return b, nil
}

func encodeNode(n *Node) ([]byte, error) {
	var b []byte
	for _, s := range n.Inputs {
		b = appendString(b, 1, s)
	}
	for _, s := range n.Outputs {
		b = appendString(b, 2, s)
	}
	if n.Name != "" {
		b = appendString(b, 3, n.Name)
	}
	if n.OpType == "" {
		return nil, errors.New("missing op_type")
	}
	b = appendString(b, 4, n.OpType)
	for _, a := range n.Attrs {
		ab, err := encodeAttr(a)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		b = appendMessage(b, 5, ab)
	}
	if n.Domain != "" {
		b = appendString(b, 7, n.Domain)
	}
	return b, nil
}

func encodeAttr(a Attr) ([]byte, error) {
	if a.Name == "" {
		return nil, errors.New("attribute without a name")
	}
	b := appendString(nil, 1, a.Name)
	switch a.Type {
	case AttrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = appendInt(b, 3, a.I)
	case AttrString:
		b = appendString(b, 4, a.S)
	case AttrTensor:
		if a.T == nil {
			return nil, errors.New("TENSOR attribute with nil tensor")
		}
		tb, err := encodeTensor(a.T)
		if err != nil {
			return nil, err
		}
		b = appendMessage(b, 5, tb)
	case AttrFloats:
		// onnx.proto declares these unpacked (proto2 default).
		for _, f := range a.Floats {
			b = protowire.AppendTag(b, 7, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case AttrInts:
		for _, v := range a.Ints {
			b = appendInt(b, 8, v)
		}
	case AttrStrings:
		for _, s := range a.Strings {
			b = appendString(b, 9, s)
		}
	default:
		return nil, fmt.Errorf("cannot encode attribute type %d", a.Type)
	}
	b = appendInt(b, 20, int64(a.Type))
	return b, nil
}

func encodeValueInfo(vi ValueInfo) []byte {
	b := appendString(nil, 1, vi.Name)
	et := vi.ElemType
	if et == DataTypeUndefined {
		et = DataTypeFloat
	}
	tt := appendInt(nil, 1, int64(et))
	if vi.Shape != nil {
		var shape []byte
		for i, d := range vi.Shape {
			var dim []byte
			if d >= 0 {
				dim = appendInt(dim, 1, d)
			} else {
				dim = appendString(dim, 2, fmt.Sprintf("%s_dim%d", vi.Name, i))
			}
			shape = appendMessage(shape, 1, dim)
		}
		tt = appendMessage(tt, 2, shape)
	}
	typ := appendMessage(nil, 1, tt)
	return appendMessage(b, 2, typ)
}

// encodeTensor writes a TensorProto with raw_data in the tensor's DataType
// (FLOAT, or INT64 for integer tensors built in code).
func encodeTensor(t *Tensor) ([]byte, error) {
	dt := t.DataType
	if dt == DataTypeUndefined {
		dt = DataTypeFloat
		if t.Int64 != nil && t.Float == nil {
			dt = DataTypeInt64
		}
	}
	n := t.Numel()
	for _, d := range t.Dims {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q: negative dimension in %v", t.Name, t.Dims)
		}
	}
	var raw []byte
	switch dt {
	case DataTypeFloat, DataTypeDouble, DataTypeFloat16:
		if int64(len(t.Float)) != n {
			return nil, fmt.Errorf("tensor %q: dims %v need %d floats, have %d", t.Name, t.Dims, n, len(t.Float))
		}
		switch dt {
		case DataTypeFloat:
			raw = make([]byte, 4*n)
			for i, v := range t.Float {
				binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
			}
		case DataTypeDouble:
			raw = make([]byte, 8*n)
			for i, v := range t.Float {
				binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(float64(v)))
			}
		default:
			raw = make([]byte, 2*n)
			for i, v := range t.Float {
				binary.LittleEndian.PutUint16(raw[2*i:], tensor.Float32ToHalf(v))
			}
		}
	case DataTypeInt64, DataTypeInt32, DataTypeBool, DataTypeUint8, DataTypeInt8:
		if int64(len(t.Int64)) != n {
			return nil, fmt.Errorf("tensor %q: dims %v need %d integers, have %d", t.Name, t.Dims, n, len(t.Int64))
		}
		switch dt {
		case DataTypeInt64:
			raw = make([]byte, 8*n)
			for i, v := range t.Int64 {
				binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
			}
		case DataTypeInt32:
			raw = make([]byte, 4*n)
			for i, v := range t.Int64 {
				binary.LittleEndian.PutUint32(raw[4*i:], uint32(int32(v)))
			}
		default:
			raw = make([]byte, n)
			for i, v := range t.Int64 {
				raw[i] = byte(v)
			}
		}
	default:
		return nil, fmt.Errorf("tensor %q: cannot encode data type %s", t.Name, dt)
	}
	var b []byte
	for _, d := range t.Dims {
		b = appendInt(b, 1, d)
	}
	b = appendInt(b, 2, int64(dt))
	if t.Name != "" {
		b = appendString(b, 8, t.Name)
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	return b, nil
}
