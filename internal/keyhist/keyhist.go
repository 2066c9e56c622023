// Package keyhist is the bounded-memory histogram behind the pixel metrics
// (metrics.PixelROC, PRO, SPRO) and the streaming pixel calibration
// (decision.Calibrator). It bins float32 values by their order-preserving
// 32-bit key on a grid that adapts to the observed range, and records per
// bin the smallest and largest key it holds, so callers know which bins
// hold a single distinct value (exact) and which mix values (approximate).
//
// # Design
//
// Every float32 v (NaN excluded, −0 folded into +0) maps to a key with
// a < b ⇔ Key(a) < Key(b). Bins are aligned power-of-two ranges of keys at
// two levels: a window of C = 65,536 coarse bins, each 2^s keys wide, and
// for each touched coarse bin (while the budget lasts) a block of 256 fine
// bins, each 2^(s−8) keys wide. The shift s starts at 8 — fine bins of one
// key, i.e. every float32 value its own bin — and the window starts centred
// on the first key.
//
// Two events re-bin (coarsen) the grid, always by merging whole aligned
// bins, which is exact (mass is only ever pooled, never split or moved
// across a bin edge):
//
//   - the observed key range [lo, hi] no longer fits in half the window
//     (or leaves it): s grows until it fits, and the window is re-centred
//     on it. The half rule amortises re-binning: between two re-binnings
//     at the same s the range grows by at least a quarter window;
//   - a new fine block needed with the block budget spent: s grows by one
//     (neighbouring coarse bins and their blocks merge pairwise).
//
// From s = 16 on the window spans all 2^32 keys and only the budget raises
// s further, up to 24 (fine bins of 2^16 keys, 7 mantissa bits); only if
// the budget is still spent there do new coarse bins stay unrefined. Both
// rules are monotone in the data, so the final s — and with it every bin —
// does not depend on the order of Adds and Merges. The resolution is
// uniform over the range and the finest the budget allows: scores confined
// to [1, 1.001] (8,389 float32 values) or 1000 ± 0.03 (984 values) are
// resolved exactly; with the default budget, scores filling 4 octaves get
// 15 mantissa bits, one more per halving of the range. There are at most a
// few dozen re-binnings in a histogram's life, each O(C + 256·blocks).
//
// Memory: 24 bytes per bin; 65,536 coarse bins plus at most
// (budget − 65,536)/256 blocks of 256 — DefaultBins (2^18) caps it at
// 6 MiB, independent of the number of values added.
package keyhist

import "math"

const (
	coarseCount = 1 << 16
	fineBits    = 8
	fineCount   = 1 << fineBits
	minShift    = fineBits // fine bins of one key
	fullShift   = 16       // from here on the window spans all keys
	maxShift    = 24       // fine bins of 2^16 keys (7 mantissa bits)
	// DefaultBins is the bin budget New uses for bins <= 0: 2^18 bins,
	// 6 MiB at most. Larger budgets buy resolution on wide ranges at the
	// price of a larger working set: with 2^20 bins, accumulating 1-MP
	// maps of uniform scores ran 4-7x slower (cache misses), for about two
	// more mantissa bits.
	DefaultBins = 1 << 18
)

// Key maps a non-NaN float32 to a uint32 whose unsigned order is the float
// order.
func Key(v float32) uint32 {
	if v == 0 {
		v = 0 // folds −0 into +0 so that equal values share a key
	}
	b := math.Float32bits(v)
	if b&0x80000000 != 0 {
		return ^b
	}
	return b | 0x80000000
}

// FromKey inverts Key.
func FromKey(k uint32) float32 {
	if k&0x80000000 != 0 {
		return math.Float32frombits(k &^ 0x80000000)
	}
	return math.Float32frombits(^k)
}

// Bin is one histogram bin: Neg and Pos are the two masses callers
// accumulate (normal count and anomalous weight for the metrics, a plain
// count in Neg for quantiles); Lo and Hi are the smallest and largest key
// added to it.
type Bin struct {
	Neg, Pos float64
	Lo, Hi   uint32
}

// Empty reports whether nothing was added to the bin.
func (b Bin) Empty() bool { return b.Lo > b.Hi }

// Single reports whether the bin holds one distinct value: its values are
// exactly tied, so treating them as tied is exact.
func (b Bin) Single() bool { return b.Lo == b.Hi }

// Min and Max return the smallest and largest value in a non-empty bin.
func (b Bin) Min() float32 { return FromKey(b.Lo) }
func (b Bin) Max() float32 { return FromKey(b.Hi) }

func (b *Bin) add(o *Bin) {
	b.Neg += o.Neg
	b.Pos += o.Pos
	b.Lo = min(b.Lo, o.Lo)
	b.Hi = max(b.Hi, o.Hi)
}

var emptyBin = Bin{Lo: math.MaxUint32}

var emptyBlock = func() (b [fineCount]Bin) {
	for i := range b {
		b[i] = emptyBin
	}
	return b
}()

// Hist is the adaptive key histogram. The zero value is not usable; call
// New.
type Hist struct {
	shift     uint   // coarse bins span 2^shift keys, fine bins 2^(shift−8)
	base      uint32 // coarse index (key>>shift) of the window's first bin
	lo, hi    uint32 // smallest and largest key added (lo > hi: none yet)
	coarse    []Bin  // nil until the first Add
	block     []int32
	fine      []Bin
	maxBlocks int
}

// New returns an empty histogram with a budget of bins bins (bins <= 0
// means DefaultBins; budgets below 65,792 allow no fine blocks).
func New(bins int) *Hist {
	if bins <= 0 {
		bins = DefaultBins
	}
	return &Hist{maxBlocks: max(0, (bins-coarseCount)/fineCount), lo: math.MaxUint32}
}

// Budget returns the bin budget, for building a histogram with the same
// budget (parallel accumulation).
func (h *Hist) Budget() int { return coarseCount + h.maxBlocks*fineCount }

// Blocks reports how many fine blocks are in use.
func (h *Hist) Blocks() int { return len(h.fine) / fineCount }

// Add adds the masses neg and pos to the bin of key k.
func (h *Hist) Add(k uint32, neg, pos float64) {
	if k < h.lo || k > h.hi {
		h.extend(k, k, minShift)
	}
	b := h.slot(k)
	b.Neg += neg
	b.Pos += pos
	if k < b.Lo {
		b.Lo = k
	}
	if k > b.Hi {
		b.Hi = k
	}
}

// halfShift returns the smallest shift >= s at which the key range
// [lo, hi] fits in half the window.
func halfShift(s uint, lo, hi uint32) uint {
	for s < fullShift && (hi>>s)-(lo>>s)+1 > coarseCount/2 {
		s++
	}
	return s
}

// extend widens the observed key range to [lo, hi] and re-bins at a shift
// of at least minS when the range no longer fits half the window or leaves
// the window. The shift is thus always the smallest that satisfies both
// the half-window rule for the final range and the block budget (both
// monotone in the data), whatever the order of Adds and Merges — which
// makes the bins independent of that order.
func (h *Hist) extend(lo, hi uint32, minS uint) {
	h.lo, h.hi = min(h.lo, lo), max(h.hi, hi)
	s := minS
	if h.coarse != nil {
		s = max(s, h.shift)
	}
	s = halfShift(s, h.lo, h.hi)
	if h.coarse == nil || s != h.shift || (h.lo>>s)-h.base >= coarseCount || (h.hi>>s)-h.base >= coarseCount {
		h.rebin(s)
	}
}

// slot returns the bin of key k (inside the window), re-binning first when
// a fine block is needed beyond the budget.
func (h *Hist) slot(k uint32) *Bin {
	c := (k >> h.shift) - h.base
	b := h.block[c]
	if b < 0 {
		if h.Blocks() >= h.maxBlocks {
			if h.maxBlocks == 0 || h.shift == maxShift {
				return &h.coarse[c]
			}
			h.rebin(h.shift + 1)
			return h.slot(k)
		}
		b = h.newBlock(c)
	}
	return &h.fine[int(b)*fineCount+int(k>>(h.shift-fineBits)&(fineCount-1))]
}

func (h *Hist) newBlock(c uint32) int32 {
	b := int32(h.Blocks())
	h.fine = append(h.fine, emptyBlock[:]...)
	h.block[c] = b
	return b
}

// rebin rebuilds the grid at shift s (>= the current one, raised further if
// the half-window rule needs it), centred on the observed key range,
// pooling every old bin into the new bin containing it.
func (h *Hist) rebin(s uint) {
	s = halfShift(s, h.lo, h.hi)
	old := *h
	h.shift = s
	h.base = 0
	if s < fullShift {
		mid := (int64(h.lo>>s) + int64(h.hi>>s)) / 2
		top := int64(1)<<(32-s) - coarseCount
		h.base = uint32(min(top, max(0, mid-coarseCount/2)))
	}
	h.coarse = make([]Bin, coarseCount)
	for i := range h.coarse {
		h.coarse[i] = emptyBin
	}
	h.block = make([]int32, coarseCount)
	for i := range h.block {
		h.block[i] = -1
	}
	h.fine = make([]Bin, 0, len(old.fine))
	if old.coarse == nil {
		return
	}
	for c := range old.coarse {
		// Past fullShift the top coarse indices map to no key (start
		// wraps); those bins are always empty and never read.
		start := (old.base + uint32(c)) << old.shift
		if cb := &old.coarse[c]; !cb.Empty() {
			h.coarse[(start>>s)-h.base].add(cb)
		}
		if b := old.block[c]; b >= 0 {
			for i := range fineCount {
				fb := &old.fine[int(b)*fineCount+i]
				if fb.Empty() {
					continue
				}
				// Every old fine bin nests in one new fine bin; the new grid
				// needs no more blocks than the old one, so no budget check.
				k := start | uint32(i)<<(old.shift-fineBits)
				nc := (k >> s) - h.base
				nb := h.block[nc]
				if nb < 0 {
					nb = h.newBlock(nc)
				}
				h.fine[int(nb)*fineCount+int(k>>(s-fineBits)&(fineCount-1))].add(fb)
			}
		}
	}
}

// each visits the non-empty bins in increasing key order (or decreasing
// with desc) until f returns false; f must neither keep nor modify b. A coarse bin holding mass of its own
// (added after the budget ran out, or pooled by a merge) is visited as one
// bin together with its fine block, so bins never overlap.
func (h *Hist) each(desc bool, f func(b *Bin) bool) {
	if h.coarse == nil {
		return
	}
	var pooled Bin // one variable for all pooled bins: f must not keep b
	for j := range coarseCount {
		c := j
		if desc {
			c = coarseCount - 1 - j
		}
		cb := &h.coarse[c]
		b := h.block[c]
		if b < 0 {
			if !cb.Empty() && !f(cb) {
				return
			}
			continue
		}
		blk := h.fine[int(b)*fineCount : int(b+1)*fineCount]
		if !cb.Empty() {
			pooled = *cb
			for i := range blk {
				if !blk[i].Empty() {
					pooled.add(&blk[i])
				}
			}
			if !f(&pooled) {
				return
			}
			continue
		}
		for i := range fineCount {
			if desc {
				i = fineCount - 1 - i
			}
			if fb := &blk[i]; !fb.Empty() && !f(fb) {
				return
			}
		}
	}
}

// Descend calls f for every non-empty bin in decreasing key order (f gets
// a copy).
func (h *Hist) Descend(f func(b Bin)) { h.each(true, func(b *Bin) bool { f(*b); return true }) }

// Ascend calls f for every non-empty bin in increasing key order until f
// returns false.
func (h *Hist) Ascend(f func(b Bin) bool) { h.each(false, func(b *Bin) bool { return f(*b) }) }

// Merge adds everything in o to h. With a budget that leaves no bin
// unrefined, the result has exactly the bins of one histogram fed all the
// values.
func (h *Hist) Merge(o *Hist) {
	if o.coarse == nil || o.lo > o.hi {
		return
	}
	h.extend(o.lo, o.hi, o.shift)
	o.each(false, func(b *Bin) bool {
		h.put(b)
		return true
	})
}

// put pools bin o (from a grid at a shift <= h.shift, inside h's window)
// into h. A bin spanning more than one fine bin of h (o's own coarse mass)
// goes to h's coarse bin.
func (h *Hist) put(o *Bin) {
	if o.Lo>>(h.shift-fineBits) == o.Hi>>(h.shift-fineBits) {
		h.slot(o.Lo).add(o)
		return
	}
	h.coarse[(o.Lo>>h.shift)-h.base].add(o)
}
