package deepsvdd

import (
	"fmt"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// netSpec fixes the encoder: one block per width (5×5 convolution, batch
// norm, leaky ReLU, 2×2 max pooling), then a linear map to rep dimensions.
// Nothing has a bias and batch norm has no affine part: Ruff et al. (2018,
// Sec. 3.3) show that a bias (or an affine shift, which is one) lets the
// network map every input to the centre, the trivial optimum.
type netSpec struct {
	In     int   // input channels
	Size   int   // input side; a multiple of 2^len(Widths)
	Widths []int // conv channels per block
	Rep    int   // representation dimension
}

// specFor returns the architecture of a named net for size×size inputs:
// "lenet" is the paper's MNIST LeNet (8 and 4 channels, 32-d), "deep" its
// CIFAR-10 net (32, 64, 128 channels, 128-d) with further 128-channel
// blocks until the last map is at most 8×8; "auto" is lenet up to 28
// pixels and deep above.
func specFor(name string, in, size int) (netSpec, error) {
	if name == "auto" {
		name = "deep"
		if size <= 28 {
			name = "lenet"
		}
	}
	s := netSpec{In: in, Size: size}
	switch name {
	case "lenet":
		s.Widths, s.Rep = []int{8, 4}, 32
	case "deep":
		s.Widths, s.Rep = []int{32, 64, 128}, 128
		for side := size >> 3; side > 8; side >>= 1 {
			s.Widths = append(s.Widths, 128)
		}
	default:
		return s, fmt.Errorf("net %q must be auto, lenet or deep", name)
	}
	if f := 1 << len(s.Widths); size < f || size%f != 0 {
		return s, fmt.Errorf("size %d must be a positive multiple of %d for net %s (%d pooling steps)", size, f, name, len(s.Widths))
	}
	return s, nil
}

// last is the side of the final feature map.
func (s netSpec) last() int { return s.Size >> len(s.Widths) }

// slope of the leaky ReLUs (PyTorch's default, as in the paper's code).
const slope = 0.01

// bnEps is the paper's batch-norm epsilon.
const bnEps = 1e-4

// plainBN is batch normalisation without the affine part: fixed gamma 1
// and beta 0 (not parameters), running statistics as buffers.
type plainBN struct {
	gamma, beta     *nn.Var
	runMean, runVar *tensor.Tensor
	training        bool
}

func newPlainBN(c int) *plainBN {
	g, v := tensor.New(c), tensor.New(c)
	g.Fill(1)
	v.Fill(1)
	return &plainBN{gamma: nn.NewVar(g), beta: nn.NewVar(tensor.New(c)), runMean: tensor.New(c), runVar: v, training: true}
}

func (b *plainBN) Forward(x *nn.Var) *nn.Var {
	return nn.BatchNorm2d(x, b.gamma, b.beta, b.runMean, b.runVar, b.training, 0.1, bnEps)
}
func (b *plainBN) Params() []*nn.Param { return nil }
func (b *plainBN) Train(on bool)       { b.training = on }
func (b *plainBN) Buffers() []nn.Buffer {
	return []nn.Buffer{{Name: "running_mean", T: b.runMean}, {Name: "running_var", T: b.runVar}}
}

// block is conv → plain BN (→ leaky ReLU and pooling in the encoder,
// applied by the caller).
type block struct {
	conv *nn.Conv2dLayer
	bn   *plainBN
}

func newBlock(in, out int, seed uint64, k int) block {
	rng := nn.NewRNG(seed + uint64(k)*0x9e37)
	return block{
		conv: nn.NewConv2d(nn.ConvSpec{In: in, Out: out, Kernel: 5, Pad: 2, NoBias: true}, rng),
		bn:   newPlainBN(out),
	}
}

// layers is a list of blocks plus a linear map, with state-dict names
// "<prefix><i>.weight", "bn<i>.running_mean", "fc.weight".
type layers struct {
	blocks []block
	fc     *nn.LinearLayer
}

func (l *layers) Params() []*nn.Param {
	var ps []*nn.Param
	for i, b := range l.blocks {
		ps = append(ps, nn.Prefix(fmt.Sprintf("conv%d", i), b.conv.Params())...)
	}
	return append(ps, nn.Prefix("fc", l.fc.Params())...)
}

func (l *layers) Buffers() []nn.Buffer {
	var bs []nn.Buffer
	for i, b := range l.blocks {
		bs = append(bs, nn.PrefixBuffers(fmt.Sprintf("bn%d", i), b.bn.Buffers())...)
	}
	return bs
}

func (l *layers) Train(on bool) {
	for _, b := range l.blocks {
		b.bn.Train(on)
	}
}

// Encoder is the Deep SVDD network φ(·; W).
type Encoder struct {
	spec netSpec
	layers
}

func newEncoder(s netSpec, seed uint64) *Encoder {
	e := &Encoder{spec: s}
	in := s.In
	for k, w := range s.Widths {
		e.blocks = append(e.blocks, newBlock(in, w, seed, k))
		in = w
	}
	e.fc = nn.NewLinear(in*s.last()*s.last(), s.Rep, false, nn.NewRNG(seed+0xfc))
	return e
}

var pool2 = ops.Pool2D{KH: 2, KW: 2, StrideH: 2, StrideW: 2}

// Forward maps [N,In,Size,Size] to [N,Rep].
func (e *Encoder) Forward(x *nn.Var) *nn.Var {
	for _, b := range e.blocks {
		x = nn.MaxPool2d(nn.LeakyReLU(b.bn.Forward(b.conv.Forward(x)), slope), pool2)
	}
	return e.fc.Forward(nn.Flatten(x))
}

// decoder mirrors the encoder for the autoencoder pre-training: a linear
// map back to the last feature map, then per block leaky ReLU, nearest
// 2× upsampling and a 5×5 convolution with plain batch norm; a final
// convolution to the input channels (sigmoid when the inputs are pixels
// in [0,1]). Bias-free like the paper's decoder.
type decoder struct {
	spec    netSpec
	sigmoid bool
	layers
	out *nn.Conv2dLayer
}

func newDecoder(s netSpec, sigmoid bool, seed uint64) *decoder {
	d := &decoder{spec: s, sigmoid: sigmoid}
	n := len(s.Widths)
	d.fc = nn.NewLinear(s.Rep, s.Widths[n-1]*s.last()*s.last(), false, nn.NewRNG(seed+0xdc))
	for k := n - 1; k >= 1; k-- {
		d.blocks = append(d.blocks, newBlock(s.Widths[k], s.Widths[k-1], seed+0xde, k))
	}
	d.out = nn.NewConv2d(nn.ConvSpec{In: s.Widths[0], Out: s.In, Kernel: 5, Pad: 2, NoBias: true}, nn.NewRNG(seed+0xd0))
	return d
}

func (d *decoder) Forward(z *nn.Var) *nn.Var {
	side := d.spec.last()
	x := nn.Reshape(d.fc.Forward(z), z.Value.Shape[0], d.spec.Widths[len(d.spec.Widths)-1], side, side)
	for _, b := range d.blocks {
		side *= 2
		x = b.bn.Forward(b.conv.Forward(nn.UpsampleNearest(nn.LeakyReLU(x, slope), side, side)))
	}
	side *= 2
	x = d.out.Forward(nn.UpsampleNearest(nn.LeakyReLU(x, slope), side, side))
	if d.sigmoid {
		x = nn.Sigmoid(x)
	}
	return x
}

func (d *decoder) Params() []*nn.Param {
	return append(d.layers.Params(), nn.Prefix("out", d.out.Params())...)
}

// autoencoder is encoder + decoder for pre-training; names "enc.*", "dec.*".
type autoencoder struct {
	enc *Encoder
	dec *decoder
}

func (a *autoencoder) Forward(x *nn.Var) *nn.Var { return a.dec.Forward(a.enc.Forward(x)) }
func (a *autoencoder) Params() []*nn.Param {
	return append(nn.Prefix("enc", a.enc.Params()), nn.Prefix("dec", a.dec.Params())...)
}
func (a *autoencoder) Buffers() []nn.Buffer {
	return append(nn.PrefixBuffers("enc", a.enc.Buffers()), nn.PrefixBuffers("dec", a.dec.Buffers())...)
}
func (a *autoencoder) Train(on bool) {
	a.enc.Train(on)
	a.dec.Train(on)
}
