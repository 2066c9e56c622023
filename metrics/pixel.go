package metrics

import (
	"errors"
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/keyhist"
)

// DefaultBins is the bin budget used when a constructor gets bins <= 0:
// 2^18 bins of 24 bytes, at most 6 MiB (see internal/keyhist for the
// speed/resolution trade-off).
const DefaultBins = keyhist.DefaultBins

// PixelROC accumulates pixel-level ROC statistics over many (anomaly map,
// ground-truth mask) pairs in bounded memory.
//
// Method: each pixel's float32 score goes to a histogram of its
// order-preserving 32-bit key (internal/keyhist) whose bins adapt to the
// observed score range: they start one float32 value wide and are merged
// pairwise only when the range or the bin budget requires it, so maps with
// a tiny spread next to their offset (scores in [1, 1.001], or 1000 ± 0.03)
// keep one bin per distinct value, and a map spanning many octaves keeps
// about 15 mantissa bits. Per bin it keeps the normal and anomalous pixel
// counts and the smallest and largest score. The AUROC is the Mann-Whitney
// statistic over bins, with pixels in the same bin counted as ties (1/2 per
// pair).
//
// Memory: 24 bytes per bin, at most the bin budget (DefaultBins = 2^18 →
// 6 MiB); independent of the number of pixels.
//
// Error: a bin holding one distinct value is an exact tie, handled exactly.
// Only bins mixing values with both normal and anomalous pixels are
// uncertain, so |AUROC − exact| <= Σ_{mixed b} n0_b·n1_b / (2·n0·n1),
// which ErrorBound reports (0 for 8-bit or otherwise quantised maps whose
// levels fall in distinct bins).
type PixelROC struct {
	h          *keyhist.Hist
	nNeg, nPos float64
	max        float32
	seen       bool
}

// NewPixelROC returns an empty accumulator with a budget of bins histogram
// bins (bins <= 0 means DefaultBins; the 65,536 coarse bins are always
// present, so budgets below 65,792 give coarse resolution only: bins at
// least 256 float32 values wide).
func NewPixelROC(bins int) *PixelROC {
	return &PixelROC{h: keyhist.New(bins)}
}

// checkPair validates one map/mask pair and returns the map's maximum.
func checkPair(m, mask *imageio.Map) (float32, error) {
	if m == nil || mask == nil {
		return 0, errors.New("metrics: nil anomaly map or mask")
	}
	if m.H != mask.H || m.W != mask.W {
		return 0, fmt.Errorf("metrics: anomaly map is %dx%d but mask is %dx%d", m.W, m.H, mask.W, mask.H)
	}
	if len(m.Pix) != m.H*m.W || len(mask.Pix) != mask.H*mask.W {
		return 0, fmt.Errorf("metrics: map or mask pixel count does not match %dx%d", m.W, m.H)
	}
	mx := float32(-math.MaxFloat32)
	for i, v := range m.Pix {
		if !(v >= -math.MaxFloat32 && v <= math.MaxFloat32) { // NaN or ±Inf
			return 0, fmt.Errorf("metrics: anomaly map pixel (y=%d, x=%d) is %v, want a finite number", i/m.W, i%m.W, v)
		}
		mx = max(mx, v)
	}
	return mx, nil
}

// noteMax raises the running maximum to mx when there is one (from a
// non-empty map, or from a merged accumulator that saw one).
func noteMax(cur *float32, seen *bool, mx float32, has bool) {
	if has && (!*seen || mx > *cur) {
		*cur, *seen = mx, true
	}
}

// Add accumulates one anomaly map and its ground-truth mask (same size;
// imageio.IsDefect, non-zero, marks anomalous pixels). On error nothing is added.
func (p *PixelROC) Add(m, mask *imageio.Map) error {
	mx, err := checkPair(m, mask)
	if err != nil {
		return err
	}
	noteMax(&p.max, &p.seen, mx, len(m.Pix) > 0)
	mp := mask.Pix[:len(m.Pix)]
	pos := 0
	for i, v := range m.Pix {
		if imageio.IsDefect(mp[i]) {
			p.h.Add(keyhist.Key(v), 0, 1)
			pos++
		} else {
			p.h.Add(keyhist.Key(v), 1, 0)
		}
	}
	p.nPos += float64(pos)
	p.nNeg += float64(len(m.Pix) - pos)
	return nil
}

// Merge adds everything accumulated by o (for example by another
// goroutine) into p.
func (p *PixelROC) Merge(o *PixelROC) {
	p.h.Merge(o.h)
	p.nNeg += o.nNeg
	p.nPos += o.nPos
	noteMax(&p.max, &p.seen, o.max, o.seen)
}

// Normal returns the number of normal pixels seen.
func (p *PixelROC) Normal() int { return int(p.nNeg) }

// Anomalous returns the number of anomalous pixels seen.
func (p *PixelROC) Anomalous() int { return int(p.nPos) }

// AUROC returns the pixel-level AUROC (ties within a bin count 1/2); it
// fails when either class has no pixels.
func (p *PixelROC) AUROC() (float64, error) {
	if p.nNeg == 0 || p.nPos == 0 {
		return 0, errors.New("metrics: pixel AUROC needs both normal and anomalous pixels")
	}
	area2, tp := 0.0, 0.0
	p.h.Descend(func(b keyhist.Bin) {
		area2 += b.Neg * (2*tp + b.Pos)
		tp += b.Pos
	})
	return area2 / 2 / (p.nNeg * p.nPos), nil
}

// ErrorBound returns Σ_b n0_b·n1_b / (2·n0·n1) over the bins that mix
// distinct values: the largest possible difference between AUROC and the
// exact pixel AUROC (0 means exact).
func (p *PixelROC) ErrorBound() float64 {
	if p.nNeg == 0 || p.nPos == 0 {
		return 0
	}
	s := 0.0
	p.h.Descend(func(b keyhist.Bin) {
		if !b.Single() {
			s += b.Neg * b.Pos
		}
	})
	return s / 2 / (p.nNeg * p.nPos)
}

// ROC returns the pixel ROC curve for plotting, thinned so that consecutive
// kept points differ by at least 1/maxPoints in FPR or TPR (maxPoints <= 0
// keeps every bin); the first point (0,0) and the last (1,1) are always
// kept. Thresholds are the smallest score of each bin: "score >= threshold"
// reproduces the point exactly.
func (p *PixelROC) ROC(maxPoints int) Curve {
	var c Curve
	if !p.seen {
		return c
	}
	c.add(0, 0, above(float64(p.max)))
	gap := 0.0
	if maxPoints > 0 {
		gap = 1 / float64(maxPoints)
	}
	tp, fp := 0.0, 0.0
	var lastT float32
	pending := false
	p.h.Descend(func(b keyhist.Bin) {
		lo := b.Min()
		tp += b.Pos
		fp += b.Neg
		x, y := safeDiv(fp, p.nNeg), safeDiv(tp, p.nPos)
		lastT, pending = lo, true
		n := len(c.X) - 1
		if x-c.X[n] >= gap || y-c.Y[n] >= gap {
			c.add(x, y, float64(lo))
			pending = false
		}
	})
	if pending {
		c.add(safeDiv(fp, p.nNeg), safeDiv(tp, p.nPos), float64(lastT))
	}
	return c
}

// safeDiv is a/b with 0/0 defined as 0.
func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
