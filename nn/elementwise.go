package nn

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// like allocates a tensor with t's shape.
func like(t *tensor.Tensor) *tensor.Tensor { return tensor.New(t.Shape...) }

// bcastKind describes how the second operand of a binary op spreads over
// the first: the same shape, one scalar, or one value per channel (axis 1,
// e.g. a [C] or [1,C,1,1] bias on an [N,C,H,W] map).
type bcastKind int

const (
	bcSame bcastKind = iota
	bcScalar
	bcChannel
)

func bcastOf(op string, a, b *tensor.Tensor) bcastKind {
	switch {
	case len(b.Data) == len(a.Data) && sameShape(a.Shape, b.Shape):
		return bcSame
	case len(b.Data) == 1:
		return bcScalar
	case len(a.Shape) >= 2 && len(b.Data) == a.Shape[1] && channelShaped(b.Shape, a.Shape[1]):
		return bcChannel
	}
	panic(fmt.Sprintf("nn.%s: cannot combine shapes %v and %v (need equal shapes, a scalar, or a per-channel operand)", op, a.Shape, b.Shape))
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// channelShaped accepts [C], [1,C], [1,C,1,1] and the like.
func channelShaped(s []int, c int) bool {
	if len(s) == 1 {
		return s[0] == c
	}
	if len(s) < 2 || s[0] != 1 || s[1] != c {
		return false
	}
	for _, d := range s[2:] {
		if d != 1 {
			return false
		}
	}
	return true
}

// inner returns the number of elements per (n, c) slice of t.
func innerSize(t *tensor.Tensor) int {
	n := 1
	for _, d := range t.Shape[2:] {
		n *= d
	}
	return n
}

// Elementwise kernels of the binary ops, selected by a constant so the
// same-shape fast path is a plain loop with no per-element indirect call.
const (
	opAdd = iota
	opSub
	opMul
	opDiv
)

func apply(op int, dst, a, b []float32) {
	b = b[:len(a)]
	dst = dst[:len(a)]
	switch op {
	case opAdd:
		for i, x := range a {
			dst[i] = x + b[i]
		}
	case opSub:
		for i, x := range a {
			dst[i] = x - b[i]
		}
	case opMul:
		for i, x := range a {
			dst[i] = x * b[i]
		}
	case opDiv:
		for i, x := range a {
			dst[i] = x / b[i]
		}
	}
}

func applyScalar(op int, dst, a []float32, y float32) {
	dst = dst[:len(a)]
	switch op {
	case opAdd:
		for i, x := range a {
			dst[i] = x + y
		}
	case opSub:
		for i, x := range a {
			dst[i] = x - y
		}
	case opMul:
		for i, x := range a {
			dst[i] = x * y
		}
	case opDiv:
		for i, x := range a {
			dst[i] = x / y
		}
	}
}

// binary computes a op b with b broadcast over a, in parallel chunks.
func binary(a, b *tensor.Tensor, kind bcastKind, op int) *tensor.Tensor {
	out := like(a)
	switch kind {
	case bcSame:
		tensor.ParallelChunks(len(a.Data), elemGrain, func(lo, hi int) {
			apply(op, out.Data[lo:hi], a.Data[lo:hi], b.Data[lo:hi])
		})
	case bcScalar:
		y := b.Data[0]
		tensor.ParallelChunks(len(a.Data), elemGrain, func(lo, hi int) {
			applyScalar(op, out.Data[lo:hi], a.Data[lo:hi], y)
		})
	case bcChannel:
		c, in := a.Shape[1], innerSize(a)
		planes := len(a.Data) / max(in, 1)
		tensor.ParallelChunks(planes, max(1, elemGrain/max(in, 1)), func(lo, hi int) {
			for p := lo; p < hi; p++ {
				applyScalar(op, out.Data[p*in:(p+1)*in], a.Data[p*in:(p+1)*in], b.Data[p%c])
			}
		})
	}
	return out
}

// reduceTo sums g (shaped like a) down to b's broadcast shape.
func reduceTo(g *tensor.Tensor, b *tensor.Tensor, kind bcastKind) *tensor.Tensor {
	switch kind {
	case bcScalar:
		var s float64
		for _, x := range g.Data {
			s += float64(x)
		}
		return tensor.From([]float32{float32(s)}, b.Shape...)
	case bcChannel:
		out := tensor.New(b.Shape...)
		c, in := g.Shape[1], innerSize(g)
		for i := 0; i < len(g.Data); i += in {
			var s float32
			for _, x := range g.Data[i : i+in] {
				s += x
			}
			out.Data[(i/in)%c] += s
		}
		return out
	}
	return g
}

// Add returns a + b; b may be a scalar or per-channel operand.
func Add(a, b *Var) *Var {
	kind := bcastOf("Add", a.Value, b.Value)
	out := binary(a.Value, b.Value, kind, opAdd)
	var res *Var
	res = result(out, []*Var{a, b}, func() {
		g := res.Grad
		if needs(b) {
			if kind == bcSame {
				b.accumCopy(g)
			} else {
				b.accum(reduceTo(g, b.Value, kind))
			}
		}
		a.accum(g) // a owns the gradient now; b got a copy or reduction
	})
	return res
}

// Sub returns a - b; b may be a scalar or per-channel operand.
func Sub(a, b *Var) *Var {
	kind := bcastOf("Sub", a.Value, b.Value)
	out := binary(a.Value, b.Value, kind, opSub)
	var res *Var
	res = result(out, []*Var{a, b}, func() {
		g := res.Grad
		if needs(b) {
			nb := reduceTo(g, b.Value, kind)
			if nb == g {
				nb = like(g)
				copy(nb.Data, g.Data)
			}
			for i := range nb.Data {
				nb.Data[i] = -nb.Data[i]
			}
			b.accum(nb)
		}
		a.accum(g)
	})
	return res
}

// Mul returns a * b elementwise; b may be a scalar or per-channel operand.
func Mul(a, b *Var) *Var {
	kind := bcastOf("Mul", a.Value, b.Value)
	av, bv := a.Value, b.Value
	out := binary(av, bv, kind, opMul)
	var res *Var
	res = result(out, []*Var{a, b}, func() {
		g := res.Grad
		if needs(b) {
			ga := binary(g, av, bcSame, opMul)
			b.accum(reduceTo(ga, bv, kind))
		}
		if needs(a) {
			a.accum(binary(g, bv, kind, opMul))
		}
	})
	return res
}

// Div returns a / b elementwise; b may be a scalar or per-channel operand.
func Div(a, b *Var) *Var {
	kind := bcastOf("Div", a.Value, b.Value)
	av, bv := a.Value, b.Value
	out := binary(av, bv, kind, opDiv)
	var res *Var
	res = result(out, []*Var{a, b}, func() {
		g := res.Grad
		if needs(b) {
			// d(a/b)/db = -out/b
			t := binary(g, out, bcSame, opMul) // g·out/b, negated below
			t = binary(t, bv, kind, opDiv)
			for i := range t.Data {
				t.Data[i] = -t.Data[i]
			}
			b.accum(reduceTo(t, bv, kind))
		}
		if needs(a) {
			a.accum(binary(g, bv, kind, opDiv))
		}
	})
	return res
}

// Scale returns s * x for a constant s.
func Scale(x *Var, s float32) *Var {
	out := like(x.Value)
	for i, v := range x.Value.Data {
		out.Data[i] = s * v
	}
	var res *Var
	res = result(out, []*Var{x}, func() {
		g := like(res.Grad)
		for i, v := range res.Grad.Data {
			g.Data[i] = s * v
		}
		x.accum(g)
	})
	return res
}

// AddScalar returns x + s for a constant s.
func AddScalar(x *Var, s float32) *Var {
	out := like(x.Value)
	for i, v := range x.Value.Data {
		out.Data[i] = v + s
	}
	var res *Var
	res = result(out, []*Var{x}, func() { x.accum(res.Grad) })
	return res
}

// unary builds an elementwise op from its forward function and the
// derivative expressed through input x and output y.
func unary(x *Var, f func(float32) float32, df func(x, y float32) float32) *Var {
	out := like(x.Value)
	tensor.ParallelChunks(len(out.Data), elemGrain, func(lo, hi int) {
		o := out.Data[lo:hi]
		for i, v := range x.Value.Data[lo:hi] {
			o[i] = f(v)
		}
	})
	var res *Var
	res = result(out, []*Var{x}, func() {
		g := res.Grad // dead after this pass: scale it in place
		xd, yd := x.Value.Data, out.Data
		tensor.ParallelChunks(len(g.Data), elemGrain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				g.Data[i] *= df(xd[i], yd[i])
			}
		})
		x.accum(g)
	})
	return res
}

// elemGrain is the least number of elements per parallel task in
// elementwise loops (below it a handoff costs more than it saves).
const elemGrain = 1 << 15

// ReLU returns max(x, 0).
func ReLU(x *Var) *Var {
	out := like(x.Value)
	tensor.ParallelChunks(len(out.Data), elemGrain, func(lo, hi int) {
		o := out.Data[lo:hi]
		for i, v := range x.Value.Data[lo:hi] {
			o[i] = max(v, 0)
		}
	})
	var res *Var
	res = result(out, []*Var{x}, func() {
		// The output gradient is dead after this, so mask it in place.
		g := res.Grad
		tensor.ParallelChunks(len(g.Data), elemGrain, func(lo, hi int) {
			reluMask(g.Data[lo:hi], out.Data[lo:hi])
		})
		x.accum(g)
	})
	return res
}

// LeakyReLU returns x for x > 0 and slope*x otherwise.
func LeakyReLU(x *Var, slope float32) *Var {
	return unary(x, func(v float32) float32 {
		if v > 0 {
			return v
		}
		return slope * v
	}, func(v, _ float32) float32 {
		if v > 0 {
			return 1
		}
		return slope
	})
}

// ReLU6 returns min(max(x, 0), 6).
func ReLU6(x *Var) *Var {
	return unary(x, func(v float32) float32 {
		return min(max(v, 0), 6)
	}, func(v, _ float32) float32 {
		if v > 0 && v < 6 {
			return 1
		}
		return 0
	})
}

// Sigmoid returns 1/(1+exp(-x)).
func Sigmoid(x *Var) *Var {
	out := like(x.Value)
	tensor.ParallelChunks(len(out.Data), elemGrain, func(lo, hi int) {
		ops.SigmoidSlices(out.Data[lo:hi], x.Value.Data[lo:hi])
	})
	var res *Var
	res = result(out, []*Var{x}, func() {
		g := res.Grad // dead after this pass: scale it in place
		tensor.ParallelChunks(len(g.Data), elemGrain, func(lo, hi int) {
			ops.SigmoidGradSlices(g.Data[lo:hi], out.Data[lo:hi])
		})
		x.accum(g)
	})
	return res
}

func sigmoid(v float32) float32 { return 1 / (1 + expf(-v)) }

// expf is ops.Expf, a float32 exponential within a few ulps of math.Exp.
func expf(x float32) float32 { return ops.Expf(x) }

// Tanh returns tanh(x).
func Tanh(x *Var) *Var {
	return unary(x, func(v float32) float32 { return float32(math.Tanh(float64(v))) },
		func(_, y float32) float32 { return 1 - y*y })
}

// Exp returns e^x.
func Exp(x *Var) *Var {
	return unary(x, func(v float32) float32 { return float32(math.Exp(float64(v))) },
		func(_, y float32) float32 { return y })
}

// Log returns ln(x).
func Log(x *Var) *Var {
	return unary(x, func(v float32) float32 { return float32(math.Log(float64(v))) },
		func(v, _ float32) float32 { return 1 / v })
}

// Sqrt returns sqrt(x).
func Sqrt(x *Var) *Var {
	return unary(x, func(v float32) float32 { return float32(math.Sqrt(float64(v))) },
		func(_, y float32) float32 { return 0.5 / y })
}

// Square returns x².
func Square(x *Var) *Var {
	return unary(x, func(v float32) float32 { return v * v },
		func(v, _ float32) float32 { return 2 * v })
}

// reluMask zeroes d[i] wherever the ReLU output y[i] is not positive
// (vectorised, branch-free: ops.ReLUMask).
func reluMask(d, y []float32) { ops.ReLUMask(d, y) }
