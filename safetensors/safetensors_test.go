package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	a := F32("a", []int{2, 3}, []float32{1, 2, 3, 4, 5, -6.5})
	b := F16("b", []int{3}, []float32{0.5, -2, 65504})
	if err := Encode(&buf, map[string]string{"k": "v"}, []Tensor{a, b}); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	if n := binary.LittleEndian.Uint64(raw); (n % 8) != 0 {
		t.Fatalf("header length %d not 8-aligned", n)
	}
	f, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["k"] != "v" || len(f.Order) != 2 || f.Order[0] != "a" {
		t.Fatalf("bad decode: %+v", f)
	}
	va, _ := f.Tensors["a"].Float32s()
	vb, _ := f.Tensors["b"].Float32s()
	if va[5] != -6.5 || vb[0] != 0.5 || vb[1] != -2 || vb[2] != 65504 {
		t.Fatalf("values: %v %v", va, vb)
	}
}

func TestDecodeRefuses(t *testing.T) {
	var buf bytes.Buffer
	Encode(&buf, nil, []Tensor{F32("a", []int{4}, []float32{1, 2, 3, 4})})
	raw := buf.Bytes()
	for n := 0; n < len(raw); n += 3 {
		if _, err := Decode(raw[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := Decode(raw[:len(raw)-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("want ErrTruncated, got %v", err)
	}
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	if _, err := Decode(huge); err == nil {
		t.Fatal("huge header length accepted")
	}
	bad := []byte(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`)
	hdr := make([]byte, 8)
	binary.LittleEndian.PutUint64(hdr, uint64(len(bad)))
	if _, err := Decode(append(append(hdr, bad...), make([]byte, 16)...)); err == nil {
		t.Fatal("offsets inconsistent with shape accepted")
	}
}

// Empty tensors hold no bytes: one may share its offset with a tensor that
// does (as Encode writes them) without counting as an overlap, and file
// order puts it first whatever the header's key order. A tensor named ""
// is refused, as Encode refuses to write one.
func TestDecodeEmptyTensorsAndNames(t *testing.T) {
	for _, hdr := range []string{
		`{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`,
		`{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`,
	} {
		for range 20 { // map iteration order varies between runs
			f, err := Decode(rawFile(hdr, []byte{1, 2}))
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Order) != 2 || f.Order[0] != "e" || f.Order[1] != "w" {
				t.Fatalf("order %v, want [e w]", f.Order)
			}
		}
	}
	if _, err := Decode(rawFile(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1})); err == nil {
		t.Fatal("tensor with an empty name accepted")
	}
	if _, err := Decode(rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, []byte{1, 2, 3})); err == nil {
		t.Fatal("overlapping tensors accepted")
	}
}
