package arch

import (
	"math"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
)

// TestPatchNetDenseEqualsPatchwise runs each network once densely over a
// small image and once per patch, and requires the same descriptor at
// every location (the multi-pooling unrolling is exact).
func TestPatchNetDenseEqualsPatchwise(t *testing.T) {
	for _, p := range PatchSizes {
		net, err := NewPatchNet(p, 6, 0.05, uint64(p))
		if err != nil {
			t.Fatal(err)
		}
		const out = 5
		s := net.DenseSize(out)
		if s < out+net.Extent()-1 || net.Extent() > p {
			t.Fatalf("p=%d: dense size %d, extent %d", p, s, net.Extent())
		}
		rng := nn.NewRNG(uint64(p) + 1)
		w := s + 1 // a non-square input: the next width Dense accepts
		for net.denseOut(w) == 0 {
			w++
		}
		x := tensor.New(2, 3, s, w)
		for i := range x.Data {
			x.Data[i] = rng.Float32()
		}
		var dense *tensor.Tensor
		nn.NoGrad(func() { dense = net.Dense(nn.NewVar(x)).Value })
		oh, ow := s-net.Extent()+1, x.Shape[3]-net.Extent()+1
		if got := dense.Shape; got[0] != 2 || got[1] != 6 || got[2] != oh || got[3] != ow {
			t.Fatalf("p=%d: dense shape %v, want [2 6 %d %d]", p, got, oh, ow)
		}
		// Every patch of the batch at once, patch-wise.
		W := x.Shape[3]
		patches := tensor.New(2*oh*ow, 3, p, p)
		for n := 0; n < 2; n++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					k := (n*oh+i)*ow + j
					for c := 0; c < 3; c++ {
						for y := 0; y < p; y++ {
							for xx := 0; xx < p; xx++ {
								v := float32(0) // beyond the input: unused by the network when the extent is < p
								if i+y < s && j+xx < W {
									v = x.Data[((n*3+c)*s+i+y)*W+j+xx]
								}
								patches.Data[((k*3+c)*p+y)*p+xx] = v
							}
						}
					}
				}
			}
		}
		var pw *tensor.Tensor
		nn.NoGrad(func() { pw = net.Forward(nn.NewVar(patches)).Value })
		if got := pw.Shape; got[1] != 6 || got[2] != 1 || got[3] != 1 {
			t.Fatalf("p=%d: patch output %v, want [_ 6 1 1]", p, got)
		}
		worst := 0.0
		for n := 0; n < 2; n++ {
			for c := 0; c < 6; c++ {
				for i := 0; i < oh; i++ {
					for j := 0; j < ow; j++ {
						a := float64(dense.Data[((n*6+c)*oh+i)*ow+j])
						b := float64(pw.Data[((n*oh+i)*ow+j)*6+c])
						worst = max(worst, math.Abs(a-b)/(1e-3+math.Abs(b)))
					}
				}
			}
		}
		if worst > 1e-3 {
			t.Errorf("p=%d: dense and patch-wise descriptors differ (worst relative difference %.3g)", p, worst)
		}
	}
}

// TestPatchNetGeometry pins the receptive fields and refuses unknown sizes.
func TestPatchNetGeometry(t *testing.T) {
	want := map[int]int{17: 17, 33: 30, 65: 60} // pixels a descriptor depends on
	for p, e := range want {
		n, err := NewPatchNet(p, 8, 0.1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n.Extent() != e {
			t.Errorf("p=%d: extent %d, want %d", p, n.Extent(), e)
		}
	}
	if _, err := NewPatchNet(21, 8, 1, 1); err == nil {
		t.Error("patch size 21 accepted")
	}
}
