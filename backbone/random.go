package backbone

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// Random is a small CNN with fixed, seeded random weights: four 3×3
// stride-2 convolutions with ReLU, tapped at strides 4, 8 and 16. Random
// convolutional features are a known baseline for anomaly detection on
// textures, and this backbone needs no weight file, so tests and offline
// demos of the feature-based detectors can run anywhere.
type Random struct {
	seed uint64
	ws   []*tensor.Tensor
	bs   []*tensor.Tensor
	taps []Tap
}

// NewRandom builds the network; the same seed gives the same weights.
func NewRandom(seed uint64) *Random {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	widths := []int{3, 16, 32, 48, 64}
	m := &Random{seed: seed}
	for i := 0; i+1 < len(widths); i++ {
		cin, cout := widths[i], widths[i+1]
		w := tensor.New(cout, cin, 3, 3)
		std := math.Sqrt(2 / float64(cin*9)) // He initialisation keeps activations O(1)
		for j := range w.Data {
			w.Data[j] = float32(r.NormFloat64() * std)
		}
		b := tensor.New(cout)
		for j := range b.Data {
			b.Data[j] = float32(r.NormFloat64() * 0.05)
		}
		m.ws = append(m.ws, w)
		m.bs = append(m.bs, b)
		if i >= 1 {
			m.taps = append(m.taps, Tap{Name: fmt.Sprintf("conv%d", i+1), Stride: 2 << i, Channels: cout})
		}
	}
	return m
}

// Name is "random:<seed>".
func (m *Random) Name() string { return fmt.Sprintf("random:%d", m.seed) }

// Taps lists the three tapped layers (strides 4, 8, 16).
func (m *Random) Taps() []Tap { return m.taps }

// Features runs the network on x (N×3×H×W in [0,1]).
func (m *Random) Features(x *tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(x.Shape) != 4 || x.Shape[1] != 3 {
		return nil, fmt.Errorf("random backbone: input shape %v, want N×3×H×W", x.Shape)
	}
	h := x.Clone()
	for i := range h.Data {
		h.Data[i] = 2*h.Data[i] - 1
	}
	var out []*tensor.Tensor
	for i := range m.ws {
		h = ops.Conv2dForward(h, m.ws[i], m.bs[i], ops.Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, Act: ops.ActReLU})
		if i >= 1 {
			out = append(out, h)
		}
	}
	return out, nil
}
