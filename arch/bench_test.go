package arch

import (
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
)

// BenchmarkAEStep is one training step of the conv autoencoder: forward,
// MSE loss, backward and an Adam update, batch 16 of 3×64×64.
func BenchmarkAEStep(b *testing.B) {
	benchAEStep(b, nn.MSELoss)
}

// BenchmarkAEStepSSIM is BenchmarkAEStep with the SSIM loss.
func BenchmarkAEStepSSIM(b *testing.B) {
	benchAEStep(b, nn.SSIMLoss)
}

func benchAEStep(b *testing.B, loss func(a, b *nn.Var) *nn.Var) {
	m := NewConvAE(1)
	opt := optim.NewAdam(m.Params(), 1e-3, 0)
	x := nn.NewVar(randInput(1, 16, 3, 64, 64))
	step := func() {
		opt.ZeroGrad()
		nn.Backward(loss(m.Forward(x), x))
		opt.Step()
	}
	step()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
}

// BenchmarkResNet18Forward is ResNet-18 inference on one 3×224×224 image
// (evaluation mode, no graph: batch norm and ReLU as one in-place pass).
func BenchmarkResNet18Forward(b *testing.B) {
	m := NewResNet18(1000, 1)
	m.Train(false)
	x := nn.NewVar(randInput(1, 1, 3, 224, 224))
	nn.NoGrad(func() {
		m.Forward(x)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m.Forward(x)
		}
	})
}

// BenchmarkAEEncoderStep is the like-for-like counterpart of
// shared/bench/onednn/ae-step.sh: the four encoder convolutions (fused
// ReLU) forward and backward (no input gradient), an MSE loss on the
// latent and an Adam update, batch 16 of 3×64×64.
func BenchmarkAEEncoderStep(b *testing.B) {
	m := NewConvAE(1)
	opt := optim.NewAdam(m.Encoder.Params(), 1e-3, 0)
	x := nn.NewVar(randInput(1, 16, 3, 64, 64))
	target := nn.NewVar(randInput(2, 16, 32, 16, 16))
	step := func() {
		opt.ZeroGrad()
		nn.Backward(nn.MSELoss(m.Encode(x), target))
		opt.Step()
	}
	step()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
}
