package onnx

import (
	"fmt"
	"slices"

	"github.com/vigil-ad/vigil/tensor"
)

// Integer tensors in CNN exports are shape arithmetic (Shape -> Gather ->
// Unsqueeze -> Concat -> Reshape, as torch writes x.view(x.size(0), -1)).
// Their values depend only on input shapes, so the Executor evaluates them
// while inferring shapes ("static" steps) and never at run time.

// intOps are the operators evaluated on integer tensors.
var intOps = map[string]bool{
	"Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Concat": true,
	"Cast": true, "Slice": true, "Add": true, "Sub": true, "Mul": true, "Div": true,
	"Identity": true,
}

// intKernel computes an integer tensor from its inputs' shapes and integer
// values (nil for float inputs).
type intKernel interface {
	eval(shapes [][]int, vals [][]int64) (shape []int, v []int64, err error)
}

// intUser is a float kernel that reads an integer tensor (e.g. Reshape's
// shape) computed at shape-inference time.
type intUser interface {
	useInts(vals [][]int64) error
}

// isIntOp reports whether nd computes an integer tensor: Shape always, the
// other intOps when their data inputs are integer.
func isIntOp(nd *irNode, isInt func(string) bool) bool {
	if !intOps[nd.op] {
		return false
	}
	switch nd.op {
	case "Shape":
		return true
	case "Concat", "Add", "Sub", "Mul", "Div":
		for _, in := range nd.in {
			if in == "" || !isInt(in) {
				return false
			}
		}
		return len(nd.in) > 0
	case "Cast":
		to := DataType(nd.n.AttrInt("to", 0))
		return len(nd.in) > 0 && isInt(nd.in[0]) && (to == DataTypeInt64 || to == DataTypeInt32)
	}
	return len(nd.in) > 0 && isInt(nd.in[0])
}

func buildIntKernel(nd *irNode, opset int64) (intKernel, error) {
	n := nd.n
	switch nd.op {
	case "Shape":
		return &shapeIK{start: int(n.AttrInt("start", 0)), end: int(n.AttrInt("end", 1<<30)), hasEnd: hasAttr(n, "end")}, nil
	case "Gather":
		return &gatherIK{axis: int(n.AttrInt("axis", 0))}, nil
	case "Unsqueeze", "Squeeze":
		axes := n.AttrInts("axes")
		return &reshapeIK{r: reshapeK{mode: nd.op, shape: axes}, axesIn: len(nd.in) > 1 && nd.in[1] != ""}, nil
	case "Identity", "Cast":
		return &reshapeIK{r: reshapeK{mode: "identity"}}, nil
	case "Concat":
		a, ok := n.Attr("axis")
		if !ok {
			return nil, fmt.Errorf("onnx: %s: missing axis attribute", n.label())
		}
		return &concatIK{k: concatK{axis: int(a.I)}}, nil
	case "Slice":
		k := &sliceIK{fromInputs: opset >= 10}
		if opset < 10 {
			k.starts, k.ends, k.axes = n.AttrInts("starts"), n.AttrInts("ends"), n.AttrInts("axes")
		}
		return k, nil
	case "Add", "Sub", "Mul", "Div":
		return &arithIK{op: nd.op}, nil
	}
	return nil, fmt.Errorf("onnx: %s: not supported on integer tensors", n.label())
}

func hasAttr(n *Node, name string) bool {
	_, ok := n.Attr(name)
	return ok
}

type shapeIK struct {
	start, end int
	hasEnd     bool
}

func (k *shapeIK) eval(shapes [][]int, _ [][]int64) ([]int, []int64, error) {
	s := shapes[0]
	r := len(s)
	clamp := func(i int) int {
		if i < 0 {
			i += r
		}
		return min(max(i, 0), r)
	}
	lo, hi := clamp(k.start), r
	if k.hasEnd {
		hi = clamp(k.end)
	}
	var v []int64
	for i := lo; i < hi; i++ {
		v = append(v, int64(s[i]))
	}
	return []int{len(v)}, v, nil
}

type gatherIK struct{ axis int }

func (k *gatherIK) eval(shapes [][]int, vals [][]int64) ([]int, []int64, error) {
	ds, is := shapes[0], shapes[1]
	data, idx := vals[0], vals[1]
	if idx == nil && tensor.Numel(is) > 0 {
		return nil, nil, fmt.Errorf("indices must be integers")
	}
	ax := k.axis
	if ax < 0 {
		ax += len(ds)
	}
	if ax < 0 || ax >= len(ds) {
		return nil, nil, fmt.Errorf("axis %d out of range for data shape %v", k.axis, ds)
	}
	outer, inner, d := tensor.Numel(ds[:ax]), tensor.Numel(ds[ax+1:]), ds[ax]
	out := slices.Concat(ds[:ax], is, ds[ax+1:])
	v := make([]int64, 0, tensor.Numel(out))
	for o := 0; o < outer; o++ {
		for _, j := range idx {
			if j < 0 {
				j += int64(d)
			}
			if j < 0 || j >= int64(d) {
				return nil, nil, fmt.Errorf("index %d out of range for axis of size %d", j, d)
			}
			base := (o*d + int(j)) * inner
			v = append(v, data[base:base+inner]...)
		}
	}
	return out, v, nil
}

type reshapeIK struct {
	r      reshapeK
	axesIn bool
}

func (k *reshapeIK) eval(shapes [][]int, vals [][]int64) ([]int, []int64, error) {
	r := k.r
	if k.axesIn {
		if vals[1] == nil {
			return nil, nil, fmt.Errorf("axes must be integers")
		}
		r.shape = vals[1]
	}
	s, err := r.infer(shapes[:1])
	return s, vals[0], err
}

type concatIK struct{ k concatK }

func (k *concatIK) eval(shapes [][]int, vals [][]int64) ([]int, []int64, error) {
	out, err := k.k.infer(shapes)
	if err != nil {
		return nil, nil, err
	}
	outer := tensor.Numel(out[:k.k.ax])
	inner := tensor.Numel(out[k.k.ax+1:])
	v := make([]int64, 0, tensor.Numel(out))
	for o := 0; o < outer; o++ {
		for i, s := range shapes {
			chunk := s[k.k.ax] * inner
			v = append(v, vals[i][o*chunk:o*chunk+chunk]...)
		}
	}
	return out, v, nil
}

// sliceIK slices a 1-D integer tensor (a shape vector).
type sliceIK struct {
	fromInputs         bool
	starts, ends, axes []int64
}

func (k *sliceIK) eval(shapes [][]int, vals [][]int64) ([]int, []int64, error) {
	if len(shapes[0]) != 1 {
		return nil, nil, fmt.Errorf("only 1-D integer data can be sliced, got shape %v", shapes[0])
	}
	starts, ends, axes := k.starts, k.ends, k.axes
	steps := []int64{1}
	if k.fromInputs {
		if len(vals) < 3 || vals[1] == nil || vals[2] == nil {
			return nil, nil, fmt.Errorf("starts and ends must be integer inputs")
		}
		starts, ends = vals[1], vals[2]
		if len(vals) > 3 && vals[3] != nil {
			axes = vals[3]
		}
		if len(vals) > 4 && vals[4] != nil {
			steps = vals[4]
		}
	}
	if len(starts) != 1 || len(ends) != 1 || len(steps) != 1 || (len(axes) > 0 && (len(axes) != 1 || (axes[0] != 0 && axes[0] != -1))) {
		return nil, nil, fmt.Errorf("unsupported slice starts %v ends %v axes %v steps %v", starts, ends, axes, steps)
	}
	n := int64(shapes[0][0])
	st, en, step := starts[0], ends[0], steps[0]
	if step == 0 {
		return nil, nil, fmt.Errorf("slice step 0")
	}
	norm := func(i, lo, hi int64) int64 {
		if i < 0 {
			i += n
		}
		return min(max(i, lo), hi)
	}
	var v []int64
	if step > 0 {
		for i := norm(st, 0, n); i < norm(en, 0, n); i += step {
			v = append(v, vals[0][i])
		}
	} else {
		for i := norm(st, -1, n-1); i > norm(en, -1, n-1); i += step {
			v = append(v, vals[0][i])
		}
	}
	return []int{len(v)}, v, nil
}

// arithIK is integer Add/Sub/Mul/Div (Div truncates, as ONNX Runtime does)
// with numpy broadcasting.
type arithIK struct{ op string }

func (k *arithIK) eval(shapes [][]int, vals [][]int64) ([]int, []int64, error) {
	out, err := broadcastShape(shapes[0], shapes[1])
	if err != nil {
		return nil, nil, err
	}
	sa, sb := bstrides(shapes[0], out), bstrides(shapes[1], out)
	n := tensor.Numel(out)
	v := make([]int64, n)
	idx := make([]int, len(out))
	for i := 0; i < n; i++ {
		oa, ob := 0, 0
		for d := range out {
			oa += idx[d] * sa[d]
			ob += idx[d] * sb[d]
		}
		a, b := vals[0][oa], vals[1][ob]
		switch k.op {
		case "Add":
			v[i] = a + b
		case "Sub":
			v[i] = a - b
		case "Mul":
			v[i] = a * b
		case "Div":
			if b == 0 {
				return nil, nil, fmt.Errorf("integer division by zero")
			}
			v[i] = a / b
		}
		for d := len(out) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, v, nil
}
