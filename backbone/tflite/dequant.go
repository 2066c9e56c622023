package tflite

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/tensor"
)

// elemSize is the byte width of the types Dequantize accepts.
func elemSize(t TensorType) int {
	switch t {
	case Uint8, Int8:
		return 1
	case Int16, Float16:
		return 2
	case Int32, Float32:
		return 4
	case Int64:
		return 8
	}
	return 0
}

// Dequantize converts the raw little-endian data of a constant tensor to
// float32. Integer types use the affine map real = scale * (q - zero_point)
// with one scale for the whole tensor or one per slice along q.Dim
// (per-channel quantisation); a zero point list of length 1 (or empty, = 0)
// is shared by all channels. INT32 biases follow the same rule (their zero
// point is 0, so real = bias_scale * q). FLOAT32/FLOAT16 data is converted
// as is. Integer data without quantisation parameters is returned as the
// plain integer values.
func Dequantize(data []byte, typ TensorType, shape []int32, q *Quantization) ([]float32, error) {
	es := elemSize(typ)
	if es == 0 {
		return nil, fmt.Errorf("cannot dequantise tensor type %v", typ)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt32/int(d) {
			return nil, fmt.Errorf("shape %v too large", shape)
		}
		n *= int(d)
	}
	if len(data) != n*es {
		return nil, fmt.Errorf("%d bytes of data for shape %v of %v (want %d)", len(data), shape, typ, n*es)
	}
	out := make([]float32, n)
	switch typ {
	case Float32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return out, nil
	case Float16:
		for i := range out {
			out[i] = tensor.HalfToFloat32(binary.LittleEndian.Uint16(data[2*i:]))
		}
		return out, nil
	}
	// Integer types: raw value at index i.
	raw := func(i int) int64 {
		switch typ {
		case Uint8:
			return int64(data[i])
		case Int8:
			return int64(int8(data[i]))
		case Int16:
			return int64(int16(binary.LittleEndian.Uint16(data[2*i:])))
		case Int32:
			return int64(int32(binary.LittleEndian.Uint32(data[4*i:])))
		default: // Int64
			return int64(binary.LittleEndian.Uint64(data[8*i:]))
		}
	}
	if q == nil || len(q.Scale) == 0 {
		for i := range out {
			out[i] = float32(raw(i))
		}
		return out, nil
	}
	nch := len(q.Scale)
	if len(q.ZeroPoint) > 1 && len(q.ZeroPoint) != nch {
		return nil, fmt.Errorf("%d zero points for %d scales", len(q.ZeroPoint), nch)
	}
	zp := func(c int) int64 {
		switch len(q.ZeroPoint) {
		case 0:
			return 0
		case 1:
			return q.ZeroPoint[0]
		}
		return q.ZeroPoint[c]
	}
	if nch == 1 {
		s, z := float64(q.Scale[0]), zp(0)
		for i := range out {
			out[i] = float32(s * float64(raw(i)-z))
		}
		return out, nil
	}
	// Per-channel: channel of element i is (i / inner) % shape[dim].
	dim := int(q.Dim)
	if dim < 0 || dim >= len(shape) || int(shape[dim]) != nch {
		return nil, fmt.Errorf("%d per-channel scales do not match dimension %d of shape %v", nch, dim, shape)
	}
	inner := 1
	for _, d := range shape[dim+1:] {
		inner *= int(d)
	}
	for i := range out {
		c := (i / inner) % nch
		out[i] = float32(float64(q.Scale[c]) * float64(raw(i)-zp(c)))
	}
	return out, nil
}
