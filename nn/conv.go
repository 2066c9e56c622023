package nn

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// Conv2d convolves x [N,Cin,H,W] with w [Cout,Cin/G,KH,KW] plus bias b
// ([Cout] or nil) using ops' kernels. A fused activation in p.Act (ReLU or
// ReLU6) is applied in the kernel's epilogue and differentiated here from
// the output, saving a separate pass and buffer.
func Conv2d(x, w, b *Var, p ops.Conv2D) *Var {
	var bv *tensor.Tensor
	if b != nil {
		bv = b.Value
	}
	y := ops.Conv2dForward(x.Value, w.Value, bv, p)
	var res *Var
	res = result(y, []*Var{x, w, b}, func() {
		dy := res.Grad
		if p.Act != ops.ActNone {
			dy = actGrad(dy, y, p.Act)
		}
		q := p
		q.Act = ops.ActNone
		dx, dw, db := ops.Conv2dBackward(x.Value, w.Value, dy, q, needs(x))
		if needs(x) {
			x.accum(dx)
		}
		if needs(w) {
			w.accum(dw)
		}
		if needs(b) {
			b.accum(db)
		}
	})
	return res
}

// actGrad masks dy in place by the derivative of act, read from the
// activation's output y (1 where y is strictly inside the linear range).
func actGrad(dy, y *tensor.Tensor, act ops.Act) *tensor.Tensor {
	hi := float32(math.Inf(1))
	switch act {
	case ops.ActReLU:
	case ops.ActReLU6:
		hi = 6
	default:
		panic(fmt.Sprintf("nn: no gradient for activation %d", act))
	}
	tensor.ParallelChunks(len(dy.Data), elemGrain, func(lo, h int) {
		d, o := dy.Data[lo:h], y.Data[lo:h]
		if act == ops.ActReLU {
			reluMask(d, o)
			return
		}
		for i, v := range o {
			if !(v > 0 && v < hi) {
				d[i] = 0
			}
		}
	})
	return dy
}

// ConvTranspose2d is the transposed convolution of x [N,Cin,H,W] with
// w [Cin,Cout/G,KH,KW] (PyTorch / ONNX layout) plus bias b ([Cout] or nil).
func ConvTranspose2d(x, w, b *Var, p ops.ConvT2D) *Var {
	return ConvTranspose2dAct(x, w, b, p, ops.ActNone)
}

// ConvTranspose2dAct is ConvTranspose2d followed by act (ReLU or ReLU6)
// applied in place on the output, differentiated from the output like
// Conv2d's fused activation.
func ConvTranspose2dAct(x, w, b *Var, p ops.ConvT2D, act ops.Act) *Var {
	var bv *tensor.Tensor
	if b != nil {
		bv = b.Value
	}
	switch act {
	case ops.ActNone, ops.ActReLU, ops.ActReLU6:
	default:
		panic(fmt.Sprintf("nn.ConvTranspose2dAct: unknown activation %d", act))
	}
	// Bias and activation in one pass over the output.
	y := ops.ConvTranspose2dForwardAct(x.Value, w.Value, bv, p, act)
	var res *Var
	res = result(y, []*Var{x, w, b}, func() {
		dy := res.Grad
		if act != ops.ActNone {
			dy = actGrad(dy, y, act)
		}
		dx, dw, db := ops.ConvTranspose2dBackward(x.Value, w.Value, dy, p, needs(x))
		if needs(x) {
			x.accum(dx)
		}
		if needs(w) {
			w.accum(dw)
		}
		if needs(b) {
			b.accum(db)
		}
	})
	return res
}

// MaxPool2d takes the maximum over each pooling window. Without a graph to
// record it skips the argmax bookkeeping.
func MaxPool2d(x *Var, p ops.Pool2D) *Var {
	if !track(x) {
		return NewVar(ops.MaxPool2dInference(x.Value, p))
	}
	y, arg := ops.MaxPool2dForward(x.Value, p)
	var res *Var
	res = result(y, []*Var{x}, func() {
		x.accum(ops.MaxPool2dBackward(res.Grad, arg, x.Value.Shape))
	})
	return res
}

// AvgPool2d averages over each pooling window.
func AvgPool2d(x *Var, p ops.Pool2D) *Var {
	y := ops.AvgPool2dForward(x.Value, p)
	var res *Var
	res = result(y, []*Var{x}, func() {
		x.accum(ops.AvgPool2dBackward(res.Grad, p, x.Value.Shape))
	})
	return res
}

// GlobalAvgPool averages each channel map: [N,C,H,W] -> [N,C,1,1].
func GlobalAvgPool(x *Var) *Var {
	y := ops.GlobalAvgPoolForward(x.Value)
	var res *Var
	res = result(y, []*Var{x}, func() {
		x.accum(ops.GlobalAvgPoolBackward(res.Grad, x.Value.Shape))
	})
	return res
}

// UpsampleNearest resizes x [N,C,H,W] to [N,C,oh,ow] by nearest neighbour.
func UpsampleNearest(x *Var, oh, ow int) *Var {
	y := ops.UpsampleNearest(x.Value, oh, ow)
	var res *Var
	res = result(y, []*Var{x}, func() {
		x.accum(ops.UpsampleNearestBackward(res.Grad, x.Value.Shape))
	})
	return res
}

// UpsampleBilinear resizes x [N,C,H,W] to [N,C,oh,ow] bilinearly.
func UpsampleBilinear(x *Var, oh, ow int, alignCorners bool) *Var {
	y := ops.UpsampleBilinear(x.Value, oh, ow, alignCorners)
	var res *Var
	res = result(y, []*Var{x}, func() {
		x.accum(ops.UpsampleBilinearBackward(res.Grad, x.Value.Shape, alignCorners))
	})
	return res
}

// BatchNorm2d normalises x [N,C,H,W] per channel and applies gamma and
// beta. In training it uses the batch statistics and updates runMean and
// runVar in place with momentum (PyTorch convention: new = (1−m)·old +
// m·batch, variance unbiased); in evaluation it uses the running statistics.
func BatchNorm2d(x, gamma, beta *Var, runMean, runVar *tensor.Tensor, training bool, momentum, eps float32) *Var {
	if len(x.Value.Shape) != 4 {
		panic(fmt.Sprintf("nn.BatchNorm2d: want [N,C,H,W], got %v", x.Value.Shape))
	}
	if !training {
		y := ops.BatchNormInference(x.Value, gamma.Value, beta.Value, runMean, runVar, eps)
		var res *Var
		res = result(y, []*Var{x, gamma, beta}, func() {
			// y = gamma·(x−mean)·invStd + beta with constant statistics.
			n, c, h, w := x.Value.Dims4("nn.BatchNorm2d")
			hw := h * w
			dy := res.Grad.Data
			dx := like(x.Value)
			dg := tensor.New(c)
			db := tensor.New(c)
			for ci := 0; ci < c; ci++ {
				inv := float32(1 / math.Sqrt(float64(runVar.Data[ci])+float64(eps)))
				k := gamma.Value.Data[ci] * inv
				m := runMean.Data[ci]
				var sg, sb float32
				for b := 0; b < n; b++ {
					off := (b*c + ci) * hw
					for i := off; i < off+hw; i++ {
						dx.Data[i] = k * dy[i]
						sg += dy[i] * (x.Value.Data[i] - m) * inv
						sb += dy[i]
					}
				}
				dg.Data[ci], db.Data[ci] = sg, sb
			}
			x.accum(dx)
			gamma.accum(dg)
			beta.accum(db)
		})
		return res
	}
	y, mean, invStd := ops.BatchNormTrainForward(x.Value, gamma.Value, beta.Value, eps)
	if runMean != nil && runVar != nil {
		n, _, h, w := x.Value.Dims4("nn.BatchNorm2d")
		cnt := float32(n * h * w)
		unbias := cnt / max(cnt-1, 1)
		for c := range runMean.Data {
			is := invStd.Data[c]
			v := 1/(is*is) - eps
			runMean.Data[c] = (1-momentum)*runMean.Data[c] + momentum*mean.Data[c]
			runVar.Data[c] = (1-momentum)*runVar.Data[c] + momentum*v*unbias
		}
	}
	var res *Var
	res = result(y, []*Var{x, gamma, beta}, func() {
		dx, dg, db := ops.BatchNormBackward(x.Value, res.Grad, gamma.Value, mean, invStd)
		if needs(x) {
			x.accum(dx)
		}
		gamma.accum(dg)
		beta.accum(db)
	})
	return res
}
