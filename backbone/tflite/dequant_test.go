package tflite

import (
	"math"
	"testing"
)

func near(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6*(1+math.Abs(float64(b))) }

func TestDequantizeHandComputed(t *testing.T) {
	cases := []struct {
		name  string
		data  []byte
		typ   TensorType
		shape []int32
		q     *Quantization
		want  []float32
	}{
		{"uint8 per-tensor", []byte{0, 128, 255, 130}, Uint8, []int32{4},
			&Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{128}}, []float32{-64, 0, 63.5, 1}},
		{"int8 per-channel dim0", []byte{0xfd, 5, 1, 0xff}, Int8, []int32{2, 2},
			&Quantization{Scale: []float32{0.1, 2}, ZeroPoint: []int64{0, -1}}, []float32{-0.3, 0.5, 4, 0}},
		{"uint8 per-channel last dim", []byte{10, 10, 10, 20, 20, 20}, Uint8, []int32{1, 1, 2, 3},
			&Quantization{Scale: []float32{1, 2, 3}, ZeroPoint: []int64{10}, Dim: 3}, []float32{0, 0, 0, 10, 20, 30}},
		{"int32 bias", int32Bytes([]int32{100, -8}), Int32, []int32{2},
			&Quantization{Scale: []float32{0.25}, ZeroPoint: []int64{0}}, []float32{25, -2}},
		{"int32 per-channel bias", int32Bytes([]int32{100, -8}), Int32, []int32{2},
			&Quantization{Scale: []float32{0.25, 0.5}}, []float32{25, -4}},
		{"float32", float32Bytes([]float32{1.5, -2}), Float32, []int32{2}, nil, []float32{1.5, -2}},
		{"float16", []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x80}, Float16, []int32{4}, nil,
			[]float32{1, -2, 1.0 / (1 << 24), 0}},
		{"int32 shape without quantisation", int32Bytes([]int32{1, -1}), Int32, []int32{2}, nil, []float32{1, -1}},
	}
	for _, c := range cases {
		got, err := Dequantize(c.data, c.typ, c.shape, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: got %v", c.name, got)
		}
		for i := range got {
			if !near(got[i], c.want[i]) {
				t.Fatalf("%s: got %v want %v", c.name, got, c.want)
			}
		}
	}
}

func TestDequantizeErrors(t *testing.T) {
	if _, err := Dequantize([]byte{1, 2, 3}, Uint8, []int32{4}, nil); err == nil {
		t.Error("short data accepted")
	}
	if _, err := Dequantize([]byte{1, 2, 3, 4}, Uint8, []int32{2, 2},
		&Quantization{Scale: []float32{1, 2, 3}, Dim: 0}); err == nil {
		t.Error("3 scales for a dimension of 2 accepted")
	}
	if _, err := Dequantize([]byte{1, 2, 3, 4}, Uint8, []int32{2, 2},
		&Quantization{Scale: []float32{1, 2}, ZeroPoint: []int64{0, 0, 0}}); err == nil {
		t.Error("3 zero points for 2 scales accepted")
	}
	if _, err := Dequantize([]byte{1, 2, 3, 4}, Uint8, []int32{2, 2},
		&Quantization{Scale: []float32{1, 2}, Dim: 7}); err == nil {
		t.Error("quantized_dimension out of range accepted")
	}
	if _, err := Dequantize([]byte{1}, TensorType(5), []int32{1}, nil); err == nil {
		t.Error("STRING tensor accepted")
	}
	if _, err := Dequantize(nil, Uint8, []int32{-1}, nil); err == nil {
		t.Error("negative dimension accepted")
	}
}
