// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header mapping tensor names to dtype,
// shape and byte offsets (plus an optional "__metadata__" string map), then
// the raw little-endian tensor bytes. WriteFile is atomic.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/vigil-ad/vigil/internal/atomicfile"
	"github.com/vigil-ad/vigil/tensor"
)

// MaxHeader bounds the JSON header so a corrupt length cannot make us
// allocate gigabytes.
const MaxHeader = 100 << 20

// Tensor is one named tensor. Data holds the raw little-endian bytes.
type Tensor struct {
	Name  string
	DType string // "F32", "F16", "I64", "I32", "U8", ...
	Shape []int
	Data  []byte
}

// File is a decoded safetensors file.
type File struct {
	Metadata map[string]string
	Tensors  map[string]Tensor
	Order    []string // tensor names in file order
}

var dtypeSize = map[string]int{"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

// F32 builds a float32 tensor, copying v into little-endian bytes.
func F32(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: "F32", Shape: append([]int(nil), shape...), Data: b}
}

// F16 builds a half-precision tensor from v (rounded to nearest even).
func F16(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], tensor.Float32ToHalf(x))
	}
	return Tensor{Name: name, DType: "F16", Shape: append([]int(nil), shape...), Data: b}
}

// Float32s decodes an F32 or F16 tensor to float32 values.
func (t Tensor) Float32s() ([]float32, error) {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	switch t.DType {
	case "F32":
		if len(t.Data) != 4*n {
			return nil, fmt.Errorf("tensor %q: %d bytes for shape %v", t.Name, len(t.Data), t.Shape)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
		return v, nil
	case "F16":
		if len(t.Data) != 2*n {
			return nil, fmt.Errorf("tensor %q: %d bytes for shape %v", t.Name, len(t.Data), t.Shape)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = tensor.HalfToFloat32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
		return v, nil
	}
	return nil, fmt.Errorf("tensor %q: dtype %s is not a float type", t.Name, t.DType)
}

type entry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// Encode writes the file to w. Tensors are stored in the given order.
func Encode(w io.Writer, meta map[string]string, tensors []Tensor) error {
	hdr := map[string]any{}
	if len(meta) > 0 {
		hdr["__metadata__"] = meta
	}
	off := 0
	seen := map[string]bool{}
	for _, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" || seen[t.Name] {
			return fmt.Errorf("safetensors: bad or duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		sz := dtypeSize[t.DType]
		if sz == 0 {
			return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		n := 1
		for _, s := range t.Shape {
			if s < 0 {
				return fmt.Errorf("safetensors: tensor %q: negative dimension in %v", t.Name, t.Shape)
			}
			n *= s
		}
		if n*sz != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		hdr[t.Name] = entry{DType: t.DType, Shape: shape, Offsets: [2]int{off, off + len(t.Data)}}
		off += len(t.Data)
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	// Pad the header with spaces to 8 bytes so tensor data is aligned.
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(js)))
	if _, err := w.Write(lenb[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes the file atomically (see internal/atomicfile): an
// interrupted write never leaves a partial file at path.
func WriteFile(path string, meta map[string]string, tensors []Tensor) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Encode(w, meta, tensors) })
}

// ReadFile reads and validates a whole safetensors file.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ErrTruncated reports a file shorter than its header says.
var ErrTruncated = errors.New("safetensors: file is truncated")

// Decode parses a safetensors file held in b. Tensor data aliases b.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: %d bytes, need at least 8", ErrTruncated, len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > MaxHeader {
		return nil, fmt.Errorf("safetensors: header length %d exceeds limit %d (not a safetensors file?)", n, MaxHeader)
	}
	if uint64(len(b)-8) < n {
		return nil, fmt.Errorf("%w: header says %d bytes, only %d present", ErrTruncated, n, len(b)-8)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("safetensors: bad JSON header: %v", err)
	}
	data := b[8+n:]
	f := &File{Metadata: map[string]string{}, Tensors: map[string]Tensor{}}
	type span struct {
		name   string
		lo, hi int
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		if name == "" {
			return nil, errors.New("safetensors: tensor with an empty name")
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %v", name, err)
		}
		sz := dtypeSize[e.DType]
		if sz == 0 {
			return nil, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", name, e.DType)
		}
		cnt := 1
		for _, s := range e.Shape {
			if s < 0 || (s > 0 && cnt > math.MaxInt32/s) {
				return nil, fmt.Errorf("safetensors: tensor %q: bad shape %v", name, e.Shape)
			}
			cnt *= s
		}
		lo, hi := e.Offsets[0], e.Offsets[1]
		if lo < 0 || hi < lo || hi-lo != cnt*sz {
			return nil, fmt.Errorf("safetensors: tensor %q: offsets [%d,%d) do not match shape %v of %s", name, lo, hi, e.Shape, e.DType)
		}
		if hi > len(data) {
			return nil, fmt.Errorf("%w: tensor %q needs bytes up to %d, file has %d", ErrTruncated, name, hi, len(data))
		}
		f.Tensors[name] = Tensor{Name: name, DType: e.DType, Shape: e.Shape, Data: data[lo:hi]}
		spans = append(spans, span{name, lo, hi})
	}
	// File order is offset order; empty tensors, which may share an offset
	// with others, come first there and among themselves by name, so the
	// order does not depend on map iteration.
	sort.Slice(spans, func(i, j int) bool {
		a, b := spans[i], spans[j]
		if a.lo != b.lo {
			return a.lo < b.lo
		}
		if a.hi != b.hi {
			return a.hi < b.hi
		}
		return a.name < b.name
	})
	end, last := 0, ""
	for _, s := range spans {
		if s.hi == s.lo {
			continue // holds no bytes, so overlaps nothing
		}
		if s.lo < end {
			return nil, fmt.Errorf("safetensors: tensors %q and %q overlap", last, s.name)
		}
		end, last = s.hi, s.name
	}
	for _, s := range spans {
		f.Order = append(f.Order, s.name)
	}
	return f, nil
}
