package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// Linear returns x·wᵀ + b for x [N,K], w [M,K] (PyTorch / ONNX Gemm
// transB layout) and b [M] or nil; the result is [N,M].
func Linear(x, w, b *Var) *Var {
	xs, ws := x.Value.Shape, w.Value.Shape
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[1] {
		panic(fmt.Sprintf("nn.Linear: input %v and weight %v do not match (want [N,K] and [M,K])", xs, ws))
	}
	n, k, m := xs[0], xs[1], ws[0]
	if b != nil && len(b.Value.Data) != m {
		panic(fmt.Sprintf("nn.Linear: bias has %d values for %d outputs", len(b.Value.Data), m))
	}
	y := tensor.New(n, m)
	gemm.Sgemm(false, true, n, m, k, 1, x.Value.Data, k, w.Value.Data, k, 0, y.Data, m)
	if b != nil {
		for i := 0; i < n; i++ {
			addTo(y.Data[i*m:(i+1)*m], b.Value.Data)
		}
	}
	var res *Var
	res = result(y, []*Var{x, w, b}, func() {
		dy := res.Grad.Data
		if needs(x) {
			dx := tensor.New(n, k)
			gemm.Sgemm(false, false, n, k, m, 1, dy, m, w.Value.Data, k, 0, dx.Data, k)
			x.accum(dx)
		}
		if needs(w) {
			dw := tensor.New(m, k)
			gemm.Sgemm(true, false, m, k, n, 1, dy, m, x.Value.Data, k, 0, dw.Data, k)
			w.accum(dw)
		}
		if needs(b) {
			db := tensor.New(b.Value.Shape...)
			for i := 0; i < n; i++ {
				addTo(db.Data, dy[i*m:(i+1)*m])
			}
			b.accum(db)
		}
	})
	return res
}

// MatMul returns a·b for a [M,K] and b [K,N].
func MatMul(a, b *Var) *Var {
	as, bs := a.Value.Shape, b.Value.Shape
	if len(as) != 2 || len(bs) != 2 || as[1] != bs[0] {
		panic(fmt.Sprintf("nn.MatMul: shapes %v and %v do not chain", as, bs))
	}
	m, k, n := as[0], as[1], bs[1]
	y := tensor.New(m, n)
	gemm.Sgemm(false, false, m, n, k, 1, a.Value.Data, k, b.Value.Data, n, 0, y.Data, n)
	var res *Var
	res = result(y, []*Var{a, b}, func() {
		dy := res.Grad.Data
		if needs(a) {
			da := tensor.New(m, k)
			gemm.Sgemm(false, true, m, k, n, 1, dy, n, b.Value.Data, n, 0, da.Data, k)
			a.accum(da)
		}
		if needs(b) {
			db := tensor.New(k, n)
			gemm.Sgemm(true, false, k, n, m, 1, a.Value.Data, k, dy, n, 0, db.Data, n)
			b.accum(db)
		}
	})
	return res
}

// Sum returns the sum of all elements as a one-element var.
func Sum(x *Var) *Var {
	var s float64
	for _, v := range x.Value.Data {
		s += float64(v)
	}
	var res *Var
	res = result(tensor.From([]float32{float32(s)}, 1), []*Var{x}, func() {
		g := like(x.Value)
		g.Fill(res.Grad.Data[0])
		x.accum(g)
	})
	return res
}

// Mean returns the mean of all elements as a one-element var.
func Mean(x *Var) *Var {
	return Scale(Sum(x), 1/float32(len(x.Value.Data)))
}

// Reshape returns x with a new shape (one dimension may be -1); the value
// shares x's data.
func Reshape(x *Var, shape ...int) *Var {
	y := x.Value.Reshape(shape...)
	var res *Var
	res = result(y, []*Var{x}, func() {
		x.accum(&tensor.Tensor{Shape: append([]int(nil), x.Value.Shape...), Data: res.Grad.Data})
	})
	return res
}

// Flatten reshapes [N, ...] to [N, rest].
func Flatten(x *Var) *Var {
	return Reshape(x, x.Value.Shape[0], -1)
}

// Concat joins vars along axis 1 (channels for NCHW); all other dimensions
// must agree.
func Concat(xs ...*Var) *Var {
	if len(xs) == 0 {
		panic("nn.Concat: no inputs")
	}
	s0 := xs[0].Value.Shape
	if len(s0) < 2 {
		panic(fmt.Sprintf("nn.Concat: need rank >= 2, got %v", s0))
	}
	n := s0[0]
	chunks := make([]int, len(xs)) // elements per batch item of each input
	total := 0
	shape := append([]int(nil), s0...)
	shape[1] = 0
	for i, x := range xs {
		s := x.Value.Shape
		if len(s) != len(s0) || s[0] != n || !sameShape(s[2:], s0[2:]) {
			panic(fmt.Sprintf("nn.Concat: shape %v does not match %v outside axis 1", s, s0))
		}
		shape[1] += s[1]
		chunks[i] = len(x.Value.Data) / max(n, 1)
		total += chunks[i]
	}
	y := tensor.New(shape...)
	for b := 0; b < n; b++ {
		off := b * total
		for i, x := range xs {
			copy(y.Data[off:off+chunks[i]], x.Value.Data[b*chunks[i]:(b+1)*chunks[i]])
			off += chunks[i]
		}
	}
	var res *Var
	res = result(y, xs, func() {
		dy := res.Grad.Data
		off := 0
		for i, x := range xs {
			if needs(x) {
				g := like(x.Value)
				for b := 0; b < n; b++ {
					copy(g.Data[b*chunks[i]:(b+1)*chunks[i]], dy[b*total+off:b*total+off+chunks[i]])
				}
				x.accum(g)
			}
			off += chunks[i]
		}
	})
	return res
}

// axisSplit returns the sizes outer × dim × inner around axis.
func axisSplit(shape []int, axis int) (outer, dim, inner int, ax int) {
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) {
		panic(fmt.Sprintf("nn: axis out of range for shape %v", shape))
	}
	outer, inner = 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return outer, shape[axis], inner, axis
}

// Softmax normalises exp(x) along axis (negative counts from the end).
func Softmax(x *Var, axis int) *Var {
	y := ops.Softmax(x.Value, axis)
	var res *Var
	res = result(y, []*Var{x}, func() {
		// dx = y ⊙ (dy − Σ dy·y)
		outer, dim, inner, _ := axisSplit(y.Shape, axis)
		dy := res.Grad.Data
		g := like(y)
		for o := 0; o < outer; o++ {
			for in := 0; in < inner; in++ {
				base := o*dim*inner + in
				var s float32
				for j := 0; j < dim; j++ {
					s += dy[base+j*inner] * y.Data[base+j*inner]
				}
				for j := 0; j < dim; j++ {
					g.Data[base+j*inner] = y.Data[base+j*inner] * (dy[base+j*inner] - s)
				}
			}
		}
		x.accum(g)
	})
	return res
}

// LogSoftmax returns log(softmax(x)) along axis, computed stably.
func LogSoftmax(x *Var, axis int) *Var {
	y := ops.LogSoftmax(x.Value, axis)
	var res *Var
	res = result(y, []*Var{x}, func() {
		// dx = dy − softmax ⊙ Σ dy
		outer, dim, inner, _ := axisSplit(y.Shape, axis)
		dy := res.Grad.Data
		g := like(y)
		for o := 0; o < outer; o++ {
			for in := 0; in < inner; in++ {
				base := o*dim*inner + in
				var s float32
				for j := 0; j < dim; j++ {
					s += dy[base+j*inner]
				}
				for j := 0; j < dim; j++ {
					i := base + j*inner
					g.Data[i] = dy[i] - float32(math.Exp(float64(y.Data[i])))*s
				}
			}
		}
		x.accum(g)
	})
	return res
}

// Dropout zeroes each element with probability p and scales the survivors
// by 1/(1-p) (inverted dropout) when training; otherwise it is the
// identity. The mask comes from rng, so a seeded rng makes it reproducible.
func Dropout(x *Var, p float64, training bool, rng *rand.Rand) *Var {
	if !training || p <= 0 {
		return x
	}
	if p >= 1 {
		return result(like(x.Value), []*Var{x}, func() {})
	}
	scale := float32(1 / (1 - p))
	mask := make([]float32, len(x.Value.Data))
	y := like(x.Value)
	for i, v := range x.Value.Data {
		if rng.Float64() >= p {
			mask[i] = scale
			y.Data[i] = v * scale
		}
	}
	var res *Var
	res = result(y, []*Var{x}, func() {
		g := like(y)
		for i, d := range res.Grad.Data {
			g.Data[i] = d * mask[i]
		}
		x.accum(g)
	})
	return res
}
