package arch

import (
	"fmt"

	"github.com/vigil-ad/vigil/nn"
)

// WRN is a wide residual network (Zagoruyko & Komodakis 2016) for small
// images: a 3×3 stem, three stages of residual blocks of widths 16k, 32k and
// 64k (k the widening factor) at strides 1, 2, 2, global average pooling
// and a linear classifier. Depth 6n+4 gives n blocks per stage. The blocks
// are ResNet's post-activation BasicBlock (conv-BN-ReLU), which shares the
// fused inference path of ResNet18; the paper's pre-activation order
// changes little at these depths.
type WRN struct {
	Conv1  *nn.Conv2dLayer
	BN1    *nn.BatchNorm2dLayer
	Stages [3][]*BasicBlock
	FC     *nn.LinearLayer
}

// NewWRN builds WRN-depth-widen for inChannels input planes and numClasses
// outputs, initialised deterministically from seed, in training mode.
func NewWRN(inChannels, depth, widen, numClasses int, seed uint64) (*WRN, error) {
	switch {
	case inChannels < 1:
		return nil, fmt.Errorf("wrn: %d input channels", inChannels)
	case depth < 10 || (depth-4)%6 != 0:
		return nil, fmt.Errorf("wrn: depth %d must be 6n+4 with n >= 1 (10, 16, 22, 28, ...)", depth)
	case widen < 1:
		return nil, fmt.Errorf("wrn: widen %d must be >= 1", widen)
	case numClasses < 1:
		return nil, fmt.Errorf("wrn: %d classes", numClasses)
	}
	rng := nn.NewRNG(seed)
	m := &WRN{Conv1: convInit(inChannels, 16, 3, 1, 1, rng), BN1: nn.NewBatchNorm2d(16)}
	in := 16
	for s := range m.Stages {
		out := (16 << s) * widen
		for bi := 0; bi < (depth-4)/6; bi++ {
			stride := 1
			if s > 0 && bi == 0 {
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
			m.Stages[s] = append(m.Stages[s], b)
			in = out
		}
	}
	m.FC = nn.NewLinear(in, numClasses, true, rng)
	return m, nil
}

// Forward returns the class logits [N, numClasses] for x [N,C,H,W].
func (m *WRN) Forward(x *nn.Var) *nn.Var {
	y := convBN(x, m.Conv1, m.BN1, true)
	for _, st := range m.Stages {
		for _, b := range st {
			y = b.Forward(y)
		}
	}
	return m.FC.Forward(nn.Flatten(nn.GlobalAvgPool(y)))
}

// Params lists the parameters: conv1, bn1, stage<s>.<b>.<block names>, fc.
func (m *WRN) Params() []*nn.Param {
	ps := append(nn.Prefix("conv1", m.Conv1.Params()), nn.Prefix("bn1", m.BN1.Params())...)
	for s, st := range m.Stages {
		for bi, b := range st {
			ps = append(ps, nn.Prefix(fmt.Sprintf("stage%d.%d", s+1, bi), b.Params())...)
		}
	}
	return append(ps, nn.Prefix("fc", m.FC.Params())...)
}

// Buffers lists the batch-norm running statistics, named like Params.
func (m *WRN) Buffers() []nn.Buffer {
	bs := nn.PrefixBuffers("bn1", m.BN1.Buffers())
	for s, st := range m.Stages {
		for bi, b := range st {
			bs = append(bs, nn.PrefixBuffers(fmt.Sprintf("stage%d.%d", s+1, bi), b.Buffers())...)
		}
	}
	return bs
}

// Train switches every batch norm between batch and running statistics.
func (m *WRN) Train(on bool) {
	m.BN1.Train(on)
	for _, st := range m.Stages {
		for _, b := range st {
			b.Train(on)
		}
	}
}
