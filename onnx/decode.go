package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/vigil-ad/vigil/tensor"
	"google.golang.org/protobuf/encoding/protowire"
)

// ReadFile reads and decodes an ONNX model file. Weights stored as external
// data (a side file) are reported as an error.
func ReadFile(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, nil
}

// Decode parses a serialized ModelProto. Unknown fields are skipped; a
// truncated or malformed message yields an error naming the field that failed.
func Decode(b []byte) (*Model, error) {
	if len(b) == 0 {
		return nil, errors.New("empty model (0 bytes)")
	}
	m := &Model{}
	err := eachField(b, "model", func(f field) error {
		switch f.num {
		case 1:
			v, err := f.varint("ir_version")
			m.IRVersion = int64(v)
			return err
		case 2:
			s, err := f.bytes("producer_name")
			m.ProducerName = string(s)
			return err
		case 7:
			s, err := f.bytes("graph")
			if err != nil {
				return err
			}
			if m.Graph == nil {
				m.Graph = &Graph{}
			}
			return decodeGraph(s, m.Graph)
		case 8:
			s, err := f.bytes("opset_import")
			if err != nil {
				return err
			}
			return decodeOpset(s, m)
		case 14:
			s, err := f.bytes("metadata_props")
			if err != nil {
				return err
			}
			var p MetadataProp
			err = eachField(s, "model.metadata_props", func(f field) error {
				switch f.num {
				case 1:
					k, err := f.bytes("key")
					p.Key = string(k)
					return err
				case 2:
					v, err := f.bytes("value")
					p.Value = string(v)
					return err
				}
				return nil
			})
			m.Metadata = append(m.Metadata, p)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if m.Graph == nil {
		return nil, errors.New("model has no graph (not an ONNX model?)")
	}
	return m, nil
}

// field is one decoded protobuf field: its number, wire type and payload.
type field struct {
	num  protowire.Number
	typ  protowire.Type
	u    uint64 // varint, fixed32 or fixed64 payload
	b    []byte // bytes payload (aliases the input)
	path string // message path for error messages
}

func (f field) wrongType(name string) error {
	return fmt.Errorf("%s.%s (field %d): unexpected wire type %d", f.path, name, f.num, f.typ)
}

func (f field) varint(name string) (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, f.wrongType(name)
	}
	return f.u, nil
}

func (f field) fixed32(name string) (uint32, error) {
	if f.typ != protowire.Fixed32Type {
		return 0, f.wrongType(name)
	}
	return uint32(f.u), nil
}

func (f field) bytes(name string) ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType(name)
	}
	return f.b, nil
}

// appendVarints appends one unpacked varint or a packed run of them.
func (f field) appendVarints(name string, dst []int64) ([]int64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(dst, int64(f.u)), nil
	case protowire.BytesType:
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("%s.%s: packed varint: %w", f.path, name, protowire.ParseError(n))
			}
			dst = append(dst, int64(v))
			b = b[n:]
		}
		return dst, nil
	}
	return nil, f.wrongType(name)
}

// appendFloats appends one unpacked fixed32 float or a packed run of them.
func (f field) appendFloats(name string, dst []float32) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.u))), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return nil, fmt.Errorf("%s.%s: packed floats of %d bytes (not a multiple of 4)", f.path, name, len(f.b))
		}
		if dst == nil {
			dst = make([]float32, 0, len(f.b)/4)
		}
		for i := 0; i < len(f.b); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(f.b[i:])))
		}
		return dst, nil
	}
	return nil, f.wrongType(name)
}

// appendDoubles appends one unpacked fixed64 double or a packed run of them.
func (f field) appendDoubles(name string, dst []float64) ([]float64, error) {
	switch f.typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(f.u)), nil
	case protowire.BytesType:
		if len(f.b)%8 != 0 {
			return nil, fmt.Errorf("%s.%s: packed doubles of %d bytes (not a multiple of 8)", f.path, name, len(f.b))
		}
		for i := 0; i < len(f.b); i += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(f.b[i:])))
		}
		return dst, nil
	}
	return nil, f.wrongType(name)
}

// eachField walks the fields of one message, calling fn for each. Groups
// (deprecated) are skipped; any truncation is an error.
func eachField(b []byte, path string, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%s: bad field tag: %w", path, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ, path: path}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%s: field %d: %w", path, num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func decodeOpset(b []byte, m *Model) error {
	var domain string
	var version int64
	err := eachField(b, "model.opset_import", func(f field) error {
		switch f.num {
		case 1:
			s, err := f.bytes("domain")
			domain = string(s)
			return err
		case 2:
			v, err := f.varint("version")
			version = int64(v)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if domain == "" || domain == "ai.onnx" {
		m.OpsetVersion = version
	}
	return nil
}

func decodeGraph(b []byte, g *Graph) error {
	return eachField(b, "graph", func(f field) error {
		switch f.num {
		case 1:
			s, err := f.bytes("node")
			if err != nil {
				return err
			}
			n, err := decodeNode(s, fmt.Sprintf("graph.node[%d]", len(g.Nodes)))
			if err != nil {
				return err
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			s, err := f.bytes("name")
			g.Name = string(s)
			return err
		case 5:
			s, err := f.bytes("initializer")
			if err != nil {
				return err
			}
			t, err := decodeTensor(s, fmt.Sprintf("graph.initializer[%d]", len(g.Initializers)))
			if err != nil {
				return err
			}
			g.Initializers = append(g.Initializers, t)
		case 11, 12, 13:
			name := map[protowire.Number]string{11: "input", 12: "output", 13: "value_info"}[f.num]
			s, err := f.bytes(name)
			if err != nil {
				return err
			}
			vi, err := decodeValueInfo(s, "graph."+name)
			if err != nil {
				return err
			}
			switch f.num {
			case 11:
				g.Inputs = append(g.Inputs, vi)
			case 12:
				g.Outputs = append(g.Outputs, vi)
			default:
				g.ValueInfo = append(g.ValueInfo, vi)
			}
		case 15:
			return errors.New("graph.sparse_initializer: sparse initializers are not supported")
		}
		return nil
	})
}

func decodeNode(b []byte, path string) (*Node, error) {
	n := &Node{}
	err := eachField(b, path, func(f field) error {
		switch f.num {
		case 1:
			s, err := f.bytes("input")
			n.Inputs = append(n.Inputs, string(s))
			return err
		case 2:
			s, err := f.bytes("output")
			n.Outputs = append(n.Outputs, string(s))
			return err
		case 3:
			s, err := f.bytes("name")
			n.Name = string(s)
			return err
		case 4:
			s, err := f.bytes("op_type")
			n.OpType = string(s)
			return err
		case 5:
			s, err := f.bytes("attribute")
			if err != nil {
				return err
			}
			a, err := decodeAttr(s, fmt.Sprintf("%s.attribute[%d]", path, len(n.Attrs)))
			if err != nil {
				return err
			}
			n.Attrs = append(n.Attrs, a)
		case 7:
			s, err := f.bytes("domain")
			n.Domain = string(s)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n.OpType == "" {
		return nil, fmt.Errorf("%s (name %q): missing op_type", path, n.Name)
	}
	return n, nil
}

func decodeAttr(b []byte, path string) (Attr, error) {
	var a Attr
	var seen AttrType // inferred type for files that omit the type field
	err := eachField(b, path, func(f field) error {
		var err error
		switch f.num {
		case 1:
			var s []byte
			s, err = f.bytes("name")
			a.Name = string(s)
		case 20:
			var v uint64
			v, err = f.varint("type")
			a.Type = AttrType(v)
		case 2:
			var v uint32
			v, err = f.fixed32("f")
			a.F = math.Float32frombits(v)
			seen = AttrFloat
		case 3:
			var v uint64
			v, err = f.varint("i")
			a.I = int64(v)
			seen = AttrInt
		case 4:
			var s []byte
			s, err = f.bytes("s")
			a.S = string(s)
			seen = AttrString
		case 5:
			var s []byte
			if s, err = f.bytes("t"); err == nil {
				a.T, err = decodeTensor(s, path+".t")
			}
			seen = AttrTensor
		case 6:
			seen = AttrGraph
		case 7:
			a.Floats, err = f.appendFloats("floats", a.Floats)
			seen = AttrFloats
		case 8:
			a.Ints, err = f.appendVarints("ints", a.Ints)
			seen = AttrInts
		case 9:
			var s []byte
			s, err = f.bytes("strings")
			a.Strings = append(a.Strings, string(s))
			seen = AttrStrings
		}
		return err
	})
	if err != nil {
		return Attr{}, err
	}
	if a.Type == AttrUndefined {
		a.Type = seen
	}
	if a.Name == "" {
		return Attr{}, fmt.Errorf("%s: attribute without a name", path)
	}
	return a, nil
}

func decodeValueInfo(b []byte, path string) (ValueInfo, error) {
	var vi ValueInfo
	err := eachField(b, path, func(f field) error {
		switch f.num {
		case 1:
			s, err := f.bytes("name")
			vi.Name = string(s)
			return err
		case 2:
			s, err := f.bytes("type")
			if err != nil {
				return err
			}
			return decodeType(s, path+".type", &vi)
		}
		return nil
	})
	return vi, err
}

func decodeType(b []byte, path string, vi *ValueInfo) error {
	return eachField(b, path, func(f field) error {
		if f.num != 1 { // only tensor_type matters; sequences/maps are skipped
			return nil
		}
		s, err := f.bytes("tensor_type")
		if err != nil {
			return err
		}
		return eachField(s, path+".tensor_type", func(f field) error {
			switch f.num {
			case 1:
				v, err := f.varint("elem_type")
				vi.ElemType = DataType(v)
				return err
			case 2:
				s, err := f.bytes("shape")
				if err != nil {
					return err
				}
				vi.Shape = []int64{}
				return eachField(s, path+".tensor_type.shape", func(f field) error {
					if f.num != 1 {
						return nil
					}
					d, err := f.bytes("dim")
					if err != nil {
						return err
					}
					dim := int64(-1)
					err = eachField(d, path+".tensor_type.shape.dim", func(f field) error {
						if f.num == 1 {
							v, err := f.varint("dim_value")
							if int64(v) >= 0 {
								dim = int64(v)
							}
							return err
						}
						return nil
					})
					vi.Shape = append(vi.Shape, dim)
					return err
				})
			}
			return nil
		})
	})
}

// decodeTensor parses a TensorProto and converts its payload to Float or
// Int64, checking the declared dims against the data before allocating.
func decodeTensor(b []byte, path string) (*Tensor, error) {
	t := &Tensor{}
	var (
		raw        []byte
		hasRaw     bool
		floatData  []float32
		int32Data  []int64
		int64Data  []int64
		doubleData []float64
		external   bool
		typeSet    bool
	)
	err := eachField(b, path, func(f field) error {
		var err error
		switch f.num {
		case 1:
			t.Dims, err = f.appendVarints("dims", t.Dims)
		case 2:
			var v uint64
			v, err = f.varint("data_type")
			t.DataType = DataType(v)
			typeSet = true
		case 4:
			floatData, err = f.appendFloats("float_data", floatData)
		case 5:
			int32Data, err = f.appendVarints("int32_data", int32Data)
		case 7:
			int64Data, err = f.appendVarints("int64_data", int64Data)
		case 8:
			var s []byte
			s, err = f.bytes("name")
			t.Name = string(s)
		case 9:
			raw, err = f.bytes("raw_data")
			hasRaw = true
		case 10:
			doubleData, err = f.appendDoubles("double_data", doubleData)
		case 13:
			external = true
		case 14:
			var v uint64
			v, err = f.varint("data_location")
			if v == 1 {
				external = true
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if t.Name != "" {
		path = fmt.Sprintf("%s (%q)", path, t.Name)
	}
	if external {
		return nil, fmt.Errorf("%s: weights stored as external data are not supported; re-export the model with all weights inside the .onnx file", path)
	}
	if !typeSet {
		return nil, fmt.Errorf("%s: missing data_type", path)
	}
	numel := int64(1)
	for _, d := range t.Dims {
		if d < 0 {
			return nil, fmt.Errorf("%s: negative dimension in dims %v", path, t.Dims)
		}
		if d != 0 && numel > math.MaxInt32/d {
			return nil, fmt.Errorf("%s: dims %v describe too many elements", path, t.Dims)
		}
		numel *= d
	}
	n := int(numel)
	// check verifies that exactly one data source holds n elements of size
	// esize bytes (raw) or n typed values; it runs before any allocation.
	check := func(esize int, typedLen int) error {
		if hasRaw {
			if len(raw) != n*esize {
				return fmt.Errorf("%s: dims %v need %d bytes of %s raw_data, file has %d", path, t.Dims, n*esize, t.DataType, len(raw))
			}
			return nil
		}
		if typedLen != n {
			return fmt.Errorf("%s: dims %v need %d %s values, file has %d", path, t.Dims, n, t.DataType, typedLen)
		}
		return nil
	}
	switch t.DataType {
	case DataTypeFloat:
		if err := check(4, len(floatData)); err != nil {
			return nil, err
		}
		if hasRaw {
			t.Float = make([]float32, n)
			for i := range t.Float {
				t.Float[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			t.Float = append(make([]float32, 0, n), floatData...)
		}
	case DataTypeDouble:
		if err := check(8, len(doubleData)); err != nil {
			return nil, err
		}
		t.Float = make([]float32, n)
		for i := range t.Float {
			if hasRaw {
				t.Float[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			} else {
				t.Float[i] = float32(doubleData[i])
			}
		}
	case DataTypeFloat16:
		if err := check(2, len(int32Data)); err != nil {
			return nil, err
		}
		t.Float = make([]float32, n)
		for i := range t.Float {
			var h uint16
			if hasRaw {
				h = binary.LittleEndian.Uint16(raw[2*i:])
			} else {
				h = uint16(int32Data[i])
			}
			t.Float[i] = tensor.HalfToFloat32(h)
		}
	case DataTypeInt64:
		if err := check(8, len(int64Data)); err != nil {
			return nil, err
		}
		if hasRaw {
			t.Int64 = make([]int64, n)
			for i := range t.Int64 {
				t.Int64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			t.Int64 = append(make([]int64, 0, n), int64Data...)
		}
	case DataTypeInt32:
		if err := check(4, len(int32Data)); err != nil {
			return nil, err
		}
		t.Int64 = make([]int64, n)
		for i := range t.Int64 {
			if hasRaw {
				t.Int64[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			} else {
				t.Int64[i] = int64(int32(int32Data[i]))
			}
		}
	case DataTypeBool, DataTypeUint8, DataTypeInt8:
		if err := check(1, len(int32Data)); err != nil {
			return nil, err
		}
		t.Int64 = make([]int64, n)
		for i := range t.Int64 {
			var v int64
			if hasRaw {
				v = int64(raw[i])
				if t.DataType == DataTypeInt8 {
					v = int64(int8(raw[i]))
				}
			} else {
				v = int64(int32(int32Data[i]))
			}
			t.Int64[i] = v
		}
	default:
		// Kept without data: only an error if the executor needs it.
	}
	return t, nil
}
