package arch

import (
	"fmt"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/ops"
)

// UNetSpec sizes a U-Net: In input and Out output channels, Width channels
// at full resolution (doubled at each of the Depth 2x downsamplings) and
// optional batch normalisation after every 3x3 convolution.
type UNetSpec struct {
	In, Out, Width, Depth int
	BatchNorm             bool
}

// Validate reports a spec that cannot be built.
func (s UNetSpec) Validate() error {
	switch {
	case s.In < 1 || s.Out < 1:
		return fmt.Errorf("unet: %d input and %d output channels, want >= 1", s.In, s.Out)
	case s.Width < 1:
		return fmt.Errorf("unet: width %d, want >= 1", s.Width)
	case s.Depth < 1 || s.Depth > 6:
		return fmt.Errorf("unet: depth %d, want 1..6", s.Depth)
	}
	return nil
}

// Multiple is what the input's height and width must be a multiple of.
func (s UNetSpec) Multiple() int { return 1 << s.Depth }

// unetBlock is two 3x3 convolutions, each followed by ReLU (after batch
// norm when there is one).
type unetBlock struct {
	conv [2]*nn.Conv2dLayer
	bn   [2]*nn.BatchNorm2dLayer // nil without batch norm
}

func newUNetBlock(in, out int, bn bool, rng *rand.Rand) *unetBlock {
	b := &unetBlock{}
	for i := range b.conv {
		spec := nn.ConvSpec{In: in, Out: out, Kernel: 3, Pad: 1, NoBias: bn}
		if !bn {
			spec.Act = ops.ActReLU // fused into the convolution
		}
		b.conv[i] = nn.NewConv2d(spec, rng)
		if bn {
			b.bn[i] = nn.NewBatchNorm2d(out)
		}
		in = out
	}
	return b
}

func (b *unetBlock) Forward(x *nn.Var) *nn.Var {
	for i, c := range b.conv {
		x = c.Forward(x)
		if b.bn[i] != nil {
			x = nn.ReLU(b.bn[i].Forward(x))
		}
	}
	return x
}

func (b *unetBlock) Params() []*nn.Param {
	var ps []*nn.Param
	for i, c := range b.conv {
		ps = append(ps, nn.Prefix(fmt.Sprintf("conv%d", i+1), c.Params())...)
		if b.bn[i] != nil {
			ps = append(ps, nn.Prefix(fmt.Sprintf("bn%d", i+1), b.bn[i].Params())...)
		}
	}
	return ps
}

func (b *unetBlock) Buffers() []nn.Buffer {
	var bs []nn.Buffer
	for i, n := range b.bn {
		if n != nil {
			bs = append(bs, nn.PrefixBuffers(fmt.Sprintf("bn%d", i+1), n.Buffers())...)
		}
	}
	return bs
}

func (b *unetBlock) Train(on bool) {
	for _, n := range b.bn {
		if n != nil {
			n.Train(on)
		}
	}
}

// UNet is the encoder-decoder with skip connections of Ronneberger et al.
// (2015), sized for small CPU budgets: block i of the encoder works at
// 1/2^i resolution with Width·2^i channels (max pooling between blocks);
// each decoder step doubles the resolution with a 2x2 stride-2 transposed
// convolution, concatenates the encoder's map of that resolution and runs
// a block; a 1x1 convolution and a sigmoid give outputs in [0,1].
type UNet struct {
	Spec UNetSpec
	enc  []*unetBlock // Depth+1 blocks, full resolution first
	up   []*nn.ConvTranspose2dLayer
	dec  []*unetBlock // dec[i] works at 1/2^i resolution
	out  *nn.Conv2dLayer
}

// NewUNet builds a U-Net initialised deterministically from seed.
func NewUNet(s UNetSpec, seed uint64) (*UNet, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	rng := nn.NewRNG(seed)
	m := &UNet{Spec: s}
	in := s.In
	for i := 0; i <= s.Depth; i++ {
		w := s.Width << i
		m.enc = append(m.enc, newUNetBlock(in, w, s.BatchNorm, rng))
		in = w
	}
	m.up = make([]*nn.ConvTranspose2dLayer, s.Depth)
	m.dec = make([]*unetBlock, s.Depth)
	for i := s.Depth - 1; i >= 0; i-- {
		w := s.Width << i
		m.up[i] = nn.NewConvTranspose2d(nn.ConvSpec{In: 2 * w, Out: w, Kernel: 2, Stride: 2, Act: ops.ActReLU}, rng)
		m.dec[i] = newUNetBlock(2*w, w, s.BatchNorm, rng)
	}
	m.out = nn.NewConv2d(nn.ConvSpec{In: s.Width, Out: s.Out, Kernel: 1}, rng)
	return m, nil
}

// Forward maps x [N,In,H,W] (H and W multiples of 2^Depth) to [N,Out,H,W].
func (m *UNet) Forward(x *nn.Var) *nn.Var {
	sh := x.Shape()
	if k := m.Spec.Multiple(); len(sh) != 4 || sh[1] != m.Spec.In || sh[2]%k != 0 || sh[3]%k != 0 {
		panic(fmt.Sprintf("arch.UNet: input %v, want [N,%d,H,W] with H and W multiples of %d", sh, m.Spec.In, k))
	}
	skips := make([]*nn.Var, len(m.enc))
	pool := ops.Pool2D{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	for i, b := range m.enc {
		if i > 0 {
			x = nn.MaxPool2d(x, pool)
		}
		x = b.Forward(x)
		skips[i] = x
	}
	for i := m.Spec.Depth - 1; i >= 0; i-- {
		x = m.dec[i].Forward(nn.Concat(m.up[i].Forward(x), skips[i]))
	}
	return nn.Sigmoid(m.out.Forward(x))
}

// Params lists "enc.<i>.conv<j>.weight", "up.<i>.weight", "dec.<i>...",
// "out.weight" / "out.bias".
func (m *UNet) Params() []*nn.Param {
	var ps []*nn.Param
	for i, b := range m.enc {
		ps = append(ps, nn.Prefix(fmt.Sprintf("enc.%d", i), b.Params())...)
	}
	for i := range m.dec {
		ps = append(ps, nn.Prefix(fmt.Sprintf("up.%d", i), m.up[i].Params())...)
		ps = append(ps, nn.Prefix(fmt.Sprintf("dec.%d", i), m.dec[i].Params())...)
	}
	return append(ps, nn.Prefix("out", m.out.Params())...)
}

// Buffers lists the batch-norm running statistics (none without batch norm).
func (m *UNet) Buffers() []nn.Buffer {
	var bs []nn.Buffer
	for i, b := range m.enc {
		bs = append(bs, nn.PrefixBuffers(fmt.Sprintf("enc.%d", i), b.Buffers())...)
	}
	for i, b := range m.dec {
		bs = append(bs, nn.PrefixBuffers(fmt.Sprintf("dec.%d", i), b.Buffers())...)
	}
	return bs
}

// Train switches batch norm between batch and running statistics.
func (m *UNet) Train(on bool) {
	for _, b := range m.enc {
		b.Train(on)
	}
	for _, b := range m.dec {
		b.Train(on)
	}
}
