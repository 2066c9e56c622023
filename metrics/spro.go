package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/keyhist"
)

// DefaultSPROLimit is the MVTec LOCO AD integration limit for AUsPRO.
const DefaultSPROLimit = 0.05

// SPRORegion is one ground-truth region of an image for SPRO: in MVTec LOCO
// AD one channel (one PNG) of the image's ground truth, whatever its
// connectivity.
type SPRORegion struct {
	// Mask marks the region's pixels (imageio.IsDefect: non-zero); same
	// size as the anomaly map.
	Mask *imageio.Map
	// Saturation is the area in pixels at which the region counts as fully
	// detected (for LOCO, internal/loco.Saturation of the region's area and
	// its defect type's entry in defects_config.json, as dataset.Region
	// carries it); 0 means the region's own area, which makes the region's
	// sPRO its PRO overlap.
	Saturation float64
}

// SPRO accumulates the saturated per-region overlap (sPRO) curve of the
// MVTec LOCO AD protocol in bounded memory.
//
// Definition: for a threshold t, sPRO(t) = mean over all regions r of
// min(1, |r ∩ {map >= t}| / sat_r), and FPR(t) = fraction of the pixels
// outside every region (over all images, defect-free images included) with
// map >= t. AUsPRO is the trapezoid integral of sPRO over FPR from 0 to
// the limit (0.05), interpolated at exactly the limit, divided by the
// limit. With sat_r = |r| it is PRO's definition with the given regions.
//
// Method: within a region, the saturated overlap grows by 1/sat_r for each
// of its highest-scoring pixels until it reaches 1 (the pixel crossing
// sat_r adds the remaining fraction), and not at all after. So each region
// pixel gets a fixed weight once the region's scores are sorted (per
// region, O(|r| log |r|), memory of one image), tied scores sharing their
// total weight, and the curve is again a sum of per-pixel weights over the
// pixels scoring >= t, held in the same range-adaptive histogram as PRO,
// with the same memory bound and the same ErrorBound.
type SPRO struct {
	h       *keyhist.Hist
	nNeg    float64
	regions int
	max     float32
	seen    bool
	inside  []bool
	scores  []float32
}

// NewSPRO returns an empty accumulator with a budget of bins histogram
// bins (bins <= 0 means DefaultBins).
func NewSPRO(bins int) *SPRO { return &SPRO{h: keyhist.New(bins)} }

// AddRegions accumulates one anomaly map and its ground-truth regions (none
// for a defect-free image). Every region mask must match the map's size
// and hold at least one pixel; Saturation must be 0 or a positive finite
// area. On error nothing is added.
func (p *SPRO) AddRegions(m *imageio.Map, regions []SPRORegion) error {
	if m == nil {
		return errors.New("metrics: nil anomaly map")
	}
	mx, err := checkPair(m, m)
	if err != nil {
		return err
	}
	n := len(m.Pix)
	sats := make([]float64, len(regions))
	for j, r := range regions {
		if r.Mask == nil {
			return fmt.Errorf("metrics: region %d: nil mask", j)
		}
		if r.Mask.H != m.H || r.Mask.W != m.W || len(r.Mask.Pix) != n {
			return fmt.Errorf("metrics: region %d: mask is %dx%d but anomaly map is %dx%d", j, r.Mask.W, r.Mask.H, m.W, m.H)
		}
		if !(r.Saturation >= 0 && r.Saturation <= math.MaxFloat64) {
			return fmt.Errorf("metrics: region %d: saturation area %v, want 0 (region area) or a positive number", j, r.Saturation)
		}
		area := 0
		for _, v := range r.Mask.Pix {
			if imageio.IsDefect(v) {
				area++
			}
		}
		if area == 0 {
			return fmt.Errorf("metrics: region %d has no defect pixel", j)
		}
		sats[j] = r.Saturation
		if sats[j] == 0 {
			sats[j] = float64(area)
		}
	}
	noteMax(&p.max, &p.seen, mx, n > 0)
	if cap(p.inside) < n {
		p.inside = make([]bool, n)
	}
	inside := p.inside[:n]
	clear(inside)
	for j, r := range regions {
		sc := p.scores[:0]
		for i, v := range r.Mask.Pix {
			if imageio.IsDefect(v) {
				inside[i] = true
				sc = append(sc, m.Pix[i])
			}
		}
		p.scores = sc
		slices.Sort(sc)
		// Highest first: the c-th pixel (1-based) lifts the overlap from
		// min(1, (c−1)/sat) to min(1, c/sat); past saturation it adds
		// nothing and is left out (it is no normal pixel either).
		sat := sats[j]
		for c := 1; c <= len(sc); c++ {
			w := min(1, float64(c)/sat) - min(1, float64(c-1)/sat)
			if w <= 0 {
				break
			}
			p.h.Add(keyhist.Key(sc[len(sc)-c]), 0, w)
		}
	}
	for i, v := range m.Pix {
		if !inside[i] {
			p.h.Add(keyhist.Key(v), 1, 0)
			p.nNeg++
		}
	}
	p.regions += len(regions)
	return nil
}

// Merge adds everything accumulated by o into p.
func (p *SPRO) Merge(o *SPRO) {
	p.h.Merge(o.h)
	p.nNeg += o.nNeg
	p.regions += o.regions
	noteMax(&p.max, &p.seen, o.max, o.seen)
}

// Regions returns the number of ground-truth regions seen.
func (p *SPRO) Regions() int { return p.regions }

// Normal returns the number of pixels outside every region seen.
func (p *SPRO) Normal() int { return int(p.nNeg) }

func (p *SPRO) curve() *PRO {
	// The sPRO curve is a PRO curve over other weights: reuse its walk,
	// integration, bound and plotting.
	return &PRO{h: p.h, nNeg: p.nNeg, regions: p.regions, max: p.max, seen: p.seen}
}

// AUsPRO returns the normalised area under the sPRO curve for FPR in
// [0, limit] (limit <= 0 means DefaultSPROLimit). It fails without pixels
// outside the regions or without any region.
func (p *SPRO) AUsPRO(limit float64) (float64, error) {
	if limit <= 0 {
		limit = DefaultSPROLimit
	}
	if p.nNeg == 0 || p.regions == 0 {
		return 0, errors.New("metrics: AUsPRO needs pixels outside the regions and at least one region")
	}
	if limit > 1 {
		return 0, fmt.Errorf("metrics: AUsPRO FPR limit %v is not in (0, 1]", limit)
	}
	return p.curve().AUPRO(limit)
}

// ErrorBound returns the largest possible difference between
// AUsPRO(limit) and the exact AUsPRO caused by distinct values sharing a
// histogram bin (limit <= 0 means DefaultSPROLimit).
func (p *SPRO) ErrorBound(limit float64) float64 {
	if limit <= 0 {
		limit = DefaultSPROLimit
	}
	return p.curve().ErrorBound(limit)
}

// Curve returns the sPRO curve (X = FPR, Y = sPRO) for plotting, like
// PRO.Curve.
func (p *SPRO) Curve(maxPoints int) Curve { return p.curve().Curve(maxPoints) }
