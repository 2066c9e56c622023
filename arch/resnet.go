// Package arch holds trainable network architectures built on package nn:
// ResNet-18 (torchvision/ONNX parameter names, ONNX export) and the small
// convolutional autoencoder of the training benchmark.
package arch

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// BasicBlock is ResNet's two-convolution residual block.
type BasicBlock struct {
	Conv1, Conv2 *nn.Conv2dLayer
	BN1, BN2     *nn.BatchNorm2dLayer
	// DownConv and DownBN project the identity when the shape changes
	// ("downsample.0" and "downsample.1"); nil otherwise.
	DownConv *nn.Conv2dLayer
	DownBN   *nn.BatchNorm2dLayer
}

// ResNet18 is torchvision's resnet18 as a trainable nn network. It is an
// nn.Module (Forward gives logits) and nn.Stateful (batch-norm buffers), so
// nn.SaveParams/LoadParams and optim checkpoints work on it directly.
type ResNet18 struct {
	Conv1  *nn.Conv2dLayer
	BN1    *nn.BatchNorm2dLayer
	Layers [4][2]*BasicBlock
	FC     *nn.LinearLayer
}

// FeatureNames are the names of the taps Features returns, in order.
var FeatureNames = []string{"layer1", "layer2", "layer3", "layer4"}

// FeatureStrides are the input pixels per feature cell of each tap.
var FeatureStrides = []int{4, 8, 16, 32}

// FeatureChannels are the channel counts of each tap.
var FeatureChannels = []int{64, 128, 256, 512}

// convInit builds a bias-free convolution with torchvision's ResNet init:
// Kaiming normal with fan_out and ReLU gain.
func convInit(in, out, k, stride, pad int, rng *rand.Rand) *nn.Conv2dLayer {
	c := nn.NewConv2d(nn.ConvSpec{In: in, Out: out, Kernel: k, Stride: stride, Pad: pad, NoBias: true}, rng)
	nn.InitKaimingNormal(c.Weight.Value, out*k*k, rng)
	return c
}

// NewResNet18 builds ResNet-18 with numClasses outputs, initialised
// deterministically from seed, in training mode.
func NewResNet18(numClasses int, seed uint64) *ResNet18 {
	rng := nn.NewRNG(seed)
	m := &ResNet18{Conv1: convInit(3, 64, 7, 2, 3, rng), BN1: nn.NewBatchNorm2d(64)}
	in := 64
	for li, out := range FeatureChannels {
		for bi := 0; bi < 2; bi++ {
			stride := 1
			if li > 0 && bi == 0 {
				stride = 2
			}
			b := &BasicBlock{
				Conv1: convInit(in, out, 3, stride, 1, rng), BN1: nn.NewBatchNorm2d(out),
				Conv2: convInit(out, out, 3, 1, 1, rng), BN2: nn.NewBatchNorm2d(out),
			}
			if stride != 1 || in != out {
				b.DownConv = convInit(in, out, 1, stride, 0, rng)
				b.DownBN = nn.NewBatchNorm2d(out)
			}
			m.Layers[li][bi] = b
			in = out
		}
	}
	m.FC = nn.NewLinear(512, numClasses, true, rng)
	return m
}

// convBN applies conv then batch norm (then ReLU when relu). In evaluation
// without gradients it runs the convolution and then one in-place pass
// that applies the batch norm's per-channel scale and shift and the ReLU.
// Folding the batch norm into the weights instead would have to rewrite (or
// cache and re-validate) every weight on each call, which costs more than a
// pass over the activations at inference batch sizes and can never go stale.
func convBN(x *nn.Var, c *nn.Conv2dLayer, bn *nn.BatchNorm2dLayer, relu bool) *nn.Var {
	if !bn.Training && !needsGraph(x, c, bn) {
		p := c.Opt
		p.Act = ops.ActNone
		var cb *tensor.Tensor
		if c.Bias != nil {
			cb = c.Bias.Value
		}
		y := ops.Conv2dForward(x.Value, c.Weight.Value, cb, p)
		scaleShiftAct(y, bn, relu)
		return nn.NewVar(y)
	}
	y := bn.Forward(c.Forward(x))
	if relu {
		y = nn.ReLU(y)
	}
	return y
}

// scaleShiftAct applies y ← y·γ/σ + (β − μ·γ/σ), then ReLU when relu, per
// channel of y [N,C,H,W] in place, with the running statistics.
func scaleShiftAct(y *tensor.Tensor, bn *nn.BatchNorm2dLayer, relu bool) {
	c := y.Shape[1]
	hw := y.Len() / (y.Shape[0] * c)
	scale, shift := make([]float32, c), make([]float32, c)
	for i := range scale {
		scale[i] = bn.Weight.Value.Data[i] / float32(math.Sqrt(float64(bn.RunningVar.Data[i]+bn.Eps)))
		shift[i] = bn.Bias.Value.Data[i] - bn.RunningMean.Data[i]*scale[i]
	}
	tensor.ParallelChunks(y.Shape[0]*c, max(1, (1<<15)/max(hw, 1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			sc, sh := scale[pl%c], shift[pl%c]
			d := y.Data[pl*hw : (pl+1)*hw]
			if relu {
				for i, v := range d {
					// Branch-free ReLU: clear the value when its sign bit is set.
					b := math.Float32bits(v*sc + sh)
					d[i] = math.Float32frombits(b &^ uint32(int32(b)>>31))
				}
			} else {
				for i, v := range d {
					d[i] = v*sc + sh
				}
			}
		}
	})
}

// addReLU returns relu(a + b), in place on a when no graph is recorded.
func addReLU(a, b *nn.Var) *nn.Var {
	if !a.RequiresGrad && !b.RequiresGrad {
		ops.AddInto(a.Value, a.Value, b.Value)
		ops.ReLUInPlace(a.Value)
		return a
	}
	return nn.ReLU(nn.Add(a, b))
}

// Forward runs the block.
func (b *BasicBlock) Forward(x *nn.Var) *nn.Var {
	y := convBN(x, b.Conv1, b.BN1, true)
	y = convBN(y, b.Conv2, b.BN2, false)
	id := x
	if b.DownConv != nil {
		id = convBN(x, b.DownConv, b.DownBN, false)
	}
	return addReLU(y, id)
}

// Params lists the block's parameters with torchvision names.
func (b *BasicBlock) Params() []*nn.Param {
	ps := append(nn.Prefix("conv1", b.Conv1.Params()), nn.Prefix("bn1", b.BN1.Params())...)
	ps = append(ps, nn.Prefix("conv2", b.Conv2.Params())...)
	ps = append(ps, nn.Prefix("bn2", b.BN2.Params())...)
	if b.DownConv != nil {
		ps = append(ps, nn.Prefix("downsample.0", b.DownConv.Params())...)
		ps = append(ps, nn.Prefix("downsample.1", b.DownBN.Params())...)
	}
	return ps
}

// Buffers lists the batch-norm running statistics.
func (b *BasicBlock) Buffers() []nn.Buffer {
	bs := append(nn.PrefixBuffers("bn1", b.BN1.Buffers()), nn.PrefixBuffers("bn2", b.BN2.Buffers())...)
	if b.DownBN != nil {
		bs = append(bs, nn.PrefixBuffers("downsample.1", b.DownBN.Buffers())...)
	}
	return bs
}

// Train sets the batch-norm mode.
func (b *BasicBlock) Train(on bool) {
	b.BN1.Train(on)
	b.BN2.Train(on)
	if b.DownBN != nil {
		b.DownBN.Train(on)
	}
}

// stem runs conv1, bn1, relu and the 3×3/2 max pool.
func (m *ResNet18) stem(x *nn.Var) *nn.Var {
	y := convBN(x, m.Conv1, m.BN1, true)
	return nn.MaxPool2d(y, ops.Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1})
}

// Features runs the network up to layer `upto` (1..4) and returns the
// outputs of layer1..layer`upto`.
func (m *ResNet18) Features(x *nn.Var, upto int) []*nn.Var {
	if upto < 1 || upto > 4 {
		panic(fmt.Sprintf("arch.ResNet18.Features: upto %d outside 1..4", upto))
	}
	y := m.stem(x)
	feats := make([]*nn.Var, 0, upto)
	for li := 0; li < upto; li++ {
		for _, b := range m.Layers[li] {
			y = b.Forward(y)
		}
		feats = append(feats, y)
	}
	return feats
}

// Forward returns the class logits [N, numClasses].
func (m *ResNet18) Forward(x *nn.Var) *nn.Var {
	f := m.Features(x, 4)[3]
	return m.FC.Forward(nn.Flatten(nn.GlobalAvgPool(f)))
}

// Params lists all parameters with torchvision names (conv1.weight,
// bn1.weight, layer1.0.conv1.weight, ..., layer2.0.downsample.0.weight,
// fc.weight, fc.bias).
func (m *ResNet18) Params() []*nn.Param {
	ps := append(nn.Prefix("conv1", m.Conv1.Params()), nn.Prefix("bn1", m.BN1.Params())...)
	for li := range m.Layers {
		for bi, b := range m.Layers[li] {
			ps = append(ps, nn.Prefix(fmt.Sprintf("layer%d.%d", li+1, bi), b.Params())...)
		}
	}
	return append(ps, nn.Prefix("fc", m.FC.Params())...)
}

// Buffers lists the batch-norm running statistics with torchvision names.
func (m *ResNet18) Buffers() []nn.Buffer {
	bs := nn.PrefixBuffers("bn1", m.BN1.Buffers())
	for li := range m.Layers {
		for bi, b := range m.Layers[li] {
			bs = append(bs, nn.PrefixBuffers(fmt.Sprintf("layer%d.%d", li+1, bi), b.Buffers())...)
		}
	}
	return bs
}

// Train switches every batch norm between batch and running statistics.
func (m *ResNet18) Train(on bool) {
	m.BN1.Train(on)
	for li := range m.Layers {
		for _, b := range m.Layers[li] {
			b.Train(on)
		}
	}
}

func needsGraph(x *nn.Var, c *nn.Conv2dLayer, bn *nn.BatchNorm2dLayer) bool {
	if !nn.GradEnabled() {
		return false
	}
	return x.RequiresGrad || c.Weight.RequiresGrad || bn.Weight.RequiresGrad || bn.Bias.RequiresGrad
}

// foldBN returns the convolution weight and bias with the (evaluation-mode)
// batch norm folded in: w' = w·γ/σ, b' = β + (b − μ)·γ/σ.
func foldBN(c *nn.Conv2dLayer, bn *nn.BatchNorm2dLayer) (w, b *tensor.Tensor) {
	cw := c.Weight.Value
	cout := cw.Shape[0]
	per := cw.Len() / cout
	w = tensor.New(cw.Shape...)
	b = tensor.New(cout)
	for o := 0; o < cout; o++ {
		s := bn.Weight.Value.Data[o] / float32(math.Sqrt(float64(bn.RunningVar.Data[o]+bn.Eps)))
		for i := o * per; i < (o+1)*per; i++ {
			w.Data[i] = cw.Data[i] * s
		}
		var cb float32
		if c.Bias != nil {
			cb = c.Bias.Value.Data[o]
		}
		b.Data[o] = bn.Bias.Value.Data[o] + (cb-bn.RunningMean.Data[o])*s
	}
	return w, b
}
