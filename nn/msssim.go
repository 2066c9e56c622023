package nn

import (
	"math"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// msssimWeights are the MS-SSIM exponents of Wang, Simoncelli and Bovik
// (2003), finest scale first. Scales 1..M−1 contribute their
// contrast-structure term, the coarsest scale M contrast-structure and
// luminance (the full SSIM), each with its exponent.
var msssimWeights = [...]float64{0.0448, 0.2856, 0.3001, 0.2363, 0.1333}

// msssimMinCoarse is the smallest side the coarsest scale may have.
const msssimMinCoarse = 4

// msssimScales is the number of scales used for an h×w image: all 5 when
// the coarsest (2⁴ times smaller) keeps msssimMinCoarse pixels a side,
// i.e. from 64×64 up; smaller images use fewer scales, the finest ones,
// with their exponents renormalised to sum to 1 (below 8×8, where not even
// 2 scales fit, the ops panic).
func msssimScales(h, w int) int {
	side := min(h, w)
	k := 1
	for k < len(msssimWeights) && side>>k >= msssimMinCoarse {
		k++
	}
	return k
}

// msssimExponents returns the first k exponents renormalised to sum to 1.
func msssimExponents(k int) []float64 {
	e := append([]float64(nil), msssimWeights[:k]...)
	var s float64
	for _, v := range e {
		s += v
	}
	for i := range e {
		e[i] /= s
	}
	return e
}

// msssimLevel is one scale: its images, its map (cs, or l·cs at the
// coarsest scale), the map's gradient with respect to the stacked blurred
// statistics (nil without grad) and the map's mean per (image, channel).
type msssimLevel struct {
	x, y, m, dm *tensor.Tensor
	mean        []float64
}

func msssimForward(op string, x, y *tensor.Tensor, grad bool) ([]msssimLevel, []float64) {
	checkPair(op, x, y, 2*msssimMinCoarse, "MS-SSIM's 2 scales (all 5 from 64×64)")
	k := msssimScales(x.Shape[2], x.Shape[3])
	levels := make([]msssimLevel, k)
	for j := range levels {
		if j > 0 {
			x, y = ops.AvgPool2dForward(x, halve), ops.AvgPool2dForward(y, halve)
		}
		m, dm := ssimFormula(ssimStats(x, y), x.Shape, j < k-1, grad)
		n, c, h, w := x.Dims4(op)
		hw := h * w
		mean := make([]float64, n*c)
		for p := range mean {
			var s float64
			for _, v := range m.Data[p*hw : (p+1)*hw] {
				s += float64(v)
			}
			mean[p] = s / float64(hw)
		}
		levels[j] = msssimLevel{x, y, m, dm, mean}
	}
	return levels, msssimExponents(k)
}

// MSSSIMLoss returns 1 − MS-SSIM(x, y) averaged over images and channels
// ([N,C,H,W], intensities nominally in [0,1]). Per image and channel,
// MS-SSIM = Π_j max(0, mean cs_j)^β_j · max(0, mean SSIM_M)^β_M with 2×2
// average pooling between scales and the 11×11 Gaussian window (σ 1.5,
// zero padding) of SSIMLoss at each. The clamp at 0 keeps the fractional
// powers real (as pytorch-msssim does); a clamped scale gives no gradient.
// Images from 64×64 use 5 scales, smaller ones fewer (see msssimScales).
func MSSSIMLoss(x, y *Var) *Var {
	const op = "MSSSIMLoss"
	xv, yv := x.Value, y.Value
	levels, exps := msssimForward(op, xv, yv, track(x, y))
	np := len(levels[0].mean)
	prod := make([]float64, np)
	var total float64
	for p := range prod {
		v := 1.0
		for j, l := range levels {
			v *= math.Pow(max(l.mean[p], 0), exps[j])
		}
		prod[p] = v
		total += v
	}
	loss := []float32{float32(1 - total/float64(np))}
	finite(op, loss)
	var res *Var
	res = result(tensor.From(loss, 1), []*Var{x, y}, func() {
		g := -float64(res.Grad.Data[0]) / float64(np)
		pyramidBackward(x, y, len(levels), func(j int) (gx, gy *tensor.Tensor) {
			l := levels[j]
			n, c, h, w := l.x.Dims4(op)
			hw := h * w
			// dL/dmap at every pixel of plane p: g · β_j · P/mean_j / hw.
			for b := 0; b < n; b++ {
				for ci := 0; ci < c; ci++ {
					p := b*c + ci
					var coef float32
					if mv := l.mean[p]; mv > 0 {
						coef = float32(g * exps[j] * prod[p] / mv / float64(hw))
					}
					for s := 0; s < 5; s++ {
						o := (b*5*c + s*c + ci) * hw
						for i := range l.dm.Data[o : o+hw] {
							l.dm.Data[o+i] *= coef
						}
					}
				}
			}
			return ssimStatsBackward("nn."+op, l.dm, l.x, l.y, needs(x), needs(y))
		})
	})
	return res
}

// MSSSIMMap returns a per-pixel MS-SSIM dissimilarity for scoring,
// [N,1,H,W]: 1 − Π_j up(max(0, map_j))^β_j, the scales' cs maps (SSIM at
// the coarsest) clamped at 0, upsampled bilinearly to the input size and
// raised to their exponents, then averaged over channels.
func MSSSIMMap(x, y *tensor.Tensor) *tensor.Tensor {
	const op = "MSSSIMMap"
	levels, exps := msssimForward(op, x, y, false)
	h, w := x.Shape[2], x.Shape[3]
	prod := tensor.New(x.Shape...)
	prod.Fill(1)
	for j, l := range levels {
		m := l.m
		for i, v := range m.Data {
			m.Data[i] = max(v, 0)
		}
		if j > 0 {
			m = ops.UpsampleBilinear(m, h, w, false)
		}
		for i, v := range m.Data {
			prod.Data[i] *= float32(math.Pow(float64(v), exps[j]))
		}
	}
	for i, v := range prod.Data {
		prod.Data[i] = 1 - v
	}
	out := channelMean(prod)
	finite(op, out.Data)
	return out
}
