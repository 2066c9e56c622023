// Package nn is Vigil's reverse-mode automatic differentiation and neural
// network layer library. A Var holds a value and, after Backward, the
// gradient of a scalar loss with respect to it. Every op records its inputs
// and a closure that turns the output gradient into input gradients; Backward
// walks that graph in reverse topological order, micrograd style, while the
// heavy lifting (convolution, pooling, batch norm, GEMM) lives in packages
// ops and gemm.
package nn

import (
	"fmt"
	"sync/atomic"

	"github.com/vigil-ad/vigil/tensor"
)

// Var is a node of the computation graph.
type Var struct {
	Value *tensor.Tensor
	// Grad is dLoss/dValue after Backward; nil means zero (never reached, or
	// not requiring a gradient). Gradients accumulate across Backward calls
	// until they are zeroed.
	Grad *tensor.Tensor
	// RequiresGrad marks vars whose gradient is wanted (parameters, and
	// everything computed from them). Backward computes gradients only
	// along paths that lead to such vars.
	RequiresGrad bool

	parents  []*Var
	backward func() // reads v.Grad, accumulates into parents
	freed    bool   // interior node whose history a Backward already released
}

// NewVar wraps a tensor as a leaf that does not require a gradient (an input).
func NewVar(t *tensor.Tensor) *Var { return &Var{Value: t} }

// NewParamVar wraps a tensor as a leaf that requires a gradient.
func NewParamVar(t *tensor.Tensor) *Var { return &Var{Value: t, RequiresGrad: true} }

// Shape is a shorthand for v.Value.Shape.
func (v *Var) Shape() []int { return v.Value.Shape }

// Item returns the single value of a one-element var (a loss).
func (v *Var) Item() float32 {
	if len(v.Value.Data) != 1 {
		panic(fmt.Sprintf("nn: Item on var of shape %v", v.Value.Shape))
	}
	return v.Value.Data[0]
}

// ZeroGrad drops the accumulated gradient.
func (v *Var) ZeroGrad() { v.Grad = nil }

// Detach returns a leaf sharing v's value with no history.
func (v *Var) Detach() *Var { return &Var{Value: v.Value} }

// noGrad counts active NoGrad scopes; while positive, ops record no graph.
var noGrad atomic.Int32

// NoGrad runs fn in inference mode: ops compute values only, keep no
// references to their inputs and build no graph, so memory is released as
// soon as a value is dead. The mode is process wide: while fn runs, a
// training step in another goroutine would record no graph either. For
// inference that runs concurrently with training, freeze the inference
// model instead (SetRequiresGrad(m.Params(), false)); ops on vars that do
// not require gradients record nothing, without any global state.
func NoGrad(fn func()) {
	noGrad.Add(1)
	defer noGrad.Add(-1)
	fn()
}

// GradEnabled reports whether ops currently record the graph.
func GradEnabled() bool { return noGrad.Load() == 0 }

// track reports whether an op on these inputs must record its backward pass.
func track(in ...*Var) bool {
	if noGrad.Load() != 0 {
		return false
	}
	for _, v := range in {
		if v != nil && v.RequiresGrad {
			return true
		}
	}
	return false
}

// result builds an op output; when tracking, it stores parents and the
// backward closure that the op supplies.
func result(val *tensor.Tensor, parents []*Var, bw func()) *Var {
	out := &Var{Value: val}
	if track(parents...) {
		out.RequiresGrad = true
		out.parents = parents
		out.backward = bw
	}
	return out
}

// needs reports whether v wants a gradient contribution.
func needs(v *Var) bool { return v != nil && v.RequiresGrad }

// accum adds g into v.Grad, taking ownership of g when v has no gradient yet
// (so g must not be shared with another var or reused by the caller).
func (v *Var) accum(g *tensor.Tensor) {
	if !v.RequiresGrad {
		return
	}
	if v.Grad == nil {
		if !sameShape(g.Shape, v.Value.Shape) {
			g = &tensor.Tensor{Shape: append([]int(nil), v.Value.Shape...), Data: g.Data}
		}
		v.Grad = g
		return
	}
	addTo(v.Grad.Data, g.Data)
}

// accumCopy adds g into v.Grad without taking ownership of g.
func (v *Var) accumCopy(g *tensor.Tensor) {
	if !v.RequiresGrad {
		return
	}
	if v.Grad == nil {
		v.Grad = &tensor.Tensor{Shape: append([]int(nil), v.Value.Shape...), Data: append([]float32(nil), g.Data...)}
		return
	}
	addTo(v.Grad.Data, g.Data)
}

// gradBuf returns v.Grad, allocating a zero gradient first if needed, for
// backward passes that scatter into it.
func (v *Var) gradBuf() *tensor.Tensor {
	if v.Grad == nil {
		v.Grad = tensor.New(v.Value.Shape...)
	}
	return v.Grad
}

func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i, s := range src {
		dst[i] += s
	}
}

// Backward computes the gradient of the one-element var loss with respect to
// every var it depends on that requires a gradient, seeding dLoss/dLoss = 1.
func Backward(loss *Var) {
	if len(loss.Value.Data) != 1 {
		panic(fmt.Sprintf("nn: Backward needs a one-element loss, got shape %v", loss.Value.Shape))
	}
	BackwardWith(loss, tensor.From([]float32{1}, loss.Value.Shape...))
}

// BackwardWith back-propagates the output gradient grad (same shape as out)
// through the graph. Intermediate gradients and the graph links are dropped
// afterwards so that the graph's memory can be reclaimed; leaf gradients
// (parameters) remain and accumulate. Back-propagating again through a part
// of the graph that was already released panics (it would silently lose
// gradients): to combine several losses of one forward pass, add them and
// call Backward once.
func BackwardWith(out *Var, grad *tensor.Tensor) {
	if !out.RequiresGrad {
		return
	}
	if len(grad.Data) != len(out.Value.Data) {
		panic(fmt.Sprintf("nn: BackwardWith: gradient of %d values for output shape %v", len(grad.Data), out.Value.Shape))
	}
	if out.freed {
		panic("nn: Backward through a graph that an earlier Backward already released; add the losses and call Backward once")
	}
	order := topo(out)
	out.accumCopy(grad)
	for i := len(order) - 1; i >= 0; i-- {
		v := order[i]
		if v.backward != nil && v.Grad != nil {
			v.backward()
		}
		if v.backward != nil {
			// An interior node: free its gradient and history.
			v.Grad = nil
			v.backward = nil
			v.parents = nil
			v.freed = true
		}
	}
}

// topo returns the vars that out depends on (and that require gradients) in
// topological order, inputs first. Iterative DFS: deep nets must not
// overflow anything.
func topo(out *Var) []*Var {
	var order []*Var
	seen := map[*Var]bool{out: true}
	type frame struct {
		v *Var
		i int
	}
	stack := []frame{{out, 0}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.i < len(f.v.parents) {
			p := f.v.parents[f.i]
			f.i++
			if p != nil && p.RequiresGrad && !seen[p] {
				if p.freed {
					panic("nn: Backward through a graph that an earlier Backward already released; add the losses and call Backward once")
				}
				seen[p] = true
				stack = append(stack, frame{p, 0})
			}
			continue
		}
		order = append(order, f.v)
		stack = stack[:len(stack)-1]
	}
	return order
}
