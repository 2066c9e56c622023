package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// Every builder's operator is reported as supported and builds, and an
// operator without a builder is refused by name.
func TestBuilderTableIsTheSupportedList(t *testing.T) {
	got := SupportedOps()
	for op := range builders {
		if !slices.Contains(got, op) {
			t.Errorf("builder %s missing from SupportedOps", op)
		}
	}
	for op := range arithOps {
		if builders[op] == nil {
			t.Errorf("arithmetic %s has no builder", op)
		}
	}
	nd := &irNode{n: &Node{Name: "n1", OpType: "Erf"}, op: "Erf", in: []string{"x"}, out: []string{"y"}}
	if _, _, err := buildKernel(nd, nil, 13, func(string) bool { return false }); err == nil || !strings.Contains(err.Error(), "n1") || !strings.Contains(err.Error(), "unsupported operator") {
		t.Fatalf("unsupported operator: %v", err)
	}
}

// Add, Sub, Mul and Div under every broadcast form (same shape, scalar,
// row vector, column vector, lower rank on either side) equal the float32
// operation applied to the broadcast operands element by element.
func TestBinaryBroadcastForms(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	pairs := [][2][]int{
		{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {}}, {{}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{4}, {2, 3, 4}},
		{{2, 3, 4}, {3, 1}}, {{3, 1}, {2, 3, 4}}, {{2, 1, 4}, {1, 3, 1}}, {{1, 3, 1}, {2, 1, 4}},
		{{2, 3, 1}, {2, 3, 1}}, {{5, 1}, {1, 1}},
	}
	for op := range arithOps {
		for _, pr := range pairs {
			sa, sb := pr[0], pr[1]
			t.Run(fmt.Sprintf("%s%v%v", op, sa, sb), func(t *testing.T) {
				out, err := broadcastShape(sa, sb)
				if err != nil {
					t.Fatal(err)
				}
				a, b := randTensor(r, sa...), randTensor(r, sb...)
				for i := range b.Data {
					b.Data[i] += float32(math.Copysign(0.5, float64(b.Data[i]))) // keep Div away from 0
				}
				bl := NewBuilder("bin")
				bl.Input("a", sa...)
				bl.Input("b", sb...)
				bl.Node(op, "op", []string{"a", "b"}, []string{"y"})
				bl.Output("y", out...)
				got := run1(t, roundTrip(t, bl.Model()), nil, map[string]*tensor.Tensor{"a": a, "b": b})["y"]
				want := tensor.New(out...)
				idx := make([]int, len(out))
				for i := range want.Data {
					rem := i
					for d := len(out) - 1; d >= 0; d-- {
						idx[d] = rem % out[d]
						rem /= out[d]
					}
					x, y := a.Data[bcastIndex(sa, idx)], b.Data[bcastIndex(sb, idx)]
					switch op {
					case "Add":
						want.Data[i] = x + y
					case "Sub":
						want.Data[i] = x - y
					case "Mul":
						want.Data[i] = x * y
					case "Div":
						want.Data[i] = x / y
					}
				}
				if !slices.Equal(got.Shape, out) || !slices.Equal(got.Data, want.Data) {
					t.Fatalf("got %v %v, want %v %v", got.Shape, got.Data, out, want.Data)
				}
			})
		}
	}
}

// bcastIndex is the flat index into a tensor of shape s of the output
// position idx under numpy broadcasting.
func bcastIndex(s, idx []int) int {
	off := len(idx) - len(s)
	flat := 0
	for d, n := range s {
		i := idx[off+d]
		if n == 1 {
			i = 0
		}
		flat = flat*n + i
	}
	return flat
}

// BenchmarkBinary times the float arithmetic kernels in each operand form
// on a [4,64,56,56] activation: same shape, a per-channel operand on the
// right (vector-scalar rows) and on the left (scalar-vector rows).
func BenchmarkBinary(b *testing.B) {
	r := rand.New(rand.NewPCG(33, 34))
	x := []int{4, 64, 56, 56}
	for _, c := range []struct {
		name   string
		op     string
		sa, sb []int
	}{
		{"SubSame", "Sub", x, x},
		{"MulChannel", "Mul", x, []int{64, 1, 1}},
		{"SubChannelLeft", "Sub", []int{64, 1, 1}, x},
	} {
		b.Run(c.name, func(b *testing.B) {
			bl := NewBuilder("bin")
			bl.Input("a", c.sa...)
			bl.Input("b", c.sb...)
			bl.Node(c.op, "op", []string{"a", "b"}, []string{"y"})
			bl.Output("y", x...)
			e, err := NewExecutor(bl.Model(), nil)
			if err != nil {
				b.Fatal(err)
			}
			in := map[string]*tensor.Tensor{"a": randTensor(r, c.sa...), "b": randTensor(r, c.sb...)}
			for b.Loop() {
				if _, err := e.Run(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
