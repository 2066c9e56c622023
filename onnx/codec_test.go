package onnx

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// smallModel exercises every attribute kind and both tensor kinds.
func smallModel() *Model {
	r := rand.New(rand.NewPCG(1, 2))
	b := NewBuilder("small")
	b.Input("x", 1, 3, 8, -1)
	b.Initializer("w", []int{4, 3, 3, 3}, randFloats(r, 4*3*3*3))
	b.Initializer("s", nil, []float32{2.5})
	b.InitializerInt64("shape", []int{2}, []int64{1, -1})
	b.Node("Conv", "conv", []string{"x", "w", ""}, []string{"c"}, IntsAttr("pads", 1, 1, 1, 1), IntAttr("group", 1), StringAttr("auto_pad", "NOTSET"))
	b.Node("Constant", "k", nil, []string{"kc"}, TensorAttr("value", &Tensor{Dims: []int64{1}, Float: []float32{-0.5}, DataType: DataTypeFloat}))
	b.Node("Weird", "w", []string{"c"}, []string{"y", "z"}, FloatAttr("alpha", -1.25), FloatsAttr("scales", 1, 2.5), StringsAttr("names", "a", "b"), IntAttr("neg", -7))
	b.Output("y", 1, 4, 8, 8)
	return b.Model()
}

func TestRoundTrip(t *testing.T) {
	m := smallModel()
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, got) {
		t.Fatalf("round trip differs:\n%+v\n%+v", m.Graph, got.Graph)
	}
	enc2, err := got.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != string(enc2) {
		t.Fatal("re-encoding is not byte-identical")
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := WriteFile(path, m); err != nil {
		t.Fatal(err)
	}
	got, err = ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, got) {
		t.Fatal("file round trip differs")
	}
}

// tensorBytes hand-encodes a TensorProto with the given pieces.
func tensorBytes(dims []int64, dt DataType, name string, extra func([]byte) []byte) []byte {
	var b []byte
	for _, d := range dims {
		b = appendInt(b, 1, d)
	}
	b = appendInt(b, 2, int64(dt))
	b = appendString(b, 8, name)
	return extra(b)
}

func modelWithInitializer(tb []byte) []byte {
	g := appendMessage(nil, 5, tb)
	return appendMessage(appendInt(nil, 1, 8), 7, g)
}

func TestDecodeTypedData(t *testing.T) {
	// Packed float_data, unpacked dims, int32_data and double_data and
	// float16 raw data must all decode to the engine's two element kinds.
	cases := []struct {
		name  string
		tb    []byte
		float []float32
		ints  []int64
	}{
		{"float_data", tensorBytes([]int64{2}, DataTypeFloat, "a", func(b []byte) []byte {
			var p []byte
			p = protowire.AppendFixed32(p, math.Float32bits(1.5))
			p = protowire.AppendFixed32(p, math.Float32bits(-2))
			return appendMessage(b, 4, p)
		}), []float32{1.5, -2}, nil},
		{"int32_data", tensorBytes([]int64{3}, DataTypeInt32, "b", func(b []byte) []byte {
			var p []byte
			for _, v := range []int64{1, -1, 7} {
				p = protowire.AppendVarint(p, uint64(v))
			}
			return appendMessage(b, 5, p)
		}), nil, []int64{1, -1, 7}},
		{"int64_data unpacked", tensorBytes([]int64{2}, DataTypeInt64, "c", func(b []byte) []byte {
			return appendInt(appendInt(b, 7, -3), 7, 1<<40)
		}), nil, []int64{-3, 1 << 40}},
		{"double_data", tensorBytes([]int64{1}, DataTypeDouble, "d", func(b []byte) []byte {
			b = protowire.AppendTag(b, 10, protowire.Fixed64Type)
			return protowire.AppendFixed64(b, math.Float64bits(0.25))
		}), []float32{0.25}, nil},
		{"float16 raw", tensorBytes([]int64{2}, DataTypeFloat16, "e", func(b []byte) []byte {
			return appendMessage(b, 9, []byte{0x00, 0x3c, 0x00, 0xc0}) // 1.0, -2.0
		}), []float32{1, -2}, nil},
		{"int32 raw", tensorBytes([]int64{1}, DataTypeInt32, "f", func(b []byte) []byte {
			return appendMessage(b, 9, []byte{0xfe, 0xff, 0xff, 0xff})
		}), nil, []int64{-2}},
	}
	for _, c := range cases {
		m, err := Decode(modelWithInitializer(c.tb))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tt := m.Graph.Initializers[0]
		if !reflect.DeepEqual(tt.Float, c.float) || !reflect.DeepEqual(tt.Int64, c.ints) {
			t.Fatalf("%s: got float %v ints %v", c.name, tt.Float, tt.Int64)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := smallModel().Encode()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"dims vs raw", modelWithInitializer(tensorBytes([]int64{2, 3}, DataTypeFloat, "w", func(b []byte) []byte {
			return appendMessage(b, 9, make([]byte, 20))
		})), "need 24 bytes"},
		{"dims vs float_data", modelWithInitializer(tensorBytes([]int64{1 << 20}, DataTypeFloat, "w", func(b []byte) []byte {
			return appendMessage(b, 4, make([]byte, 8))
		})), "need 1048576"},
		{"huge dims", modelWithInitializer(tensorBytes([]int64{1 << 40, 1 << 40}, DataTypeFloat, "w", func(b []byte) []byte { return b })), "too many"},
		{"negative dims", modelWithInitializer(tensorBytes([]int64{-4}, DataTypeFloat, "w", func(b []byte) []byte { return b })), "negative"},
		{"external", modelWithInitializer(tensorBytes([]int64{1}, DataTypeFloat, "w", func(b []byte) []byte {
			return appendInt(b, 14, 1)
		})), "external data"},
		{"no graph", appendInt(nil, 1, 8), "no graph"},
		{"wrong wire type", appendInt(nil, 7, 3), "graph"},
	}
	for i := 1; i < len(good); i += len(good) / 7 {
		cases = append(cases, struct {
			name string
			b    []byte
			want string
		}{"truncated", good[:i], ""})
	}
	for _, c := range cases {
		_, err := Decode(c.b)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
	// ReadFile names the file.
	path := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(path, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "bad.onnx") {
		t.Fatalf("ReadFile error %v does not name the file", err)
	}
}

func FuzzDecode(f *testing.F) {
	good, err := smallModel().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add(modelWithInitializer(tensorBytes([]int64{2}, DataTypeInt64, "s", func(b []byte) []byte {
		return appendMessage(b, 9, make([]byte, 16))
	})))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode (or fail cleanly) and decode again.
		if enc, err := m.Encode(); err == nil {
			if _, err := Decode(enc); err != nil {
				t.Fatalf("re-decoding an encoded model failed: %v", err)
			}
		}
	})
}
