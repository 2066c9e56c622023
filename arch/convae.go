package arch

import (
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/ops"
)

// ConvAE is the small convolutional autoencoder of the training benchmark
// for 3×64×64 images. Encoder (each conv followed by ReLU):
//
//	enc.0  3→32  k3 s2 p1   64→32
//	enc.2 32→64  k3 s2 p1   32→16
//	enc.4 64→64  k3 s1 p1
//	enc.6 64→32  k3 s1 p1   latent 32×16×16
//
// Decoder, mirroring the two stride-2 steps with transposed convolutions:
//
//	dec.0 32→32  convT k4 s2 p1   16→32, ReLU (fused)
//	dec.1 32→3   convT k4 s2 p1   32→64, then Sigmoid (outputs in [0,1])
type ConvAE struct {
	Encoder, Decoder *nn.Sequential
}

// NewConvAE builds the autoencoder initialised deterministically from seed
// (PyTorch default initialisation).
func NewConvAE(seed uint64) *ConvAE {
	rng := nn.NewRNG(seed)
	conv := func(in, out, s int) nn.Module {
		return nn.NewConv2d(nn.ConvSpec{In: in, Out: out, Kernel: 3, Stride: s, Pad: 1, Act: ops.ActReLU}, rng)
	}
	up := func(in, out int, act ops.Act) nn.Module {
		return nn.NewConvTranspose2d(nn.ConvSpec{In: in, Out: out, Kernel: 4, Stride: 2, Pad: 1, Act: act}, rng)
	}
	return &ConvAE{
		Encoder: nn.NewSequential(conv(3, 32, 2), conv(32, 64, 2), conv(64, 64, 1), conv(64, 32, 1)),
		Decoder: nn.NewSequential(up(32, 32, ops.ActReLU), up(32, 3, ops.ActNone), nn.Func(nn.Sigmoid)),
	}
}

// Encode returns the latent map [N,32,H/4,W/4].
func (m *ConvAE) Encode(x *nn.Var) *nn.Var { return m.Encoder.Forward(x) }

// Forward reconstructs x [N,3,H,W] (H and W multiples of 4).
func (m *ConvAE) Forward(x *nn.Var) *nn.Var { return m.Decoder.Forward(m.Encoder.Forward(x)) }

// Params lists parameters as "enc.<i>.weight" / "dec.<i>.bias".
func (m *ConvAE) Params() []*nn.Param {
	return append(nn.Prefix("enc", m.Encoder.Params()), nn.Prefix("dec", m.Decoder.Params())...)
}

// Train sets the mode of both halves (the current layers behave the same in
// both modes; it keeps ConvAE a Module).
func (m *ConvAE) Train(on bool) {
	m.Encoder.Train(on)
	m.Decoder.Train(on)
}
