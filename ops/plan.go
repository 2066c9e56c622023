package ops

import (
	"sync"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/tensor"
)

// Conv2dPlan is a convolution whose weights stay fixed over many calls
// (inference). The first Winograd-shaped call transforms the weights once;
// later calls reuse them without hashing the weights for the shared cache.
// (Storing im2col weights transposed for contiguous packing was tried:
// packing costs the same on 3×3 layers and the strided reads measured
// ~20% slower on ResNet-18's layer4.)
// Results are bit-identical to Conv2dForwardInto with the same arguments
// when both take the same path (a plan picks Winograd on smaller maps, as
// its weight transform and packing are paid once; results then differ by
// rounding only).
// A plan is safe for concurrent use; the weights must not change after
// PrepareConv2d.
type Conv2dPlan struct {
	w, b *tensor.Tensor
	p    Conv2D

	once sync.Once
	u    []float32       // Winograd weights, made on first use
	upa  []*gemm.PackedA // u packed for the GEMMs, with u

	packOnce sync.Once
	pa       []*gemm.PackedA // im2col-path weights per group, packed on first use
}

// PrepareConv2d returns a plan for conv(x, w) + b with p, w being
// [Cout,Cin/G,KH,KW] and b [Cout] or nil.
func PrepareConv2d(w, b *tensor.Tensor, p Conv2D) *Conv2dPlan {
	p = p.norm()
	cout, _, _, _ := w.Dims4("ops.PrepareConv2d")
	if cout%p.Groups != 0 {
		panicf("ops.PrepareConv2d: %d output channels not divisible by %d groups", cout, p.Groups)
	}
	if b != nil && b.Len() != cout {
		panicf("ops.PrepareConv2d: bias has %d values, want %d", b.Len(), cout)
	}
	return &Conv2dPlan{w: w, b: b, p: p}
}

// Params returns the convolution parameters the plan was made with
// (normalised: zero strides, dilations and groups read as 1).
func (c *Conv2dPlan) Params() Conv2D { return c.p }

// Forward writes conv(x, w) + b with the plan's activation into the
// preallocated y ([N,Cout,OH,OW]).
func (c *Conv2dPlan) Forward(y, x *tensor.Tensor) {
	s := convCheck("ops.Conv2dPlan.Forward", x, c.w, c.b, c.p)
	yn, yc, yh, yw := y.Dims4("ops.Conv2dPlan.Forward output")
	if yn != s.n || yc != s.cout || yh != s.win.oh || yw != s.win.ow {
		panicf("ops.Conv2dPlan.Forward: output %v, want [%d %d %d %d]", y.Shape, s.n, s.cout, s.win.oh, s.win.ow)
	}
	var bias []float32
	if c.b != nil {
		bias = c.b.Data
	}
	switch {
	case s.depthwise():
		depthwiseForward(y.Data, x.Data, c.w.Data, bias, c.p.Act, &s)
	case planWinograd(&s) && !disableWinograd:
		c.once.Do(func() {
			c.u = winogradTransform(c.w.Data, &s)
			c.upa = winogradPack(c.u, &s)
		})
		upa := c.upa
		if disablePackedWeights {
			upa = nil
		}
		winogradForwardU(y.Data, x.Data, c.u, bias, c.p.Act, &s, upa)
	default:
		// Packing the weights once saves repacking them for every tile
		// of every call: on ResNet-18's 7×7 layers (512×4608 weights,
		// 49 positions) that packing was as much memory traffic as the
		// product.
		c.packOnce.Do(func() {
			K := s.k()
			c.pa = make([]*gemm.PackedA, s.g)
			for g := range c.pa {
				c.pa[g] = gemm.PackA(false, s.coutg, K, c.w.Data[g*s.coutg*K:], K)
			}
		})
		pa := c.pa
		if disablePackedWeights {
			pa = nil
		}
		gemmConvForwardPA(y.Data, x.Data, c.w.Data, bias, c.p.Act, &s, pa)
	}
}

// disablePackedWeights makes plans pack the weights per call again (tests
// and benchmarks compare).
var disablePackedWeights = false

// PrepareConv2dParams returns p normalised as Conv2dPlan.Params reports it,
// so callers can tell whether a plan matches new parameters.
func PrepareConv2dParams(p Conv2D) Conv2D { return p.norm() }

// planMinWinoTiles is the fewest 2×2 output tiles (over the batch) for which
// a plan uses Winograd. Lower than useWinograd's bound because the weight
// transform is paid once, not per call.
var planMinWinoTiles = 128

// planWinograd reports whether a plan's call takes the Winograd path.
func planWinograd(s *convShape) bool {
	g := &s.win
	if g.kh != 3 || g.kw != 3 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 || s.g != 1 {
		return false
	}
	th, tw := (g.oh+1)/2, (g.ow+1)/2
	if s.cin < 16 || s.cout < 16 {
		return false
	}
	if s.n*th*tw >= planMinWinoTiles {
		return true
	}
	// With U prepacked, Winograd also pays on smaller maps (ResNet's
	// 14×14 layer3, 49 tiles, 1 thread: 2.7 ms im2col -> 1.9 ms) as long
	// as each band's product is wide enough to take the packed path
	// (narrow products run transposed on the unpacked U, which lost).
	_, nr := gemmTile()
	return s.n*th*tw >= planMinWinoTilesPacked && 2*winoRows(s, th, tw)*tw > nr
}

// planMinWinoTilesPacked is the fewest tiles for Winograd when the bands'
// products are wide (see planWinograd); 7×7 maps (16 tiles) measured
// slower than im2col.
var planMinWinoTilesPacked = 32
