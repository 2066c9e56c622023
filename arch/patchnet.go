package arch

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/ops"
)

// PatchNet is one of the patch descriptor networks of Uninformed Students
// (Bergmann et al., CVPR 2020, supplementary tables): a p×p RGB patch goes
// to a 1×1 descriptor of Dim channels through valid convolutions and 2×2
// stride-2 max pools, leaky ReLU (slope 5e-3) after every convolution but
// the last. Channel widths are the paper's 128/256 scaled by the width
// factor, so a CPU can train them.
//
//	p=17: conv5 128, conv5 256, conv5 256, conv5 d
//	p=33: conv3 128, pool, conv3 256, pool, conv5 256, conv2 128, conv1 d
//	p=65: conv5 128, pool, conv5 128, pool, conv5 128, pool, conv4 256, conv1 d
//
// Forward maps patches to descriptors; Dense computes the descriptor of
// every patch of a larger input in one pass (see Dense).
type PatchNet struct {
	P, Dim int
	layers []patchLayer
	convs  []*nn.Conv2dLayer
}

type patchLayer struct {
	kernel int // 0: 2×2 stride-2 max pool
	conv   int // index into convs
	act    bool
}

// PatchSizes are the receptive fields PatchNet knows.
var PatchSizes = []int{17, 33, 65}

// NewPatchNet builds the network for patch side p (17, 33 or 65) with
// descriptor size dim and channel widths 128·width and 256·width (at least
// 4), initialised from seed.
func NewPatchNet(p, dim int, width float64, seed uint64) (*PatchNet, error) {
	if dim < 1 {
		return nil, fmt.Errorf("patch net: descriptor size %d must be >= 1", dim)
	}
	if !(width > 0) || width > 4 {
		return nil, fmt.Errorf("patch net: width %g must be in (0, 4]", width)
	}
	a := max(4, int(math.Round(128*width)))
	b := max(4, int(math.Round(256*width)))
	type l struct{ k, out int } // k 0: pool
	var spec []l
	switch p {
	case 17:
		spec = []l{{5, a}, {5, b}, {5, b}, {5, dim}}
	case 33:
		spec = []l{{3, a}, {0, 0}, {3, b}, {0, 0}, {5, b}, {2, a}, {1, dim}}
	case 65:
		spec = []l{{5, a}, {0, 0}, {5, a}, {0, 0}, {5, a}, {0, 0}, {4, b}, {1, dim}}
	default:
		return nil, fmt.Errorf("patch net: patch size %d not one of %v", p, PatchSizes)
	}
	rng := nn.NewRNG(seed)
	n := &PatchNet{P: p, Dim: dim}
	in := 3
	for i, s := range spec {
		if s.k == 0 {
			n.layers = append(n.layers, patchLayer{})
			continue
		}
		n.layers = append(n.layers, patchLayer{kernel: s.k, conv: len(n.convs), act: i < len(spec)-1})
		n.convs = append(n.convs, nn.NewConv2d(nn.ConvSpec{In: in, Out: s.out, Kernel: s.k}, rng))
		in = s.out
	}
	return n, nil
}

// leak is the leaky ReLU slope of the paper's networks.
const leak = 5e-3

var pool2 = ops.Pool2D{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
var pool2dense = ops.Pool2D{KH: 2, KW: 2, StrideH: 1, StrideW: 1}

// Forward maps patches x [N,3,P,P] to descriptors [N,Dim,1,1].
func (n *PatchNet) Forward(x *nn.Var) *nn.Var {
	for _, l := range n.layers {
		if l.kernel == 0 {
			x = nn.MaxPool2d(x, pool2)
			continue
		}
		x = n.conv(l, x)
	}
	return x
}

func (n *PatchNet) conv(l patchLayer, x *nn.Var) *nn.Var {
	x = n.convs[l.conv].Forward(x)
	if l.act {
		x = nn.LeakyReLU(x, leak)
	}
	return x
}

// Dense returns, for an input x [N,3,H,W] whose size DenseSize accepts,
// the descriptor of every patch: out[:, :, i, j] = Forward of the P×P
// patch whose top-left corner is (i, j). Every pool is evaluated at stride
// 1 and its output split into its four stride-2 sub-grids, which go
// through the rest of the network as separate batch entries and are
// interleaved back at the end (multi-pooling, Bailer et al.): the cost is
// that of one image-sized forward pass, not one pass per patch.
func (n *PatchNet) Dense(x *nn.Var) *nn.Var {
	pools := 0
	for _, l := range n.layers {
		if l.kernel == 0 {
			x = nn.SpaceToBatch(nn.MaxPool2d(x, pool2dense), 2)
			pools++
			continue
		}
		x = n.conv(l, x)
	}
	for ; pools > 0; pools-- {
		x = nn.BatchToSpace(x, 2)
	}
	return x
}

// denseOut is the output side of Dense for an input side s, or 0 when a
// pool stage would get an odd side (its sub-grids would differ in size).
func (n *PatchNet) denseOut(s int) int {
	scale := 1
	for _, l := range n.layers {
		if l.kernel == 0 {
			s--
			if s < 2 || s%2 != 0 {
				return 0
			}
			s /= 2
			scale *= 2
			continue
		}
		s -= l.kernel - 1
		if s < 1 {
			return 0
		}
	}
	return s * scale
}

// Extent is the number of input pixels, along each axis, that one
// descriptor depends on (at most P: the floor of the stride-2 pools can
// leave the patch's last rows unused).
func (n *PatchNet) Extent() int {
	for s := n.P; ; s++ {
		if o := n.denseOut(s); o > 0 {
			return s - o + 1
		}
	}
}

// DenseSize returns the smallest input side s >= out+Extent()-1 that Dense
// accepts; Dense then gives s-Extent()+1 >= out descriptors per axis.
func (n *PatchNet) DenseSize(out int) int {
	e := n.Extent()
	for s := out + e - 1; ; s++ {
		if n.denseOut(s) > 0 {
			return s
		}
	}
}

// Params names the convolutions "conv<i>.weight" / "conv<i>.bias".
func (n *PatchNet) Params() []*nn.Param {
	var ps []*nn.Param
	for i, c := range n.convs {
		ps = append(ps, nn.Prefix(fmt.Sprintf("conv%d", i), c.Params())...)
	}
	return ps
}

// Train is a no-op: the network has no batch norm or dropout.
func (n *PatchNet) Train(bool) {}
