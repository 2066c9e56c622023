package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// Param is a named trainable tensor of a module (its Var requires a
// gradient). Names follow PyTorch's state-dict convention ("layer1.0.conv1.weight").
type Param struct {
	Name string
	*Var
}

// Buffer is named non-trainable state saved with the parameters, such as
// batch-norm running statistics.
type Buffer struct {
	Name string
	T    *tensor.Tensor
}

// Module is a network layer or a composition of layers.
type Module interface {
	// Forward maps the input to the output, recording the graph when
	// gradients are enabled.
	Forward(x *Var) *Var
	// Params lists the trainable parameters with their full names.
	Params() []*Param
	// Train switches training mode (batch statistics, dropout) on or off.
	Train(training bool)
}

// Stateful modules also carry buffers that are saved with the parameters.
type Stateful interface {
	Buffers() []Buffer
}

// BuffersOf returns m's buffers, or nil if it has none.
func BuffersOf(m Module) []Buffer {
	if s, ok := m.(Stateful); ok {
		return s.Buffers()
	}
	return nil
}

// Prefix returns params renamed to prefix+"."+name (sharing the same Vars).
func Prefix(prefix string, ps []*Param) []*Param {
	out := make([]*Param, len(ps))
	for i, p := range ps {
		out[i] = &Param{Name: prefix + "." + p.Name, Var: p.Var}
	}
	return out
}

// PrefixBuffers returns buffers renamed to prefix+"."+name.
func PrefixBuffers(prefix string, bs []Buffer) []Buffer {
	out := make([]Buffer, len(bs))
	for i, b := range bs {
		out[i] = Buffer{Name: prefix + "." + b.Name, T: b.T}
	}
	return out
}

// ZeroGrad clears the gradients of all params.
func ZeroGrad(ps []*Param) {
	for _, p := range ps {
		p.Grad = nil
	}
}

// NumParams counts the scalar parameters.
func NumParams(ps []*Param) int {
	n := 0
	for _, p := range ps {
		n += len(p.Value.Data)
	}
	return n
}

// SetRequiresGrad freezes (false) or unfreezes (true) all params.
func SetRequiresGrad(ps []*Param, on bool) {
	for _, p := range ps {
		p.RequiresGrad = on
	}
}

// NewRNG returns the deterministic generator used for initialisation.
func NewRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// InitUniform fills t with values uniform in [-bound, bound).
func InitUniform(t *tensor.Tensor, bound float64, rng *rand.Rand) {
	for i := range t.Data {
		t.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// InitKaimingUniform is PyTorch's default layer init (kaiming_uniform with
// a = √5), which reduces to U(−1/√fanIn, 1/√fanIn); biases use the same bound.
func InitKaimingUniform(t *tensor.Tensor, fanIn int, rng *rand.Rand) {
	InitUniform(t, 1/math.Sqrt(float64(max(fanIn, 1))), rng)
}

// InitKaimingNormal fills t with N(0, 2/fan) (He init; torchvision uses it
// with fan = fan_out for ResNet convolutions).
func InitKaimingNormal(t *tensor.Tensor, fan int, rng *rand.Rand) {
	std := math.Sqrt(2 / float64(max(fan, 1)))
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * std)
	}
}

// ConvSpec describes a (transposed) convolution layer. Zero Stride,
// Dilation and Groups mean 1.
type ConvSpec struct {
	In, Out, Kernel  int
	Stride, Pad      int
	Dilation, Groups int
	OutPad           int // transposed convolution only
	NoBias           bool
	Act              ops.Act // activation applied right after the convolution, fused
}

func (s ConvSpec) norm() ConvSpec {
	if s.Stride == 0 {
		s.Stride = 1
	}
	if s.Dilation == 0 {
		s.Dilation = 1
	}
	if s.Groups == 0 {
		s.Groups = 1
	}
	if s.In <= 0 || s.Out <= 0 || s.Kernel <= 0 || s.In%s.Groups != 0 || s.Out%s.Groups != 0 {
		panic(fmt.Sprintf("nn: bad convolution spec %+v", s))
	}
	return s
}

// Conv2dLayer is a convolution layer with PyTorch's default initialisation.
type Conv2dLayer struct {
	Weight, Bias *Param // Bias is nil when the spec says NoBias
	Opt          ops.Conv2D
	Spec         ConvSpec
}

// NewConv2d builds a convolution layer initialised from rng.
func NewConv2d(s ConvSpec, rng *rand.Rand) *Conv2dLayer {
	s = s.norm()
	w := tensor.New(s.Out, s.In/s.Groups, s.Kernel, s.Kernel)
	fanIn := s.In / s.Groups * s.Kernel * s.Kernel
	InitKaimingUniform(w, fanIn, rng)
	c := &Conv2dLayer{Weight: &Param{Name: "weight", Var: NewParamVar(w)}, Spec: s,
		Opt: ops.Conv2D{StrideH: s.Stride, StrideW: s.Stride, PadT: s.Pad, PadL: s.Pad, PadB: s.Pad, PadR: s.Pad,
			DilH: s.Dilation, DilW: s.Dilation, Groups: s.Groups, Act: s.Act}}
	if !s.NoBias {
		b := tensor.New(s.Out)
		InitKaimingUniform(b, fanIn, rng)
		c.Bias = &Param{Name: "bias", Var: NewParamVar(b)}
	}
	return c
}

// Forward applies the convolution (and its fused activation, if any).
func (c *Conv2dLayer) Forward(x *Var) *Var { return Conv2d(x, c.Weight.Var, biasVar(c.Bias), c.Opt) }

// Params returns weight (and bias).
func (c *Conv2dLayer) Params() []*Param { return weightBias(c.Weight, c.Bias) }

// Train is a no-op: convolution behaves the same in both modes.
func (c *Conv2dLayer) Train(bool) {}

func biasVar(b *Param) *Var {
	if b == nil {
		return nil
	}
	return b.Var
}

func weightBias(w, b *Param) []*Param {
	if b == nil {
		return []*Param{w}
	}
	return []*Param{w, b}
}

// ConvTranspose2dLayer is a transposed convolution layer (weight [In, Out/G, K, K]).
type ConvTranspose2dLayer struct {
	Weight, Bias *Param
	Opt          ops.ConvT2D
	Act          ops.Act // applied in place after the convolution
	Spec         ConvSpec
}

// NewConvTranspose2d builds a transposed convolution layer; like PyTorch,
// fan-in is computed from the weight's second axis (Out/G·K·K).
func NewConvTranspose2d(s ConvSpec, rng *rand.Rand) *ConvTranspose2dLayer {
	s = s.norm()
	w := tensor.New(s.In, s.Out/s.Groups, s.Kernel, s.Kernel)
	fanIn := s.Out / s.Groups * s.Kernel * s.Kernel
	InitKaimingUniform(w, fanIn, rng)
	c := &ConvTranspose2dLayer{Weight: &Param{Name: "weight", Var: NewParamVar(w)}, Spec: s,
		Opt: ops.ConvT2D{StrideH: s.Stride, StrideW: s.Stride, PadT: s.Pad, PadL: s.Pad, PadB: s.Pad, PadR: s.Pad,
			OutPadH: s.OutPad, OutPadW: s.OutPad, DilH: s.Dilation, DilW: s.Dilation, Groups: s.Groups}, Act: s.Act}
	if !s.NoBias {
		b := tensor.New(s.Out)
		InitKaimingUniform(b, fanIn, rng)
		c.Bias = &Param{Name: "bias", Var: NewParamVar(b)}
	}
	return c
}

// Forward applies the transposed convolution.
func (c *ConvTranspose2dLayer) Forward(x *Var) *Var {
	return ConvTranspose2dAct(x, c.Weight.Var, biasVar(c.Bias), c.Opt, c.Act)
}

// Params returns weight (and bias).
func (c *ConvTranspose2dLayer) Params() []*Param { return weightBias(c.Weight, c.Bias) }

// Train is a no-op.
func (c *ConvTranspose2dLayer) Train(bool) {}

// BatchNorm2d is per-channel batch normalisation with running statistics.
type BatchNorm2dLayer struct {
	Weight, Bias            *Param // gamma (init 1) and beta (init 0)
	RunningMean, RunningVar *tensor.Tensor
	Momentum, Eps           float32
	Training                bool
}

// NewBatchNorm2d builds a batch-norm layer with PyTorch defaults
// (momentum 0.1, eps 1e-5), in training mode.
func NewBatchNorm2d(c int) *BatchNorm2dLayer {
	g := tensor.New(c)
	g.Fill(1)
	rv := tensor.New(c)
	rv.Fill(1)
	return &BatchNorm2dLayer{
		Weight:      &Param{Name: "weight", Var: NewParamVar(g)},
		Bias:        &Param{Name: "bias", Var: NewParamVar(tensor.New(c))},
		RunningMean: tensor.New(c), RunningVar: rv,
		Momentum: 0.1, Eps: 1e-5, Training: true,
	}
}

// Forward normalises x.
func (b *BatchNorm2dLayer) Forward(x *Var) *Var {
	return BatchNorm2d(x, b.Weight.Var, b.Bias.Var, b.RunningMean, b.RunningVar, b.Training, b.Momentum, b.Eps)
}

// Params returns weight and bias.
func (b *BatchNorm2dLayer) Params() []*Param { return []*Param{b.Weight, b.Bias} }

// Buffers returns running_mean and running_var.
func (b *BatchNorm2dLayer) Buffers() []Buffer {
	return []Buffer{{"running_mean", b.RunningMean}, {"running_var", b.RunningVar}}
}

// Train switches between batch and running statistics.
func (b *BatchNorm2dLayer) Train(on bool) { b.Training = on }

// LinearLayer is a fully connected layer y = x·Wᵀ + b.
type LinearLayer struct {
	Weight, Bias *Param
}

// NewLinear builds a fully connected layer with PyTorch's default init.
func NewLinear(in, out int, bias bool, rng *rand.Rand) *LinearLayer {
	w := tensor.New(out, in)
	InitKaimingUniform(w, in, rng)
	l := &LinearLayer{Weight: &Param{Name: "weight", Var: NewParamVar(w)}}
	if bias {
		b := tensor.New(out)
		InitKaimingUniform(b, in, rng)
		l.Bias = &Param{Name: "bias", Var: NewParamVar(b)}
	}
	return l
}

// Forward applies the layer to x [N,in] (higher ranks are flattened).
func (l *LinearLayer) Forward(x *Var) *Var {
	if len(x.Value.Shape) != 2 {
		x = Flatten(x)
	}
	return Linear(x, l.Weight.Var, biasVar(l.Bias))
}

// Params returns weight (and bias).
func (l *LinearLayer) Params() []*Param { return weightBias(l.Weight, l.Bias) }

// Train is a no-op.
func (l *LinearLayer) Train(bool) {}

// Func adapts a parameter-free function (ReLU, Flatten, a pooling
// closure) to a Module.
type Func func(*Var) *Var

// Forward calls f.
func (f Func) Forward(x *Var) *Var { return f(x) }

// Params returns nil.
func (f Func) Params() []*Param { return nil }

// Train is a no-op.
func (f Func) Train(bool) {}

// MaxPool returns a max-pooling module with a square window k, stride s,
// symmetric padding p.
func MaxPool(k, s, p int) Func {
	o := ops.Pool2D{KH: k, KW: k, StrideH: s, StrideW: s, PadT: p, PadL: p, PadB: p, PadR: p}
	return func(x *Var) *Var { return MaxPool2d(x, o) }
}

// DropoutLayer zeroes activations with probability P during training,
// drawing its mask from RNG (share the run's seeded generator so a
// checkpoint of that generator reproduces the masks).
type DropoutLayer struct {
	P        float64
	RNG      *rand.Rand
	Training bool
}

// NewDropout builds a dropout layer drawing from rng.
func NewDropout(p float64, rng *rand.Rand) *DropoutLayer {
	return &DropoutLayer{P: p, RNG: rng, Training: true}
}

// Forward applies dropout in training mode.
func (d *DropoutLayer) Forward(x *Var) *Var { return Dropout(x, d.P, d.Training, d.RNG) }

// Params returns nil.
func (d *DropoutLayer) Params() []*Param { return nil }

// Train toggles dropout.
func (d *DropoutLayer) Train(on bool) { d.Training = on }

// Sequential chains modules; parameter names are prefixed by the layer
// index ("0.weight", "1.bias"), as in PyTorch.
type Sequential struct {
	Layers []Module
}

// NewSequential chains layers.
func NewSequential(layers ...Module) *Sequential { return &Sequential{Layers: layers} }

// Forward runs the layers in order.
func (s *Sequential) Forward(x *Var) *Var {
	for _, l := range s.Layers {
		x = l.Forward(x)
	}
	return x
}

// Params collects the layers' parameters with index prefixes.
func (s *Sequential) Params() []*Param {
	var ps []*Param
	for i, l := range s.Layers {
		ps = append(ps, Prefix(fmt.Sprint(i), l.Params())...)
	}
	return ps
}

// Buffers collects the layers' buffers with index prefixes.
func (s *Sequential) Buffers() []Buffer {
	var bs []Buffer
	for i, l := range s.Layers {
		bs = append(bs, PrefixBuffers(fmt.Sprint(i), BuffersOf(l))...)
	}
	return bs
}

// Train sets the mode of every layer.
func (s *Sequential) Train(on bool) {
	for _, l := range s.Layers {
		l.Train(on)
	}
}
