package metrics

import (
	"errors"
	"fmt"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/keyhist"
	"github.com/vigil-ad/vigil/internal/label"
)

// DefaultFPRLimit is the MVTec AD integration limit for AUPRO.
const DefaultFPRLimit = 0.3

// PRO accumulates the per-region-overlap curve of the MVTec AD protocol in
// bounded memory.
//
// Definition: the regions are the 8-connected components of every
// ground-truth mask's defect pixels (imageio.IsDefect: non-zero). For a threshold t,
// PRO(t) = mean over all regions r of |r ∩ {map >= t}| / |r|, and
// FPR(t) = fraction of normal pixels (over all images) with map >= t.
// AUPRO is the trapezoid integral of PRO over FPR from 0 to the limit
// (0.3), interpolating the curve linearly at exactly the limit, divided by
// the limit.
//
// Method: both PRO(t) and FPR(t) are sums of per-pixel weights over the
// pixels scoring >= t — a region pixel weighs 1/|r| (divided by the number
// of regions at the end), a normal pixel 1 (divided by the normal count).
// So the same range-adaptive float32-key histogram as PixelROC holds, per
// bin, the normal count and the summed region weight: memory is bounded by
// the bin budget (plus 8 bytes per pixel of the largest single mask for the
// component labels and flood-fill queue, reused between images), never by
// the total pixel count.
//
// Error: pixels sharing a bin are treated as tied, which replaces the exact
// staircase inside a bin by the straight segment between its end points.
// For a bin holding one distinct value that segment is the exact curve
// (MVTec's evaluation also joins tied scores by one segment), so only bins
// mixing values with both normal and region pixels are uncertain; the AUPRO
// differs from the exact one by at most ErrorBound (Σ over those bins below
// the limit of ΔFPR·ΔPRO/2, the bin crossing the limit counted whole,
// divided by the limit).
type PRO struct {
	h       *keyhist.Hist
	nNeg    float64
	regions int
	max     float32
	seen    bool
	labels  []int32
	queue   []int32
	areas   []int
	inv     []float64
}

// NewPRO returns an empty accumulator with a budget of bins histogram bins
// (bins <= 0 means DefaultBins).
func NewPRO(bins int) *PRO { return &PRO{h: keyhist.New(bins)} }

// Add accumulates one anomaly map and its ground-truth mask. On error
// nothing is added.
func (p *PRO) Add(m, mask *imageio.Map) error {
	mx, err := checkPair(m, mask)
	if err != nil {
		return err
	}
	n := len(m.Pix)
	noteMax(&p.max, &p.seen, mx, n > 0)
	if cap(p.labels) < n {
		p.labels = make([]int32, n)
		p.queue = make([]int32, n)
	}
	labels := p.labels[:n]
	var nr int
	nr, p.areas = regionLabels(mask, labels, p.queue[:n], p.areas)
	p.inv = p.inv[:0]
	for _, a := range p.areas {
		p.inv = append(p.inv, 1/float64(a))
	}
	for i, v := range m.Pix {
		if l := labels[i]; l > 0 {
			p.h.Add(keyhist.Key(v), 0, p.inv[l-1])
		} else {
			p.h.Add(keyhist.Key(v), 1, 0)
			p.nNeg++
		}
	}
	p.regions += nr
	return nil
}

// Merge adds everything accumulated by o into p.
func (p *PRO) Merge(o *PRO) {
	p.h.Merge(o.h)
	p.nNeg += o.nNeg
	p.regions += o.regions
	noteMax(&p.max, &p.seen, o.max, o.seen)
}

// Regions returns the number of ground-truth regions seen.
func (p *PRO) Regions() int { return p.regions }

// Normal returns the number of normal pixels seen.
func (p *PRO) Normal() int { return int(p.nNeg) }

// walk visits the PRO curve points (FPR, PRO, threshold) in decreasing
// threshold order, starting after the (0, 0) point; single reports whether
// the segment ending at the point joins tied scores (exact).
func (p *PRO) walk(f func(x, y float64, lo float32, single bool)) {
	fp, tp := 0.0, 0.0
	r := float64(p.regions)
	p.h.Descend(func(b keyhist.Bin) {
		fp += b.Neg
		tp += b.Pos
		f(safeDiv(fp, p.nNeg), min(1, safeDiv(tp, r)), b.Min(), b.Single())
	})
}

func (p *PRO) check(limit float64) error {
	if p.nNeg == 0 || p.regions == 0 {
		return errors.New("metrics: AUPRO needs normal pixels and at least one anomalous region")
	}
	if !(limit > 0 && limit <= 1) {
		return fmt.Errorf("metrics: AUPRO FPR limit %v is not in (0, 1]", limit)
	}
	return nil
}

// AUPRO returns the normalised area under the PRO curve for FPR in
// [0, limit] (limit <= 0 means DefaultFPRLimit). It fails without normal
// pixels or without any ground-truth region.
func (p *PRO) AUPRO(limit float64) (float64, error) {
	if limit <= 0 {
		limit = DefaultFPRLimit
	}
	if err := p.check(limit); err != nil {
		return 0, err
	}
	area, px, py, done := 0.0, 0.0, 0.0, false
	p.walk(func(x, y float64, _ float32, _ bool) {
		if done {
			return
		}
		if x >= limit {
			// Interpolate at the limit; x > px here because px < limit.
			yl := py + (y-py)*(limit-px)/(x-px)
			area += (limit - px) * (py + yl) / 2
			done = true
			return
		}
		area += (x - px) * (py + y) / 2
		px, py = x, y
	})
	return area / limit, nil
}

// ErrorBound returns the largest possible difference between AUPRO(limit)
// and the exact AUPRO caused by values sharing a histogram bin.
func (p *PRO) ErrorBound(limit float64) float64 {
	if limit <= 0 {
		limit = DefaultFPRLimit
	}
	if p.check(limit) != nil {
		return 0
	}
	s, px, py, done := 0.0, 0.0, 0.0, false
	p.walk(func(x, y float64, _ float32, single bool) {
		if done {
			return
		}
		if x >= limit {
			// Inside the clipped part the exact curve may sit anywhere in
			// [py, y].
			if !single {
				s += (limit - px) * (y - py)
			}
			done = true
			return
		}
		if !single {
			s += (x - px) * (y - py) / 2
		}
		px, py = x, y
	})
	return s / limit
}

// Curve returns the PRO curve (X = FPR, Y = PRO) for plotting, starting at
// (0, 0) and thinned like PixelROC.ROC (maxPoints <= 0 keeps every bin).
func (p *PRO) Curve(maxPoints int) Curve {
	var c Curve
	if !p.seen {
		return c
	}
	c.add(0, 0, above(float64(p.max)))
	gap := 0.0
	if maxPoints > 0 {
		gap = 1 / float64(maxPoints)
	}
	var lx, ly float64
	var lt float32
	pending := false
	p.walk(func(x, y float64, lo float32, _ bool) {
		lx, ly, lt, pending = x, y, lo, true
		n := len(c.X) - 1
		if x-c.X[n] >= gap || y-c.Y[n] >= gap {
			c.add(x, y, float64(lo))
			pending = false
		}
	})
	if pending {
		c.add(lx, ly, float64(lt))
	}
	return c
}

// regionLabels labels the 8-connected components of the defect pixels of
// mask (imageio.IsDefect) with 1..n through the shared labeller
// internal/label (8-connectivity as MVTec AD's scipy.ndimage.label with a
// 3×3 structure), returning n and the areas (areas[l-1] is the size of
// label l), reusing areas' storage. labels and queue must hold H·W
// entries.
func regionLabels(mask *imageio.Map, labels, queue []int32, areas []int) (int, []int) {
	for i, v := range mask.Pix[:len(labels)] {
		labels[i] = 0
		if imageio.IsDefect(v) {
			labels[i] = -1
		}
	}
	return label.Components(labels, mask.W, mask.H, true, queue, areas)
}
