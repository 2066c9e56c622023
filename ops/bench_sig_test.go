package ops

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkActBackward times the autoencoder's elementwise activation
// passes at their sizes: the sigmoid on the 16×3×64×64 output (forward,
// backward) and the ReLU mask on the 16×32×32×32 map, vector vs scalar.
func BenchmarkActBackward(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randT(rng, 16, 3, 64, 64).Data
	y := make([]float32, len(x))
	r := randT(rng, 16, 32, 32, 32).Data
	d := randT(rng, 16, 32, 32, 32).Data
	b.Run("sigmoid", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			SigmoidSlices(y, x)
		}
	})
	b.Run("sigmoid_go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sigmoidGo(y, x)
		}
	})
	b.Run("relumask", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ReLUMask(d, r)
		}
	})
	b.Run("relumask_go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			reluMaskGo(d, r)
		}
	})
}
