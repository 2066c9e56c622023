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
	EncoderDecoder
}

// EncoderDecoder is the encoder-decoder pair the autoencoders share, with
// the parameter naming and mode switching of both halves.
type EncoderDecoder struct {
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
	return &ConvAE{EncoderDecoder{
		Encoder: nn.NewSequential(conv(3, 32, 2), conv(32, 64, 2), conv(64, 64, 1), conv(64, 32, 1)),
		Decoder: nn.NewSequential(up(32, 32, ops.ActReLU), up(32, 3, ops.ActNone), nn.Func(nn.Sigmoid)),
	}}
}

// Encode returns the latent map (for ConvAE [N,32,H/4,W/4]).
func (m *EncoderDecoder) Encode(x *nn.Var) *nn.Var { return m.Encoder.Forward(x) }

// Decode maps a latent map back to an image.
func (m *EncoderDecoder) Decode(z *nn.Var) *nn.Var { return m.Decoder.Forward(z) }

// Forward reconstructs x (for ConvAE [N,3,H,W], H and W multiples of 4).
func (m *EncoderDecoder) Forward(x *nn.Var) *nn.Var { return m.Decode(m.Encode(x)) }

// Params lists parameters as "enc.<i>.weight" / "dec.<i>.bias".
func (m *EncoderDecoder) Params() []*nn.Param {
	return append(nn.Prefix("enc", m.Encoder.Params()), nn.Prefix("dec", m.Decoder.Params())...)
}

// Train sets the mode of both halves.
func (m *EncoderDecoder) Train(on bool) {
	m.Encoder.Train(on)
	m.Decoder.Train(on)
}
