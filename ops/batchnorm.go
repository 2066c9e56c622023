package ops

import (
	"math"

	"github.com/vigil-ad/vigil/tensor"
)

// bnDims splits x [N,C,...] into images, channels and the per-channel
// spatial size; it panics for rank < 2.
func bnDims(op string, x *tensor.Tensor) (n, c, s int) {
	if len(x.Shape) < 2 {
		panicf("%s: want [N,C,...], got %v", op, x.Shape)
	}
	n, c = x.Shape[0], x.Shape[1]
	return n, c, x.Len() / max(n*c, 1)
}

func vecOr(op, name string, t *tensor.Tensor, c int, def float32) func(int) float32 {
	if t == nil {
		return func(int) float32 { return def }
	}
	if t.Len() != c {
		panicf("%s: %s has %d values, want %d", op, name, t.Len(), c)
	}
	return func(i int) float32 { return t.Data[i] }
}

// BatchNormInference returns gamma*(x-mean)/sqrt(variance+eps)+beta per
// channel of x [N,C,...]. gamma and beta may be nil (1 and 0).
func BatchNormInference(x, gamma, beta, mean, variance *tensor.Tensor, eps float32) *tensor.Tensor {
	const op = "ops.BatchNormInference"
	n, c, s := bnDims(op, x)
	g, b := vecOr(op, "gamma", gamma, c, 1), vecOr(op, "beta", beta, c, 0)
	m, v := vecOr(op, "mean", mean, c, 0), vecOr(op, "variance", variance, c, 1)
	scale, shift := make([]float32, c), make([]float32, c)
	for i := range c {
		scale[i] = g(i) / float32(math.Sqrt(float64(v(i)+eps)))
		shift[i] = b(i) - m(i)*scale[i]
	}
	y := tensor.New(x.Shape...)
	tensor.ParallelChunks(n*c, max(1, 4096/max(s, 1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			sc, sh := scale[pl%c], shift[pl%c]
			dst := y.Data[pl*s : pl*s+s]
			for i, v := range x.Data[pl*s : pl*s+s] {
				dst[i] = v*sc + sh
			}
		}
	})
	return y
}

// BatchNormTrainForward normalises x [N,C,...] with its own per-channel
// batch statistics (mean and biased variance) and returns y together with
// mean and invStd = 1/sqrt(var+eps), both [C], for the backward pass.
func BatchNormTrainForward(x, gamma, beta *tensor.Tensor, eps float32) (y, mean, invStd *tensor.Tensor) {
	const op = "ops.BatchNormTrainForward"
	n, c, s := bnDims(op, x)
	g, b := vecOr(op, "gamma", gamma, c, 1), vecOr(op, "beta", beta, c, 0)
	mean, invStd = tensor.New(c), tensor.New(c)
	y = tensor.New(x.Shape...)
	cnt := float64(n * s)
	tensor.Parallel(c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			// Two passes in float64: stable variance at negligible cost.
			var sum float64
			for img := 0; img < n; img++ {
				for _, v := range x.Data[(img*c+ch)*s : (img*c+ch)*s+s] {
					sum += float64(v)
				}
			}
			mu := sum / cnt
			var sq float64
			for img := 0; img < n; img++ {
				for _, v := range x.Data[(img*c+ch)*s : (img*c+ch)*s+s] {
					d := float64(v) - mu
					sq += d * d
				}
			}
			is := 1 / math.Sqrt(sq/cnt+float64(eps))
			mean.Data[ch], invStd.Data[ch] = float32(mu), float32(is)
			sc := float32(is) * g(ch)
			sh := b(ch) - float32(mu)*sc
			for img := 0; img < n; img++ {
				off := (img*c + ch) * s
				dst := y.Data[off : off+s]
				for i, v := range x.Data[off : off+s] {
					dst[i] = v*sc + sh
				}
			}
		}
	})
	return y, mean, invStd
}

// BatchNormBackward returns the gradients of the training-mode batch norm
// (batch statistics included) with respect to x, gamma and beta. gamma may
// be nil (1); dgamma and dbeta are returned either way.
func BatchNormBackward(x, dy, gamma, mean, invStd *tensor.Tensor) (dx, dgamma, dbeta *tensor.Tensor) {
	const op = "ops.BatchNormBackward"
	tensor.MustSameShape(op, x, dy)
	n, c, s := bnDims(op, x)
	g := vecOr(op, "gamma", gamma, c, 1)
	m, is := vecOr(op, "mean", mean, c, 0), vecOr(op, "invStd", invStd, c, 1)
	dx, dgamma, dbeta = tensor.New(x.Shape...), tensor.New(c), tensor.New(c)
	cnt := float64(n * s)
	tensor.Parallel(c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mu, inv := m(ch), is(ch)
			var sdy, sdyx float64
			for img := 0; img < n; img++ {
				off := (img*c + ch) * s
				xs := x.Data[off : off+s]
				for i, d := range dy.Data[off : off+s] {
					sdy += float64(d)
					sdyx += float64(d) * float64((xs[i]-mu)*inv)
				}
			}
			dgamma.Data[ch], dbeta.Data[ch] = float32(sdyx), float32(sdy)
			// dx = gamma*inv*(dy - mean(dy) - xhat*mean(dy*xhat))
			k := g(ch) * inv
			mdy, mdyx := float32(sdy/cnt), float32(sdyx/cnt)
			for img := 0; img < n; img++ {
				off := (img*c + ch) * s
				xs := x.Data[off : off+s]
				dst := dx.Data[off : off+s]
				for i, d := range dy.Data[off : off+s] {
					xh := (xs[i] - mu) * inv
					dst[i] = k * (d - mdy - xh*mdyx)
				}
			}
		}
	})
	return dx, dgamma, dbeta
}
