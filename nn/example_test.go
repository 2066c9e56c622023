package nn_test

import (
	"fmt"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/tensor"
)

// A complete training loop: fit y = 2x − 1 with one linear unit.
func Example() {
	model := nn.NewLinear(1, 1, true, nn.NewRNG(1))
	opt := optim.NewSGD(model.Params(), 0.1, 0.9, 0, false)
	x := tensor.From([]float32{-1, 0, 1, 2}, 4, 1)
	y := tensor.From([]float32{-3, -1, 1, 3}, 4, 1)
	for step := 0; step < 200; step++ {
		opt.ZeroGrad()
		loss := nn.MSELoss(model.Forward(nn.NewVar(x)), nn.NewVar(y))
		nn.Backward(loss)
		opt.Step()
	}
	fmt.Printf("w=%.3f b=%.3f\n", model.Weight.Value.Data[0], model.Bias.Value.Data[0])
	// Output: w=2.000 b=-1.000
}
