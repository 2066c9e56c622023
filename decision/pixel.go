package decision

import (
	"errors"
	"fmt"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/keyhist"
)

// PixelThreshold returns a pixel-level threshold from anomaly maps of
// normal validation images: pixels are anomalous iff value >= threshold,
// and the threshold is the smallest float64 above the k-th smallest pixel,
// k = ceil((N+1)(1−alpha)) capped at N (N pixels in all), so at most a
// fraction alpha of the validation pixels is flagged. Pixels of one image
// are not exchangeable, so this is an empirical quantile, not a conformal
// guarantee.
//
// The quantile is exact and memory is bounded (512 KiB whatever N): a radix
// select over the order-preserving 32-bit keys of the float32 pixels, one
// pass histogramming the top 16 bits to find the bucket holding rank k, a
// second pass histogramming the low 16 bits of the pixels in that bucket.
// It fails on no pixels, a NaN pixel, a malformed map, or alpha outside
// (0, 1).
func PixelThreshold(maps []*imageio.Map, alpha float64) (float64, error) {
	if err := checkAlpha(alpha); err != nil {
		return 0, err
	}
	hist := make([]uint64, 1<<16)
	n := 0
	for j, m := range maps {
		if m == nil || len(m.Pix) != m.H*m.W {
			return 0, fmt.Errorf("decision: validation map %d is nil or malformed", j)
		}
		for i, v := range m.Pix {
			if v != v {
				return 0, fmt.Errorf("decision: validation map %d pixel (y=%d, x=%d) is NaN", j, i/m.W, i%m.W)
			}
			hist[keyhist.Key(v)>>16]++
		}
		n += len(m.Pix)
	}
	if n == 0 {
		return 0, errors.New("decision: no validation pixels")
	}
	k := uint64(min(n, conformalRank(n, alpha)))
	hi, below := 0, uint64(0)
	for ; below+hist[hi] < k; hi++ {
		below += hist[hi]
	}
	clear(hist)
	for _, m := range maps {
		for _, v := range m.Pix {
			if key := keyhist.Key(v); int(key>>16) == hi {
				hist[key&0xffff]++
			}
		}
	}
	lo := 0
	for ; below+hist[lo] < k; lo++ {
		below += hist[lo]
	}
	return above(float64(keyhist.FromKey(uint32(hi)<<16 | uint32(lo)))), nil
}
