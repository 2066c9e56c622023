package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// Executor runs the part of a model needed for a set of requested tensors.
// At construction it removes dead nodes, sorts the rest topologically,
// folds BatchNormalization into the preceding Conv's weights and fuses
// Relu/Clip(0,6) into Conv and Relu into Add, never hiding a tensor that
// was requested. Run reuses intermediate buffers through the tensor pool
// and frees each one after its last consumer.
//
// An Executor is safe for concurrent use; runs are serialised.
type Executor struct {
	mu       sync.Mutex
	opset    int64
	steps    []*step
	slots    []slotInfo
	inputs   []graphInput
	outNames []string
	outSlots []int

	// state of the prepared plan for the current input shapes
	prepared bool
	shapes   [][]int
	ints     [][]int64 // values of integer slots
	vals     []*tensor.Tensor
	hdrs     []tensor.Tensor
	profile  []time.Duration // per-step kernel time while Profile runs
}

type slotInfo struct {
	name     string
	konst    *tensor.Tensor // float constant (initializer / Constant), never freed
	input    bool           // graph input (caller's memory)
	root     int            // slot whose buffer this slot's data lives in
	pinned   bool           // buffer must survive the run (output, constant, input)
	isInt    bool           // integer tensor, computed while inferring shapes
	ints     []int64        // value of an integer constant
	intShape []int
}

type graphInput struct {
	name  string
	slot  int
	shape []int64
}

// step is one kernel invocation producing one tensor.
type step struct {
	node    *Node
	k       kernel
	in      []int // slots of the runtime inputs, -1 for omitted optional ones
	out     int
	ik      intKernel // set for static integer steps (k is nil)
	view    bool      // output shares its input's buffer (Reshape, Flatten, ...)
	inplace bool      // output overwrites in[0]'s buffer
	frees   []int
}

// kernel is the executable form of one (possibly fused) node.
type kernel interface {
	// infer validates the input shapes (nil for omitted inputs) and returns
	// the output shape; it may cache shape-dependent parameters for run.
	infer(in [][]int) ([]int, error)
	// run computes out, whose Data is preallocated with the inferred shape
	// (or aliases in[0] for in-place and view kernels).
	run(out *tensor.Tensor, in []*tensor.Tensor)
}

// elementwise kernels may overwrite their first input.
type inplaceKernel interface{ canInplace() bool }

// view kernels only reinterpret the shape of their first input.
type viewKernel interface{ isView() }

// irNode is a node during graph rewriting.
type irNode struct {
	n    *Node
	op   string
	in   []string
	out  []string
	act  ops.Act
	w, b *Tensor // Conv weights after BatchNorm folding
}

// NewExecutor prepares m for computing the named tensors, which may be any
// graph output or intermediate tensor (feature taps). With no names it
// computes the graph outputs.
func NewExecutor(m *Model, outputs []string) (*Executor, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("onnx: NewExecutor: model has no graph")
	}
	g := m.Graph
	if len(outputs) == 0 {
		for _, o := range g.Outputs {
			outputs = append(outputs, o.Name)
		}
	}
	if len(outputs) == 0 {
		return nil, errors.New("onnx: NewExecutor: no outputs requested and the graph declares none")
	}
	e := &Executor{opset: m.OpsetVersion, outNames: slices.Clone(outputs)}
	if e.opset == 0 {
		e.opset = BuilderOpset
	}

	consts := map[string]*Tensor{}
	for _, t := range g.Initializers {
		if err := checkConst(t); err != nil {
			return nil, fmt.Errorf("onnx: initializer %q: %w", t.Name, err)
		}
		consts[t.Name] = t
	}
	inputDecl := map[string]ValueInfo{}
	for _, vi := range g.Inputs {
		if _, ok := consts[vi.Name]; !ok {
			inputDecl[vi.Name] = vi
		}
	}
	producer := map[string]*Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if p, dup := producer[o]; dup {
				return nil, fmt.Errorf("onnx: tensor %q is produced by both %s and %s", o, p.label(), n.label())
			}
			if _, ok := consts[o]; ok {
				return nil, fmt.Errorf("onnx: %s overwrites initializer %q", n.label(), o)
			}
			if _, ok := inputDecl[o]; ok {
				return nil, fmt.Errorf("onnx: %s overwrites graph input %q", n.label(), o)
			}
			producer[o] = n
		}
	}

	// Dead-code elimination and topological order in one depth-first walk
	// from the requested tensors; a node met again while on the stack is a cycle.
	const (
		unseen = iota
		onStack
		done
	)
	state := map[*Node]int{}
	var order []*Node
	var visit func(name, from string) error
	visit = func(name, from string) error {
		if _, ok := consts[name]; ok {
			return nil
		}
		if _, ok := inputDecl[name]; ok {
			return nil
		}
		n, ok := producer[name]
		if !ok {
			return fmt.Errorf("onnx: tensor %q (%s) is not a graph input, initializer or node output", name, from)
		}
		switch state[n] {
		case onStack:
			return fmt.Errorf("onnx: graph has a cycle through %s", n.label())
		case done:
			return nil
		}
		state[n] = onStack
		for _, in := range n.Inputs {
			if in == "" {
				continue
			}
			if err := visit(in, "input of "+n.label()); err != nil {
				return err
			}
		}
		state[n] = done
		order = append(order, n)
		return nil
	}
	for _, o := range outputs {
		if err := visit(o, "requested output"); err != nil {
			return nil, err
		}
	}

	// Constant nodes become constants; everything else must be supported.
	var ir []*irNode
	var unsupported []string
	for _, n := range order {
		if n.OpType == "Constant" && n.Domain == "" {
			t, err := constantValue(n)
			if err != nil {
				return nil, err
			}
			if err := checkConst(t); err != nil {
				return nil, fmt.Errorf("onnx: %s: %w", n.label(), err)
			}
			c := *t
			c.Name = n.Outputs[0]
			consts[c.Name] = &c
			continue
		}
		if n.Domain != "" && n.Domain != "ai.onnx" || !supportedOps[n.OpType] && !intOps[n.OpType] {
			op := n.OpType
			if n.Domain != "" {
				op = n.Domain + "." + op
			}
			unsupported = append(unsupported, fmt.Sprintf("%s (node %q)", op, n.Name))
			continue
		}
		ir = append(ir, &irNode{n: n, op: n.OpType, in: slices.Clone(n.Inputs), out: slices.Clone(n.Outputs)})
	}
	if len(unsupported) > 0 {
		return nil, fmt.Errorf("onnx: unsupported operator(s): %s", strings.Join(unsupported, ", "))
	}

	requested := map[string]bool{}
	for _, o := range outputs {
		requested[o] = true
	}
	ir = fuse(ir, consts, requested)

	if err := e.plan(ir, consts, inputDecl, requested); err != nil {
		return nil, err
	}
	return e, nil
}

// checkConst verifies that a tensor's data matches its dims (models built
// in code are not checked by Decode).
func checkConst(t *Tensor) error {
	n := 1
	for _, d := range t.Dims {
		if d < 0 || d > maxElems || (d > 0 && n > maxElems/int(d)) {
			return fmt.Errorf("bad dims %v", t.Dims)
		}
		n *= int(d)
	}
	if t.Float != nil && len(t.Float) != n || t.Int64 != nil && len(t.Int64) != n {
		return fmt.Errorf("dims %v need %d values, have %d floats / %d integers", t.Dims, n, len(t.Float), len(t.Int64))
	}
	return nil
}

// constantValue returns the tensor a Constant node defines.
func constantValue(n *Node) (*Tensor, error) {
	if len(n.Outputs) != 1 {
		return nil, fmt.Errorf("onnx: %s: want 1 output", n.label())
	}
	for _, a := range n.Attrs {
		switch a.Name {
		case "value":
			if a.T == nil {
				return nil, fmt.Errorf("onnx: %s: value attribute holds no tensor", n.label())
			}
			if a.T.Float == nil && a.T.Int64 == nil && a.T.Numel() != 0 {
				return nil, fmt.Errorf("onnx: %s: constant of unsupported type %s", n.label(), a.T.DataType)
			}
			return a.T, nil
		case "value_float":
			return &Tensor{Float: []float32{a.F}, DataType: DataTypeFloat}, nil
		case "value_floats":
			return &Tensor{Dims: []int64{int64(len(a.Floats))}, Float: a.Floats, DataType: DataTypeFloat}, nil
		case "value_int":
			return &Tensor{Int64: []int64{a.I}, DataType: DataTypeInt64}, nil
		case "value_ints":
			return &Tensor{Dims: []int64{int64(len(a.Ints))}, Int64: a.Ints, DataType: DataTypeInt64}, nil
		}
	}
	return nil, fmt.Errorf("onnx: %s: no supported value attribute", n.label())
}

// fuse rewrites the node list: Conv+BatchNormalization weight folding, then
// Conv+Relu / Conv+Clip(0,6) / Add+Relu activation fusion. A tensor that is
// requested or read by more than one node is never fused away.
func fuse(ir []*irNode, consts map[string]*Tensor, requested map[string]bool) []*irNode {
	uses := map[string]int{}
	recount := func() {
		clear(uses)
		for _, n := range ir {
			for _, in := range n.in {
				uses[in]++
			}
		}
		for o := range requested {
			uses[o]++
		}
	}
	// next returns the single consumer of tensor t when t is used exactly once.
	next := func(i int, t string) (int, *irNode) {
		if uses[t] != 1 {
			return -1, nil
		}
		for j := i + 1; j < len(ir); j++ {
			if ir[j] != nil && slices.Contains(ir[j].in, t) {
				return j, ir[j]
			}
		}
		return -1, nil
	}
	recount()
	for i, c := range ir {
		if c == nil || c.op != "Conv" || len(c.out) != 1 {
			continue
		}
		j, bn := next(i, c.out[0])
		if bn == nil || bn.op != "BatchNormalization" || bn.in[0] != c.out[0] || liveExtraOutputs(bn, uses) {
			continue
		}
		if w, b, ok := foldBN(c, bn, consts); ok {
			c.w, c.b = w, b
			c.out = bn.out[:1]
			ir[j] = nil
		}
	}
	ir = slices.DeleteFunc(ir, func(n *irNode) bool { return n == nil })
	recount()
	for i, c := range ir {
		if c == nil || (c.op != "Conv" && c.op != "ConvTranspose" && c.op != "Add") || len(c.out) != 1 || c.act != ops.ActNone {
			continue
		}
		j, a := next(i, c.out[0])
		if a == nil || len(a.in) == 0 || a.in[0] != c.out[0] {
			continue
		}
		act := ops.ActNone
		switch a.op {
		case "Relu":
			act = ops.ActReLU
		case "Clip":
			lo, hi, ok := clipBounds(a, consts)
			switch {
			case !ok || lo != 0:
			case hi == 6 && c.op != "Add":
				act = ops.ActReLU6
			case math.IsInf(float64(hi), 1) || hi >= math.MaxFloat32:
				act = ops.ActReLU
			}
		}
		if act == ops.ActNone {
			continue
		}
		c.act = act
		c.out = a.out
		ir[j] = nil
	}
	return slices.DeleteFunc(ir, func(n *irNode) bool { return n == nil })
}

// liveExtraOutputs reports whether a node's outputs beyond the first are used.
func liveExtraOutputs(n *irNode, uses map[string]int) bool {
	for _, o := range n.out[1:] {
		if o != "" && uses[o] > 0 {
			return true
		}
	}
	return false
}

// foldBN returns Conv weights and bias with the following inference-mode
// BatchNormalization folded in: w' = w*s, b' = (b-mean)*s + beta, with
// s = gamma/sqrt(var+eps). The model's own tensors are left untouched.
func foldBN(c, bn *irNode, consts map[string]*Tensor) (w, b *Tensor, ok bool) {
	if len(c.in) < 2 || len(bn.in) != 5 {
		return nil, nil, false
	}
	get := func(name string) *Tensor {
		t := consts[name]
		if t == nil || t.Float == nil {
			return nil
		}
		return t
	}
	w0 := get(c.in[1])
	gamma, beta, mean, vr := get(bn.in[1]), get(bn.in[2]), get(bn.in[3]), get(bn.in[4])
	if w0 == nil || gamma == nil || beta == nil || mean == nil || vr == nil || len(w0.Dims) != 4 || bn.n.AttrInt("training_mode", 0) != 0 {
		return nil, nil, false
	}
	cout := int(w0.Dims[0])
	if cout <= 0 || len(w0.Float)%cout != 0 {
		return nil, nil, false
	}
	var b0 *Tensor
	if len(c.in) > 2 && c.in[2] != "" {
		if b0 = get(c.in[2]); b0 == nil || len(b0.Float) != cout {
			return nil, nil, false
		}
	}
	for _, t := range []*Tensor{gamma, beta, mean, vr} {
		if len(t.Float) != cout {
			return nil, nil, false
		}
	}
	eps := float64(bn.n.AttrFloat("epsilon", 1e-5))
	per := len(w0.Float) / cout
	w = &Tensor{Name: w0.Name + "+bn", Dims: w0.Dims, Float: make([]float32, len(w0.Float)), DataType: DataTypeFloat}
	b = &Tensor{Name: bn.out[0] + "+bias", Dims: []int64{int64(cout)}, Float: make([]float32, cout), DataType: DataTypeFloat}
	for o := 0; o < cout; o++ {
		s := float64(gamma.Float[o]) / math.Sqrt(float64(vr.Float[o])+eps)
		for i := o * per; i < (o+1)*per; i++ {
			w.Float[i] = float32(float64(w0.Float[i]) * s)
		}
		bias := 0.0
		if b0 != nil {
			bias = float64(b0.Float[o])
		}
		b.Float[o] = float32((bias-float64(mean.Float[o]))*s + float64(beta.Float[o]))
	}
	return w, b, true
}

// clipBounds reads Clip's limits from attributes (opset < 11) or constant
// inputs; ok is false when an input limit is not a constant.
func clipBounds(n *irNode, consts map[string]*Tensor) (lo, hi float32, ok bool) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if a, has := n.n.Attr("min"); has {
		lo = a.F
	}
	if a, has := n.n.Attr("max"); has {
		hi = a.F
	}
	for k, dst := range []*float32{&lo, &hi} {
		if len(n.in) <= k+1 || n.in[k+1] == "" {
			continue
		}
		t := consts[n.in[k+1]]
		if t == nil || t.Numel() != 1 {
			return 0, 0, false
		}
		switch {
		case len(t.Float) == 1:
			*dst = t.Float[0]
		case len(t.Int64) == 1:
			*dst = float32(t.Int64[0])
		default:
			return 0, 0, false
		}
	}
	return lo, hi, true
}

// plan assigns buffers ("slots") to tensors, builds the kernels and decides
// which steps may work in place and when each buffer is released.
func (e *Executor) plan(ir []*irNode, consts map[string]*Tensor, inputDecl map[string]ValueInfo, requested map[string]bool) error {
	slotOf := map[string]int{}
	newSlot := func(name string) int {
		e.slots = append(e.slots, slotInfo{name: name, root: len(e.slots)})
		slotOf[name] = len(e.slots) - 1
		return len(e.slots) - 1
	}
	// lookup returns the slot of a float tensor read at run time.
	lookup := func(name string, n *Node) (int, error) {
		if s, ok := slotOf[name]; ok {
			return s, nil
		}
		if t, ok := consts[name]; ok {
			if t.Float == nil && t.Int64 != nil {
				// Integer constants feed shape arithmetic and shape inputs.
				s := newSlot(name)
				e.slots[s].isInt, e.slots[s].ints, e.slots[s].pinned = true, t.Int64, true
				e.slots[s].intShape = toInts(t.Dims)
				return s, nil
			}
			if t.Float == nil {
				return 0, fmt.Errorf("onnx: %s: constant %q has unsupported type %s", n.label(), name, t.DataType)
			}
			s := newSlot(name)
			e.slots[s].konst = &tensor.Tensor{Shape: toInts(t.Dims), Data: t.Float}
			e.slots[s].pinned = true
			return s, nil
		}
		if vi, ok := inputDecl[name]; ok {
			s := newSlot(name)
			e.slots[s].input = true
			e.slots[s].pinned = true
			e.inputs = append(e.inputs, graphInput{name: name, slot: s, shape: vi.Shape})
			return s, nil
		}
		return 0, fmt.Errorf("onnx: %s: input %q is not available", n.label(), name)
	}

	isInt := func(name string) bool {
		if s, ok := slotOf[name]; ok {
			return e.slots[s].isInt
		}
		t := consts[name]
		return t != nil && t.Float == nil && t.Int64 != nil
	}
	for _, nd := range ir {
		if isIntOp(nd, isInt) {
			if nd.act != 0 {
				return fmt.Errorf("onnx: %s: an activation cannot follow an integer op", nd.n.label())
			}
			ik, err := buildIntKernel(nd, e.opset)
			if err != nil {
				return err
			}
			st := &step{node: nd.n, ik: ik}
			for _, name := range nd.in {
				s := -1
				if name != "" {
					var err error
					if s, err = lookup(name, nd.n); err != nil {
						return err
					}
				}
				st.in = append(st.in, s)
			}
			st.out = newSlot(nd.out[0])
			e.slots[st.out].isInt = true
			e.slots[st.out].pinned = true
			e.steps = append(e.steps, st)
			continue
		}
		if intOps[nd.op] && !supportedOps[nd.op] {
			return fmt.Errorf("onnx: %s: only integer (shape) inputs are supported", nd.n.label())
		}
		k, dataIn, err := buildKernel(nd, consts, e.opset, isInt)
		if err != nil {
			return err
		}
		if t, ok, err := foldConstant(nd, k, dataIn, consts, requested); err != nil {
			return err
		} else if ok {
			consts[nd.out[0]] = t // e.g. Transpose of a weight: computed once here
			continue
		}
		st := &step{node: nd.n, k: k}
		for _, name := range dataIn {
			if name == "" {
				st.in = append(st.in, -1)
				continue
			}
			s, err := lookup(name, nd.n)
			if err != nil {
				return err
			}
			st.in = append(st.in, s)
		}
		for _, o := range nd.out[1:] {
			if o != "" && requested[o] {
				return fmt.Errorf("onnx: %s: output %q cannot be requested: only the first output of a node is computed", nd.n.label(), o)
			}
		}
		st.out = newSlot(nd.out[0])
		_, st.view = k.(viewKernel)
		e.steps = append(e.steps, st)
	}
	for _, o := range e.outNames {
		// Integer tensors (shape values, Reshape targets) asked for as taps
		// are returned converted to float32 by Run.
		s, ok := slotOf[o]
		if !ok {
			var err error
			if s, err = lookup(o, &Node{OpType: "output"}); err != nil {
				return fmt.Errorf("onnx: requested tensor %q is not computable: %w", o, err)
			}
		}
		e.outSlots = append(e.outSlots, s)
	}

	// Buffer planning in step order. A buffer (root slot) is pinned when
	// any slot living in it is an input, constant or requested output.
	lastRead := make([]int, len(e.slots))
	for i := range lastRead {
		lastRead[i] = -1
	}
	for i, st := range e.steps {
		if st.ik != nil {
			continue // integer steps read shapes only, never buffers
		}
		for _, s := range st.in {
			if s >= 0 {
				lastRead[s] = i
			}
		}
	}
	for _, s := range e.outSlots {
		lastRead[s] = len(e.steps)
	}
	rootEnd := make([]int, len(e.slots)) // last step reading any slot of a root
	copy(rootEnd, lastRead)
	for i, st := range e.steps {
		out := &e.slots[st.out]
		switch {
		case st.view:
			out.root = e.slots[st.in[0]].root
		case canInplace(st) && e.inplaceFree(st, rootEnd, i):
			st.inplace = true
			out.root = e.slots[st.in[0]].root
		}
		r := out.root
		rootEnd[r] = max(rootEnd[r], lastRead[st.out])
		if requested[out.name] {
			e.slots[r].pinned = true
		}
	}
	for s := range e.slots {
		if e.slots[s].root != s || e.slots[s].pinned {
			continue
		}
		if end := rootEnd[s]; end >= 0 && end < len(e.steps) {
			e.steps[end].frees = append(e.steps[end].frees, s)
		} else if end < 0 {
			// Produced but never read (dead extra output): free right away.
			for i, st := range e.steps {
				if st.out == s {
					e.steps[i].frees = append(e.steps[i].frees, s)
				}
			}
		}
	}
	// Float kernels must not read integer tensors as data.
	for _, st := range e.steps {
		if st.k == nil {
			continue
		}
		_, user := st.k.(intUser)
		for i, s := range st.in {
			if s >= 0 && e.slots[s].isInt && (i == 0 || !user) {
				return fmt.Errorf("onnx: %s: input %q is an integer tensor where float data is expected", st.node.label(), e.slots[s].name)
			}
		}
	}
	e.shapes = make([][]int, len(e.slots))
	e.ints = make([][]int64, len(e.slots))
	e.vals = make([]*tensor.Tensor, len(e.slots))
	e.hdrs = make([]tensor.Tensor, len(e.slots))
	sort.SliceStable(e.inputs, func(i, j int) bool { return e.inputs[i].name < e.inputs[j].name })
	return nil
}

// foldConstant runs a float node whose inputs are all constants once, at
// load time. Requested tensors and shape-only views are left to the plan.
func foldConstant(nd *irNode, k kernel, dataIn []string, consts map[string]*Tensor, requested map[string]bool) (t *Tensor, ok bool, err error) {
	if _, isView := k.(viewKernel); isView || requested[nd.out[0]] || len(dataIn) == 0 {
		return nil, false, nil
	}
	var shapes [][]int
	var ins []*tensor.Tensor
	for _, name := range dataIn {
		if name == "" {
			shapes, ins = append(shapes, nil), append(ins, nil)
			continue
		}
		c := consts[name]
		if c == nil || c.Float == nil {
			return nil, false, nil
		}
		ins = append(ins, &tensor.Tensor{Shape: toInts(c.Dims), Data: c.Float})
		shapes = append(shapes, ins[len(ins)-1].Shape)
	}
	if _, dyn := k.(intUser); dyn {
		return nil, false, nil
	}
	shape, err := k.infer(shapes)
	if err != nil {
		return nil, false, fmt.Errorf("onnx: %s: %w (input shapes %v)", nd.n.label(), err, shapes)
	}
	if tensor.Numel(shape) > maxElems {
		return nil, false, fmt.Errorf("onnx: %s: output shape %v is too large", nd.n.label(), shape)
	}
	out := tensor.New(shape...)
	defer func() {
		if r := recover(); r != nil {
			t, ok, err = nil, false, fmt.Errorf("onnx: %s failed on constants: %v", nd.n.label(), r)
		}
	}()
	k.run(out, ins)
	d := make([]int64, len(shape))
	for i, v := range shape {
		d[i] = int64(v)
	}
	return &Tensor{Name: nd.out[0], Dims: d, Float: out.Data, DataType: DataTypeFloat}, true, nil
}

// inplaceFree reports whether step i may overwrite its first input: that
// buffer is not pinned, is read by no later step, and no other input of
// the step lives in it.
func (e *Executor) inplaceFree(st *step, rootEnd []int, i int) bool {
	r := e.slots[st.in[0]].root
	if e.slots[r].pinned || rootEnd[r] != i {
		return false
	}
	for _, s := range st.in[1:] {
		if s >= 0 && e.slots[s].root == r {
			return false
		}
	}
	return true
}

func canInplace(st *step) bool {
	ik, ok := st.k.(inplaceKernel)
	return ok && ik.canInplace() && len(st.in) > 0 && st.in[0] >= 0
}

func toInts(d []int64) []int {
	s := make([]int, len(d))
	for i, v := range d {
		s[i] = int(v)
	}
	return s
}

// maxElems bounds any one tensor (16 GiB of float32), so a corrupt or
// hostile model fails with an error instead of exhausting memory.
const maxElems = 1 << 32

// prepare infers every shape for the given input shapes.
func (e *Executor) prepare() error {
	for s, sl := range e.slots {
		if sl.konst != nil {
			e.shapes[s] = sl.konst.Shape
		}
		if sl.ints != nil {
			e.ints[s] = sl.ints
			e.shapes[s] = sl.intShape
		}
	}
	for _, st := range e.steps {
		in := make([][]int, len(st.in))
		vals := make([][]int64, len(st.in))
		for i, s := range st.in {
			if s >= 0 {
				in[i] = e.shapes[s]
				vals[i] = e.ints[s]
			}
		}
		if st.ik != nil {
			shape, v, err := st.ik.eval(in, vals)
			if err != nil {
				return fmt.Errorf("onnx: %s: %w (input shapes %v)", st.node.label(), err, in)
			}
			e.shapes[st.out], e.ints[st.out] = shape, v
			continue
		}
		if u, ok := st.k.(intUser); ok {
			if err := u.useInts(vals); err != nil {
				return fmt.Errorf("onnx: %s: %w", st.node.label(), err)
			}
		}
		shape, err := st.k.infer(in)
		if err != nil {
			return fmt.Errorf("onnx: %s: %w (input shapes %v)", st.node.label(), err, in)
		}
		n := 1
		for _, d := range shape {
			if d < 0 {
				return fmt.Errorf("onnx: %s: inferred negative dimension in %v", st.node.label(), shape)
			}
			if d > 0 && n > maxElems/d {
				return fmt.Errorf("onnx: %s: output shape %v is too large", st.node.label(), shape)
			}
			n *= d
		}
		e.shapes[st.out] = shape
	}
	return nil
}

// Run computes the requested tensors. inputs maps graph input names to
// float32 tensors; every input the requested tensors depend on is required.
// Returned tensors belong to the caller.
func (e *Executor) Run(inputs map[string]*tensor.Tensor) (out map[string]*tensor.Tensor, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	changed := !e.prepared
	for _, in := range e.inputs {
		t, ok := inputs[in.name]
		if !ok || t == nil {
			return nil, fmt.Errorf("onnx: missing input %q", in.name)
		}
		if tensor.Numel(t.Shape) != len(t.Data) {
			return nil, fmt.Errorf("onnx: input %q: shape %v does not match %d values", in.name, t.Shape, len(t.Data))
		}
		if in.shape != nil {
			ok := len(in.shape) == len(t.Shape)
			for i := 0; ok && i < len(in.shape); i++ {
				ok = in.shape[i] < 0 || in.shape[i] == int64(t.Shape[i])
			}
			if !ok {
				return nil, fmt.Errorf("onnx: input %q: shape %v does not match the declared %v", in.name, t.Shape, in.shape)
			}
		}
		if !slices.Equal(e.shapes[in.slot], t.Shape) {
			changed = true
			e.shapes[in.slot] = slices.Clone(t.Shape)
		}
		e.vals[in.slot] = t
	}
	cur := -1
	defer func() {
		if r := recover(); r != nil {
			e.prepared = false
			if cur >= 0 {
				err = fmt.Errorf("onnx: %s failed: %v", e.steps[cur].node.label(), r)
			} else {
				err = fmt.Errorf("onnx: run failed: %v", r)
			}
			out = nil
		}
		e.clearVals()
	}()
	if changed {
		e.prepared = false
		if err := e.prepare(); err != nil {
			return nil, err
		}
		e.prepared = true
	}
	for s, sl := range e.slots {
		if sl.konst != nil {
			e.vals[s] = sl.konst
		}
	}
	ins := make([]*tensor.Tensor, 0, 8)
	for i, st := range e.steps {
		if st.ik != nil {
			continue // integer steps were evaluated by prepare
		}
		cur = i
		ins = ins[:0]
		for _, s := range st.in {
			if s < 0 {
				ins = append(ins, nil)
			} else {
				ins = append(ins, e.vals[s])
			}
		}
		h := &e.hdrs[st.out]
		h.Shape = e.shapes[st.out]
		fallback := false
		switch {
		case st.view:
			h.Data = ins[0].Data
		case st.inplace && len(ins[0].Data) == tensor.Numel(h.Shape) && st.k.(inplaceKernel).canInplace():
			h.Data = ins[0].Data
		default:
			h.Data = tensor.GetDirty(tensor.Numel(h.Shape))
			fallback = st.inplace
		}
		if e.profile != nil {
			t0 := time.Now()
			st.k.run(h, ins)
			e.profile[i] += time.Since(t0)
		} else {
			st.k.run(h, ins)
		}
		e.vals[st.out] = h
		if fallback {
			// The planned in-place buffer was too small (broadcast grew
			// the output): the input's buffer is dead now, and the root
			// slot takes the new buffer so it is released exactly once.
			tensor.Put(ins[0].Data)
			e.vals[e.slots[st.in[0]].root] = h
		}
		for _, s := range st.frees {
			if v := e.vals[s]; v != nil {
				tensor.Put(v.Data)
			}
		}
	}
	cur = -1
	out = make(map[string]*tensor.Tensor, len(e.outNames))
	for i, name := range e.outNames {
		s := e.outSlots[i]
		if e.slots[s].isInt {
			f := make([]float32, len(e.ints[s]))
			for j, v := range e.ints[s] {
				f[j] = float32(v)
			}
			out[name] = &tensor.Tensor{Shape: slices.Clone(e.shapes[s]), Data: f}
			continue
		}
		v := e.vals[s]
		t := &tensor.Tensor{Shape: slices.Clone(e.shapes[s]), Data: v.Data}
		if e.slots[e.slots[s].root].konst != nil || e.slots[e.slots[s].root].input {
			t.Data = slices.Clone(v.Data) // never hand out the model's or caller's memory
		}
		out[name] = t
	}
	return out, nil
}

// clearVals drops references to run-time buffers so they can be collected.
func (e *Executor) clearVals() {
	for i := range e.vals {
		e.vals[i] = nil
		e.hdrs[i].Data = nil
	}
}

// StepTime is the kernel time one planned step took in Profile.
type StepTime struct {
	Node   string // node name (or first output) of the step's main node
	Op     string // operator, with fused activations, e.g. "Conv+Relu"
	Output string
	Shape  []int
	Time   time.Duration // mean over the profiled runs
}

// Profile runs the model runs times and returns the mean kernel time of
// every step in execution order, for finding where inference time goes.
// Shape-only steps (views, shape arithmetic) are omitted.
func (e *Executor) Profile(inputs map[string]*tensor.Tensor, runs int) ([]StepTime, error) {
	runs = max(runs, 1)
	e.mu.Lock()
	e.profile = make([]time.Duration, len(e.steps))
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.profile = nil
		e.mu.Unlock()
	}()
	for r := 0; r < runs; r++ {
		if _, err := e.Run(inputs); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []StepTime
	for i, st := range e.steps {
		if st.ik != nil || st.view {
			continue
		}
		op := st.node.OpType
		if a := actName(st.k); a != "" {
			op += "+" + a
		}
		name := st.node.Name
		if name == "" && len(st.node.Outputs) > 0 {
			name = st.node.Outputs[0]
		}
		out = append(out, StepTime{Node: name, Op: op, Output: e.slots[st.out].name,
			Shape: slices.Clone(e.shapes[st.out]), Time: e.profile[i] / time.Duration(runs)})
	}
	return out, nil
}

// actName names the activation fused into a kernel, if any.
func actName(k kernel) string {
	var a ops.Act
	switch k := k.(type) {
	case *convK:
		a = k.act
	case *convTK:
		a = k.act
	case *binaryK:
		a = k.act
	}
	switch a {
	case ops.ActReLU:
		return "Relu"
	case ops.ActReLU6:
		return "Relu6"
	}
	return ""
}
