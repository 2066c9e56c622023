package tensor

import (
	"fmt"
	"slices"
)

// Reshape returns a view sharing t.Data with a new shape; one dimension may
// be -1 and is inferred. It panics when the element counts differ.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	s := append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range s {
		switch {
		case d == -1:
			if infer >= 0 {
				panic(fmt.Sprintf("tensor.Reshape: more than one -1 in %v", shape))
			}
			infer = i
		case d < 0:
			panic(fmt.Sprintf("tensor.Reshape: negative dimension in %v", shape))
		default:
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || len(t.Data)%known != 0 {
			panic(fmt.Sprintf("tensor.Reshape: cannot infer -1 in %v from %d elements", shape, len(t.Data)))
		}
		s[infer] = len(t.Data) / known
	} else if known != len(t.Data) {
		panic(fmt.Sprintf("tensor.Reshape: shape %v has %d elements, tensor %v has %d", shape, known, t.Shape, len(t.Data)))
	}
	return &Tensor{Shape: s, Data: t.Data}
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Fill sets every element to v.
func (t *Tensor) Fill(v float32) {
	if v == 0 {
		clear(t.Data)
		return
	}
	for i := range t.Data {
		t.Data[i] = v
	}
}

// SameShape reports whether two shapes are identical.
func SameShape(a, b []int) bool { return slices.Equal(a, b) }

// MustSameShape panics with op in the message when a and b differ in
// shape; inside the engine that is a programmer error, not a data error.
func MustSameShape(op string, a, b *Tensor) {
	if !slices.Equal(a.Shape, b.Shape) {
		panic(fmt.Sprintf("%s: shape mismatch %v vs %v", op, a.Shape, b.Shape))
	}
}

// MustRank panics unless t has the given rank.
func MustRank(op string, t *Tensor, rank int) {
	if len(t.Shape) != rank {
		panic(fmt.Sprintf("%s: want rank %d, got shape %v", op, rank, t.Shape))
	}
}

// Dims4 returns the four dimensions of an NCHW tensor, panicking (with op in
// the message) when t is not 4-D.
func (t *Tensor) Dims4(op string) (n, c, h, w int) {
	MustRank(op, t, 4)
	return t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
}

// String summarises the tensor (shape and a few values) for debugging.
func (t *Tensor) String() string {
	k := min(len(t.Data), 6)
	return fmt.Sprintf("Tensor%v%v", t.Shape, t.Data[:k])
}
