package arch

import (
	"fmt"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
)

// The parameter count follows from the layer list: two 3x3 convolutions
// per block, a 2x2 transposed convolution per decoder step, a 1x1 head.
func TestUNetStructure(t *testing.T) {
	for _, s := range []UNetSpec{{In: 1, Out: 1, Width: 4, Depth: 2}, {In: 3, Out: 3, Width: 8, Depth: 3, BatchNorm: true}} {
		m, err := NewUNet(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		conv := func(in, out, k int) int {
			if s.BatchNorm && k == 3 {
				return in*out*k*k + 2*out // no bias; gamma and beta
			}
			return in*out*k*k + out
		}
		want, in := 0, s.In
		for i := 0; i <= s.Depth; i++ {
			w := s.Width << i
			want += conv(in, w, 3) + conv(w, w, 3)
			in = w
		}
		for i := 0; i < s.Depth; i++ {
			w := s.Width << i
			want += 2*w*w*4 + w + conv(2*w, w, 3) + conv(w, w, 3)
		}
		want += conv(s.Width, s.Out, 1)
		if got := nn.NumParams(m.Params()); got != want {
			t.Errorf("%+v: %d parameters, want %d", s, got, want)
		}
		names := map[string]bool{}
		for _, p := range m.Params() {
			if names[p.Name] {
				t.Errorf("parameter name %s repeated", p.Name)
			}
			names[p.Name] = true
		}
		if s.BatchNorm && len(m.Buffers()) != 4*(2*s.Depth+1) {
			t.Errorf("%d buffers, want %d", len(m.Buffers()), 4*(2*s.Depth+1))
		}
		x := nn.NewVar(randInput(2, 2, s.In, 16, 24))
		y := m.Forward(x)
		if fmt.Sprint(y.Shape()) != fmt.Sprint([]int{2, s.Out, 16, 24}) {
			t.Fatalf("output %v", y.Shape())
		}
		for _, v := range y.Value.Data {
			if !(v > 0 && v < 1) {
				t.Fatalf("output %v outside (0,1)", v)
			}
		}
	}
	if _, err := NewUNet(UNetSpec{In: 1, Out: 1, Width: 4, Depth: 0}, 1); err == nil {
		t.Error("depth 0 accepted")
	}
}

// The skip connections make the output at a pixel depend on the input
// near it more than far from it: a few Adam steps learn the identity on
// random images well below the error of a constant output.
func TestUNetLearnsIdentity(t *testing.T) {
	m, _ := NewUNet(UNetSpec{In: 1, Out: 1, Width: 4, Depth: 2}, 3)
	opt := optim.NewAdam(m.Params(), 1e-2, 0)
	x := nn.NewVar(randInput(4, 4, 1, 16, 16))
	var first, last float32
	for step := 0; step < 60; step++ {
		opt.ZeroGrad()
		loss := nn.MSELoss(m.Forward(x), x)
		nn.Backward(loss)
		opt.Step()
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
	}
	// Uniform [0,1) pixels: a constant output cannot beat variance 1/12.
	if !(last < first/4 && last < 0.02) {
		t.Errorf("loss %.4f -> %.4f after 60 steps, want < %.4f and < 0.02", first, last, first/4)
	}
}

func BenchmarkUNetTrainStep(b *testing.B) {
	for _, c := range []struct{ size, width, depth, batch int }{{64, 16, 3, 24}, {128, 16, 3, 24}, {128, 8, 4, 24}} {
		b.Run(fmt.Sprintf("s%d_w%d_d%d_b%d", c.size, c.width, c.depth, c.batch), func(b *testing.B) {
			m, _ := NewUNet(UNetSpec{In: 1, Out: 1, Width: c.width, Depth: c.depth}, 1)
			opt := optim.NewAdam(m.Params(), 1e-3, 0)
			x := nn.NewVar(randInput(1, c.batch, 1, c.size, c.size))
			for i := 0; i < b.N; i++ {
				opt.ZeroGrad()
				loss := nn.MSELoss(m.Forward(x), x)
				nn.Backward(loss)
				opt.Step()
			}
		})
	}
}
