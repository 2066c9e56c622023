package metrics

import "math"

// Bounded-memory histograms over float32 scores.
//
// Every float32 v (NaN excluded, −0 folded into +0) maps to an
// order-preserving uint32 key: a < b ⇔ key(a) < key(b), a == b ⇔ key(a) ==
// key(b). The histogram bins keys at two levels:
//
//   - coarse: the top 16 key bits (sign, 8 exponent bits, 7 mantissa bits),
//     65,536 bins, always present; a coarse bin spans a relative width of
//     2^-7 of its value;
//   - fine: the first time a coarse bin is touched it gets a block of 256
//     fine bins (the next 8 key bits), so a fine bin spans a relative width
//     of 2^-15 ≈ 3e-5 — 15 of float32's 23 mantissa bits are kept.
//
// Fine blocks are allocated until the budget given at construction runs
// out; coarse bins touched after that stay coarse. Memory is therefore at
// most 1.25 MiB + 4 KiB per block, whatever the number of pixels. Realistic
// anomaly maps span a few octaves (128 coarse bins each), so a few hundred
// blocks — about a megabyte — suffice.
//
// Values within one bin are treated as tied. This is the only source of
// approximation, and each accumulator reports a rigorous bound on it.

const (
	coarseBits  = 16
	fineBits    = 8
	coarseCount = 1 << coarseBits
	fineCount   = 1 << fineBits
	fineShift   = 32 - coarseBits - fineBits
	// DefaultBins is the bin budget used when a constructor gets bins <= 0:
	// 2^20 bins, at most 16 MiB.
	DefaultBins = 1 << 20
)

// OrderKey maps a non-NaN float32 to a uint32 whose unsigned order is the
// float order, so histograms and radix selection can work on keys.
func OrderKey(v float32) uint32 {
	if v == 0 {
		v = 0 // folds −0 into +0 so that equal values share a key
	}
	b := math.Float32bits(v)
	if b&0x80000000 != 0 {
		return ^b
	}
	return b | 0x80000000
}

// FromOrderKey inverts OrderKey.
func FromOrderKey(k uint32) float32 {
	if k&0x80000000 != 0 {
		return math.Float32frombits(k &^ 0x80000000)
	}
	return math.Float32frombits(^k)
}

// hbin holds one bin's mass: neg counts normal pixels, pos accumulates the
// anomalous weight (1 per pixel for AUROC, 1/|region| for PRO). float64 is
// exact for integer counts below 2^53.
type hbin struct{ neg, pos float64 }

type keyHist struct {
	coarse    []hbin
	block     []int32 // coarse bin -> fine block index, -1 if none
	fine      []hbin
	maxBlocks int
}

func newKeyHist(bins int) keyHist {
	if bins <= 0 {
		bins = DefaultBins
	}
	h := keyHist{
		coarse:    make([]hbin, coarseCount),
		block:     make([]int32, coarseCount),
		maxBlocks: max(0, (bins-coarseCount)/fineCount),
	}
	for i := range h.block {
		h.block[i] = -1
	}
	return h
}

// slot returns the bin that key k falls into, allocating a fine block on
// the first touch of its coarse bin while the budget lasts (an amortised
// allocation per coarse bin, never per pixel).
func (h *keyHist) slot(k uint32) *hbin {
	c := k >> (32 - coarseBits)
	b := h.block[c]
	if b < 0 {
		nb := len(h.fine) / fineCount
		if nb >= h.maxBlocks {
			return &h.coarse[c]
		}
		h.fine = append(h.fine, make([]hbin, fineCount)...)
		b = int32(nb)
		h.block[c] = b
	}
	return &h.fine[int(b)*fineCount+int(k>>fineShift&(fineCount-1))]
}

// blocks reports how many fine blocks are in use.
func (h *keyHist) blocks() int { return len(h.fine) / fineCount }

// descend calls f for every non-empty bin in decreasing key order with the
// bin's mass and the smallest float32 the bin can hold (a threshold t such
// that "v >= t" selects this bin and everything above it).
func (h *keyHist) descend(f func(b hbin, lo float32)) {
	for c := coarseCount - 1; c >= 0; c-- {
		base := uint32(c) << (32 - coarseBits)
		cb := h.coarse[c]
		b := h.block[c]
		if cb.neg != 0 || cb.pos != 0 {
			// Coarse mass exists when the fine budget ran out before this bin
			// was first touched, or when a merge brought coarse mass into a
			// refined bin; then the whole coarse bin is one tied bin.
			if b >= 0 {
				for _, fb := range h.fine[int(b)*fineCount : int(b+1)*fineCount] {
					cb.neg += fb.neg
					cb.pos += fb.pos
				}
			}
			f(cb, FromOrderKey(base))
			continue
		}
		if b < 0 {
			continue
		}
		blk := h.fine[int(b)*fineCount : int(b+1)*fineCount]
		for i := fineCount - 1; i >= 0; i-- {
			if fb := blk[i]; fb.neg != 0 || fb.pos != 0 {
				f(fb, FromOrderKey(base|uint32(i)<<fineShift))
			}
		}
	}
}

// merge adds the mass of o into h.
func (h *keyHist) merge(o *keyHist) {
	for c := 0; c < coarseCount; c++ {
		base := uint32(c) << (32 - coarseBits)
		// Coarse mass of o has no finer position; it stays coarse in h
		// (and descend then ties it with the whole coarse bin).
		h.coarse[c].neg += o.coarse[c].neg
		h.coarse[c].pos += o.coarse[c].pos
		b := o.block[c]
		if b < 0 {
			continue
		}
		blk := o.fine[int(b)*fineCount : int(b+1)*fineCount]
		for i, fb := range blk {
			if fb.neg != 0 || fb.pos != 0 {
				s := h.slot(base | uint32(i)<<fineShift)
				s.neg += fb.neg
				s.pos += fb.pos
			}
		}
	}
}
