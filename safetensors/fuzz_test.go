package safetensors

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// rawFile builds a file from a literal JSON header and data bytes, for
// seeds the encoder would not write (unordered offsets, gaps, odd shapes).
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func fuzzSeeds(tb testing.TB) [][]byte {
	r := rand.New(rand.NewPCG(51, 52))
	enc := func(meta map[string]string, ts ...Tensor) []byte {
		var buf bytes.Buffer
		if err := Encode(&buf, meta, ts); err != nil {
			tb.Fatal(err)
		}
		return buf.Bytes()
	}
	u8 := Tensor{Name: "u8", DType: "U8", Shape: []int{3}, Data: []byte{1, 2, 3}}
	i64 := Tensor{Name: "i64", DType: "I64", Shape: []int{2}, Data: make([]byte, 16)}
	scalar := Tensor{Name: "s", DType: "F64", Shape: []int{}, Data: make([]byte, 8)}
	empty := Tensor{Name: "e", DType: "BF16", Shape: []int{0, 4}, Data: nil}
	valid := [][]byte{
		enc(nil),
		enc(map[string]string{"format": "vigil", "method": "padim"}),
		enc(nil, F32("a", []int{2, 3}, []float32{1, 2, 3, 4, 5, -6.5})),
		enc(map[string]string{"k": "v"}, F32("w", []int{4}, []float32{0, -1, 1e30, 3}), F16("h", []int{2, 1}, []float32{0.5, -2}), u8, i64, scalar, empty),
	}
	seeds := append([][]byte{nil, {1, 2, 3}, make([]byte, 8),
		rawFile(`{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{1, 2, 3, 4}),
		rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}}`, []byte{9, 9, 9, 7}),
		rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, []byte{1, 2, 3}),
		rawFile(`{"__metadata__":{"k":1}}`, nil),
		rawFile(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, make([]byte, 4)),
		rawFile(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}),
		rawFile(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil),
		rawFile(`{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,1]}}`, []byte{1}),
		rawFile(`[]`, nil),
	}, valid...)
	for _, v := range valid {
		for range 6 {
			seeds = append(seeds, v[:r.IntN(len(v))])
		}
		for range 12 {
			b := bytes.Clone(v)
			for range 1 + r.IntN(3) {
				b[r.IntN(len(b))] = byte(r.IntN(256))
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzDecode: Decode never panics, and a file it accepts re-encodes to a
// file that decodes to the same metadata and tensors (names, file order,
// dtypes, shapes, bytes).
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			return
		}
		ts := make([]Tensor, len(d.Order))
		for i, name := range d.Order {
			ts[i] = d.Tensors[name]
		}
		if len(ts) != len(d.Tensors) {
			t.Fatalf("Order lists %d tensors, Tensors holds %d", len(ts), len(d.Tensors))
		}
		var buf bytes.Buffer
		if err := Encode(&buf, d.Metadata, ts); err != nil {
			t.Fatalf("accepted file does not re-encode: %v", err)
		}
		d2, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if !maps.Equal(d.Metadata, d2.Metadata) || !slices.Equal(d.Order, d2.Order) {
			t.Fatalf("metadata/order %v %v became %v %v", d.Metadata, d.Order, d2.Metadata, d2.Order)
		}
		for _, name := range d.Order {
			a, c := d.Tensors[name], d2.Tensors[name]
			if a.Name != c.Name || a.DType != c.DType || !slices.Equal(a.Shape, c.Shape) || !bytes.Equal(a.Data, c.Data) {
				t.Fatalf("tensor %q changed in the round trip: %+v -> %+v", name, a, c)
			}
		}
	})
}
