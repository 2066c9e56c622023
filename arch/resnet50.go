package arch

import (
	"fmt"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/ops"
)

// Bottleneck is ResNet-50's residual block: 1×1 reduce, 3×3 (carrying the
// stride, torchvision's "v1.5" layout), 1×1 expand to 4× the width.
type Bottleneck struct {
	Conv1, Conv2, Conv3 *nn.Conv2dLayer
	BN1, BN2, BN3       *nn.BatchNorm2dLayer
	// DownConv and DownBN project the identity when the shape changes
	// ("downsample.0" and "downsample.1"); nil otherwise.
	DownConv *nn.Conv2dLayer
	DownBN   *nn.BatchNorm2dLayer
}

// ResNet50 is torchvision's resnet50 (25,557,032 parameters at 1000
// classes) as a trainable nn network with torchvision parameter names.
// It exists mainly so the engine can be timed on a ResNet-50 ONNX graph
// against other runtimes (bench engine); weights are random.
type ResNet50 struct {
	Conv1  *nn.Conv2dLayer
	BN1    *nn.BatchNorm2dLayer
	Layers [4][]*Bottleneck
	FC     *nn.LinearLayer
}

// ResNet50Blocks is the number of bottleneck blocks in layer1..layer4.
var ResNet50Blocks = [4]int{3, 4, 6, 3}

// ResNet50Channels are the output channels of layer1..layer4.
var ResNet50Channels = []int{256, 512, 1024, 2048}

// NewResNet50 builds ResNet-50 with numClasses outputs, initialised
// deterministically from seed, in training mode.
func NewResNet50(numClasses int, seed uint64) *ResNet50 {
	rng := nn.NewRNG(seed)
	m := &ResNet50{Conv1: convInit(3, 64, 7, 2, 3, rng), BN1: nn.NewBatchNorm2d(64)}
	in := 64
	for li, n := range ResNet50Blocks {
		width := 64 << li
		out := width * 4
		for bi := 0; bi < n; bi++ {
			stride := 1
			if li > 0 && bi == 0 {
				stride = 2
			}
			b := &Bottleneck{
				Conv1: convInit(in, width, 1, 1, 0, rng), BN1: nn.NewBatchNorm2d(width),
				Conv2: convInit(width, width, 3, stride, 1, rng), BN2: nn.NewBatchNorm2d(width),
				Conv3: convInit(width, out, 1, 1, 0, rng), BN3: nn.NewBatchNorm2d(out),
			}
			if stride != 1 || in != out {
				b.DownConv = convInit(in, out, 1, stride, 0, rng)
				b.DownBN = nn.NewBatchNorm2d(out)
			}
			m.Layers[li] = append(m.Layers[li], b)
			in = out
		}
	}
	m.FC = nn.NewLinear(2048, numClasses, true, rng)
	return m
}

// Forward runs the block.
func (b *Bottleneck) Forward(x *nn.Var) *nn.Var {
	y := convBN(x, b.Conv1, b.BN1, true)
	y = convBN(y, b.Conv2, b.BN2, true)
	y = convBN(y, b.Conv3, b.BN3, false)
	id := x
	if b.DownConv != nil {
		id = convBN(x, b.DownConv, b.DownBN, false)
	}
	return addReLU(y, id)
}

// Params lists the block's parameters with torchvision names.
func (b *Bottleneck) Params() []*nn.Param {
	var ps []*nn.Param
	for i, c := range []*nn.Conv2dLayer{b.Conv1, b.Conv2, b.Conv3} {
		bn := []*nn.BatchNorm2dLayer{b.BN1, b.BN2, b.BN3}[i]
		ps = append(ps, nn.Prefix(fmt.Sprintf("conv%d", i+1), c.Params())...)
		ps = append(ps, nn.Prefix(fmt.Sprintf("bn%d", i+1), bn.Params())...)
	}
	if b.DownConv != nil {
		ps = append(ps, nn.Prefix("downsample.0", b.DownConv.Params())...)
		ps = append(ps, nn.Prefix("downsample.1", b.DownBN.Params())...)
	}
	return ps
}

// Buffers lists the batch-norm running statistics.
func (b *Bottleneck) Buffers() []nn.Buffer {
	var bs []nn.Buffer
	for i, bn := range []*nn.BatchNorm2dLayer{b.BN1, b.BN2, b.BN3} {
		bs = append(bs, nn.PrefixBuffers(fmt.Sprintf("bn%d", i+1), bn.Buffers())...)
	}
	if b.DownBN != nil {
		bs = append(bs, nn.PrefixBuffers("downsample.1", b.DownBN.Buffers())...)
	}
	return bs
}

// Train sets the batch-norm mode.
func (b *Bottleneck) Train(on bool) {
	for _, bn := range []*nn.BatchNorm2dLayer{b.BN1, b.BN2, b.BN3, b.DownBN} {
		if bn != nil {
			bn.Train(on)
		}
	}
}

// Forward returns the class logits [N, numClasses].
func (m *ResNet50) Forward(x *nn.Var) *nn.Var {
	y := convBN(x, m.Conv1, m.BN1, true)
	y = nn.MaxPool2d(y, ops.Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1})
	for li := range m.Layers {
		for _, b := range m.Layers[li] {
			y = b.Forward(y)
		}
	}
	return m.FC.Forward(nn.Flatten(nn.GlobalAvgPool(y)))
}

// Params lists all parameters with torchvision names.
func (m *ResNet50) Params() []*nn.Param {
	ps := append(nn.Prefix("conv1", m.Conv1.Params()), nn.Prefix("bn1", m.BN1.Params())...)
	for li := range m.Layers {
		for bi, b := range m.Layers[li] {
			ps = append(ps, nn.Prefix(fmt.Sprintf("layer%d.%d", li+1, bi), b.Params())...)
		}
	}
	return append(ps, nn.Prefix("fc", m.FC.Params())...)
}

// Buffers lists the batch-norm running statistics with torchvision names.
func (m *ResNet50) Buffers() []nn.Buffer {
	bs := nn.PrefixBuffers("bn1", m.BN1.Buffers())
	for li := range m.Layers {
		for bi, b := range m.Layers[li] {
			bs = append(bs, nn.PrefixBuffers(fmt.Sprintf("layer%d.%d", li+1, bi), b.Buffers())...)
		}
	}
	return bs
}

// Train switches every batch norm between batch and running statistics.
func (m *ResNet50) Train(on bool) {
	m.BN1.Train(on)
	for li := range m.Layers {
		for _, b := range m.Layers[li] {
			b.Train(on)
		}
	}
}

// ExportONNX builds the inference graph of m (batch norms folded into the
// convolutions) with torchvision-style names: input "input" [N,3,H,W]
// (dynamic N, H, W), outputs "logits" and the taps "layer1".."layer4".
func (m *ResNet50) ExportONNX() *onnx.Model {
	stages := make([][]exportBlock, len(m.Layers))
	for li := range m.Layers {
		for _, blk := range m.Layers[li] {
			stages[li] = append(stages[li], exportBlock{
				convs: []*nn.Conv2dLayer{blk.Conv1, blk.Conv2, blk.Conv3}, bns: []*nn.BatchNorm2dLayer{blk.BN1, blk.BN2, blk.BN3},
				down: blk.DownConv, downBN: blk.DownBN})
		}
	}
	return exportResNet("resnet50", m.Conv1, m.BN1, stages, m.FC, ResNet50Channels)
}
