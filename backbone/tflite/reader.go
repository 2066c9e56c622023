package tflite

import (
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"
)

// A flatbuffer is a graph of offsets into one byte slice. The generated Go
// accessors trust those offsets and panic on a corrupt file, so Vigil reads
// through this small checked layer instead: every table, vtable, field,
// vector and string is range-checked against the buffer before the
// flatbuffers runtime decodes it.

// reader wraps the whole file.
type reader struct {
	buf []byte
}

// table is a validated flatbuffer table: pos is the table start, vt its
// vtable and vtLen the vtable length in bytes.
type table struct {
	r     *reader
	pos   int
	vt    int
	vtLen int
}

// fits reports whether n bytes starting at off lie inside the buffer.
func (r *reader) fits(off, n int) bool {
	return off >= 0 && n >= 0 && off <= len(r.buf) && n <= len(r.buf)-off
}

// root returns the root table of the buffer.
func (r *reader) root() (table, error) {
	if len(r.buf) < 8 {
		return table{}, fmt.Errorf("file too short (%d bytes)", len(r.buf))
	}
	return r.tableAt(int(flatbuffers.GetUOffsetT(r.buf)))
}

// tableAt validates the table header and vtable at pos.
func (r *reader) tableAt(pos int) (table, error) {
	if !r.fits(pos, 4) {
		return table{}, fmt.Errorf("table offset %d out of range", pos)
	}
	vt := pos - int(flatbuffers.GetSOffsetT(r.buf[pos:]))
	if !r.fits(vt, 4) {
		return table{}, fmt.Errorf("vtable offset %d out of range", vt)
	}
	vtLen := int(flatbuffers.GetVOffsetT(r.buf[vt:]))
	objLen := int(flatbuffers.GetVOffsetT(r.buf[vt+2:]))
	if vtLen < 4 || vtLen%2 != 0 || !r.fits(vt, vtLen) {
		return table{}, fmt.Errorf("vtable at %d has bad length %d", vt, vtLen)
	}
	if !r.fits(pos, objLen) {
		return table{}, fmt.Errorf("table at %d has bad size %d", pos, objLen)
	}
	return table{r: r, pos: pos, vt: vt, vtLen: vtLen}, nil
}

// field returns the absolute position of field i (0-based, schema order)
// holding size bytes, or -1 when the field is absent.
func (t table) field(i, size int) (int, error) {
	slot := 4 + 2*i
	if slot+2 > t.vtLen {
		return -1, nil
	}
	off := int(flatbuffers.GetVOffsetT(t.r.buf[t.vt+slot:]))
	if off == 0 {
		return -1, nil
	}
	p := t.pos + off
	if !t.r.fits(p, size) {
		return -1, fmt.Errorf("field %d at %d out of range", i, p)
	}
	return p, nil
}

func (t table) u8(i int, def uint8) (uint8, error) {
	p, err := t.field(i, 1)
	if err != nil || p < 0 {
		return def, err
	}
	return flatbuffers.GetUint8(t.r.buf[p:]), nil
}

func (t table) i32(i int, def int32) (int32, error) {
	p, err := t.field(i, 4)
	if err != nil || p < 0 {
		return def, err
	}
	return flatbuffers.GetInt32(t.r.buf[p:]), nil
}

func (t table) u32(i int, def uint32) (uint32, error) {
	p, err := t.field(i, 4)
	if err != nil || p < 0 {
		return def, err
	}
	return flatbuffers.GetUint32(t.r.buf[p:]), nil
}

func (t table) u64(i int, def uint64) (uint64, error) {
	p, err := t.field(i, 8)
	if err != nil || p < 0 {
		return def, err
	}
	return flatbuffers.GetUint64(t.r.buf[p:]), nil
}

func (t table) f32(i int, def float32) (float32, error) {
	p, err := t.field(i, 4)
	if err != nil || p < 0 {
		return def, err
	}
	return flatbuffers.GetFloat32(t.r.buf[p:]), nil
}

// indirect follows the uoffset stored at field i; -1 when absent.
func (t table) indirect(i int) (int, error) {
	p, err := t.field(i, 4)
	if err != nil || p < 0 {
		return -1, err
	}
	return p + int(flatbuffers.GetUOffsetT(t.r.buf[p:])), nil
}

// vector returns the start of the elements and the element count of the
// vector at field i, checking that n elements of elemSize bytes fit.
// An absent field is an empty vector.
func (t table) vector(i, elemSize int) (start, n int, err error) {
	p, err := t.indirect(i)
	if err != nil || p < 0 {
		return 0, 0, err
	}
	if !t.r.fits(p, 4) {
		return 0, 0, fmt.Errorf("field %d: vector offset %d out of range", i, p)
	}
	n = int(flatbuffers.GetUint32(t.r.buf[p:]))
	start = p + 4
	if n > (len(t.r.buf)-start)/elemSize {
		return 0, 0, fmt.Errorf("field %d: vector of %d elements at %d overruns the file", i, n, p)
	}
	return start, n, nil
}

// tableVector returns the tables of the vector at field i.
func (t table) tableVector(i int) ([]table, error) {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return nil, err
	}
	out := make([]table, n)
	for k := range n {
		p := start + 4*k
		tt, err := t.r.tableAt(p + int(flatbuffers.GetUOffsetT(t.r.buf[p:])))
		if err != nil {
			return nil, fmt.Errorf("field %d element %d: %w", i, k, err)
		}
		out[k] = tt
	}
	return out, nil
}

// subTable returns the table referenced by field i; ok is false when absent.
func (t table) subTable(i int) (tt table, ok bool, err error) {
	p, err := t.indirect(i)
	if err != nil || p < 0 {
		return table{}, false, err
	}
	tt, err = t.r.tableAt(p)
	if err != nil {
		return table{}, false, fmt.Errorf("field %d: %w", i, err)
	}
	return tt, true, nil
}

func (t table) int32s(i int) ([]int32, error) {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return nil, err
	}
	out := make([]int32, n)
	for k := range out {
		out[k] = flatbuffers.GetInt32(t.r.buf[start+4*k:])
	}
	return out, nil
}

func (t table) int64s(i int) ([]int64, error) {
	start, n, err := t.vector(i, 8)
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	for k := range out {
		out[k] = flatbuffers.GetInt64(t.r.buf[start+8*k:])
	}
	return out, nil
}

func (t table) float32s(i int) ([]float32, error) {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for k := range out {
		out[k] = flatbuffers.GetFloat32(t.r.buf[start+4*k:])
	}
	return out, nil
}

// bytes returns the byte vector at field i as a sub-slice (not copied).
func (t table) bytes(i int) ([]byte, error) {
	start, n, err := t.vector(i, 1)
	if err != nil {
		return nil, err
	}
	return t.r.buf[start : start+n : start+n], nil
}

func (t table) str(i int) (string, error) {
	b, err := t.bytes(i)
	return string(b), err
}
