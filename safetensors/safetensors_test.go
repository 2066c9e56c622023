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
