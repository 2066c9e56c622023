package ops

import (
	"math"

	"github.com/vigil-ad/vigil/tensor"
)

// elemGrain is how many elements one parallel task handles at least, so
// cheap elementwise loops are not split below the cost of a handoff.
const elemGrain = 1 << 15

// ReLUInPlace sets negative elements of x to 0.
func ReLUInPlace(x *tensor.Tensor) {
	tensor.ParallelChunks(x.Len(), elemGrain, func(lo, hi int) {
		d := x.Data[lo:hi]
		for i, v := range d {
			if v < 0 {
				d[i] = 0
			}
		}
	})
}

// ClipInPlace clamps every element of x to [lo, hi].
func ClipInPlace(x *tensor.Tensor, lo, hi float32) {
	tensor.ParallelChunks(x.Len(), elemGrain, func(a, b int) {
		d := x.Data[a:b]
		for i, v := range d {
			if v < lo {
				d[i] = lo
			} else if v > hi {
				d[i] = hi
			}
		}
	})
}

// AddInto sets y = a + b elementwise; all three have the same shape and y
// may alias a or b.
func AddInto(y, a, b *tensor.Tensor) {
	tensor.MustSameShape("ops.AddInto", a, b)
	tensor.MustSameShape("ops.AddInto", y, a)
	tensor.ParallelChunks(y.Len(), elemGrain, func(lo, hi int) {
		ys, as, bs := y.Data[lo:hi], a.Data[lo:hi], b.Data[lo:hi]
		for i := range ys {
			ys[i] = as[i] + bs[i]
		}
	})
}

// Linear returns x·wᵀ + b for x [N,K], w [M,K] and b [M] (or nil): the
// PyTorch nn.Linear / ONNX Gemm(transB=1) layout.
func Linear(x, w, b *tensor.Tensor) *tensor.Tensor {
	tensor.MustRank("ops.Linear", x, 2)
	tensor.MustRank("ops.Linear weight", w, 2)
	n, k := x.Shape[0], x.Shape[1]
	m := w.Shape[0]
	if w.Shape[1] != k {
		panicf("ops.Linear: x %v and weight %v do not agree", x.Shape, w.Shape)
	}
	if b != nil && b.Len() != m {
		panicf("ops.Linear: bias has %d values, want %d", b.Len(), m)
	}
	y := tensor.New(n, m)
	if n*m == 0 {
		return y
	}
	sgemmPar(false, true, n, m, k, 1, x.Data, k, w.Data, k, 0, y.Data, m)
	if b != nil {
		for i := 0; i < n; i++ {
			r := y.Data[i*m : i*m+m]
			for j := range r {
				r[j] += b.Data[j]
			}
		}
	}
	return y
}

// Softmax returns exp(x)/sum(exp(x)) along axis (negative counts from the
// end), computed stably by subtracting the maximum.
func Softmax(x *tensor.Tensor, axis int) *tensor.Tensor {
	return softmax(x, axis, false, "ops.Softmax")
}

// LogSoftmax returns log(softmax(x)) along axis, computed stably as
// x − max − log Σ exp(x − max).
func LogSoftmax(x *tensor.Tensor, axis int) *tensor.Tensor {
	return softmax(x, axis, true, "ops.LogSoftmax")
}

func softmax(x *tensor.Tensor, axis int, logMode bool, name string) *tensor.Tensor {
	r := len(x.Shape)
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		panicf("%s: axis out of range for shape %v", name, x.Shape)
	}
	outer := tensor.Numel(x.Shape[:axis])
	d := x.Shape[axis]
	inner := tensor.Numel(x.Shape[axis+1:])
	y := tensor.New(x.Shape...)
	if d == 0 {
		return y
	}
	tensor.ParallelChunks(outer*inner, max(1, elemGrain/(d*8)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			o, in := t/inner, t%inner
			base := o*d*inner + in
			mx := float32(math.Inf(-1))
			for k := 0; k < d; k++ {
				mx = max(mx, x.Data[base+k*inner])
			}
			var s float64
			if logMode {
				for k := 0; k < d; k++ {
					s += math.Exp(float64(x.Data[base+k*inner] - mx))
				}
				// (x − max) − log s keeps the small result's precision when
				// x and max are large
				ls := float32(math.Log(s))
				for k := 0; k < d; k++ {
					y.Data[base+k*inner] = (x.Data[base+k*inner] - mx) - ls
				}
				continue
			}
			for k := 0; k < d; k++ {
				e := float32(math.Exp(float64(x.Data[base+k*inner] - mx)))
				y.Data[base+k*inner] = e
				s += float64(e)
			}
			inv := float32(1 / s)
			for k := 0; k < d; k++ {
				y.Data[base+k*inner] *= inv
			}
		}
	})
	return y
}

// AddReLUSlices sets dst[i] = max(a[i]+b[i], 0) (the residual Add+ReLU),
// vectorised; a NaN sum stays NaN. dst may alias a or b; a and b must hold
// len(dst) values.
func AddReLUSlices(dst, a, b []float32) {
	if len(a) < len(dst) || len(b) < len(dst) {
		panicf("ops.AddReLUSlices: operands of %d and %d values for %d outputs", len(a), len(b), len(dst))
	}
	addReLU(dst, a, b)
}

func addReLUGo(dst, a, b []float32) {
	for i := range dst {
		v := a[i] + b[i]
		if v < 0 {
			v = 0
		}
		dst[i] = v
	}
}

// Dot returns Σ a[i]·b[i], vectorised with a fixed summation order (the
// same inputs always give the same bits). a and b must have equal length.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panicf("ops.Dot: lengths %d and %d differ", len(a), len(b))
	}
	return dotF32(a, b)
}

// dotGo is the portable dot product with four partial sums.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
