package arch

import (
	"slices"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/tensor"
)

// The code has Latent channels at 1/Stride of the input, the output has
// the input's shape, and the layer count follows the spec.
func TestFCAEShapes(t *testing.T) {
	for _, s := range []FCAESpec{
		{In: 1, Width: 4, Depth: 0, Stride: 2, Latent: 3},
		{In: 3, Width: 4, Depth: 2, Stride: 8, Latent: 5},
		{In: 1, Width: 2, Depth: 1, Stride: 32, Latent: 2}, // widths cap at 8·Width
	} {
		m, err := NewFCAE(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		h, w := 2*s.Stride, 3*s.Stride
		x := randInput(3, 2, s.In, h, w)
		var z, y *nn.Var
		nn.NoGrad(func() { z = m.Encode(nn.NewVar(x)); y = m.Forward(nn.NewVar(x)) })
		if !tensor.SameShape(z.Value.Shape, []int{2, s.Latent, 2, 3}) {
			t.Errorf("%+v: code shape %v", s, z.Value.Shape)
		}
		if !tensor.SameShape(y.Value.Shape, x.Shape) {
			t.Errorf("%+v: output shape %v", s, y.Value.Shape)
		}
		for _, v := range y.Value.Data {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("%+v: output %v outside [0,1]", s, v)
			}
		}
		L := s.Stages()
		// Encoder: L·(1+Depth) + 1 convolutions; decoder the same plus the
		// output convolution; two tensors each.
		if got, want := len(m.Params()), 2*(2*L*(1+s.Depth)+3); got != want {
			t.Errorf("%+v: %d param tensors, want %d", s, got, want)
		}
		if top := m.Encoder.Layers[len(m.Encoder.Layers)-2].(*nn.Conv2dLayer).Spec.Out; top != s.Width<<min(L-1, 3) {
			t.Errorf("%+v: last stage width %d", s, top)
		}
	}
	for _, bad := range []FCAESpec{{In: 1, Width: 4, Stride: 3, Latent: 2}, {In: 0, Width: 4, Stride: 2, Latent: 2},
		{In: 1, Width: 4, Stride: 4, Latent: 0}, {In: 1, Width: 4, Depth: -1, Stride: 4, Latent: 2}} {
		if _, err := NewFCAE(bad, 1); err == nil {
			t.Errorf("spec %+v accepted", bad)
		}
	}
}

// Same seed, same weights; and a few Adam steps on one smooth image
// halve the reconstruction loss.
func TestFCAELearns(t *testing.T) {
	s := FCAESpec{In: 1, Width: 8, Depth: 0, Stride: 4, Latent: 8}
	a, _ := NewFCAE(s, 7)
	b, _ := NewFCAE(s, 7)
	for i, p := range a.Params() {
		if q := b.Params()[i]; p.Name != q.Name || !slices.Equal(p.Value.Data, q.Value.Data) {
			t.Fatalf("param %s differs between two builds with one seed", p.Name)
		}
	}
	img := tensor.New(2, 1, 32, 32)
	for i := range img.Data {
		p := i % 1024
		img.Data[i] = 0.3 + 0.4*float32((p%32)+(p/32))/62
	}
	x := nn.NewVar(img)
	opt := optim.NewAdam(a.Params(), 3e-3, 0)
	first := nn.MSELoss(a.Forward(x), x).Item()
	var last float32
	for i := 0; i < 40; i++ {
		opt.ZeroGrad()
		l := nn.MSELoss(a.Forward(x), x)
		nn.Backward(l)
		opt.Step()
		last = l.Item()
	}
	if !(last < 0.5*first) {
		t.Fatalf("loss %v -> %v: did not halve", first, last)
	}
}
