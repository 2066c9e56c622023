package keyhist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestKeyOrderRoundTrip(t *testing.T) {
	vals := []float32{float32(math.Inf(-1)), -math.MaxFloat32, -3, -1, -1e-30, -math.SmallestNonzeroFloat32,
		0, math.SmallestNonzeroFloat32, 1e-30, 0.5, 1, 3, math.MaxFloat32, float32(math.Inf(1))}
	for i, v := range vals {
		if FromKey(Key(v)) != v {
			t.Fatalf("round trip of %v gives %v", v, FromKey(Key(v)))
		}
		if i > 0 && Key(vals[i-1]) >= Key(v) {
			t.Fatalf("key order broken between %v and %v", vals[i-1], v)
		}
	}
	if Key(float32(math.Copysign(0, -1))) != Key(0) {
		t.Fatal("-0 and +0 must share a key")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 10000 {
		v := math.Float32frombits(rng.Uint32())
		if v != v {
			continue
		}
		if FromKey(Key(v)) != v {
			t.Fatalf("FromKey(Key(%v)) = %v", v, FromKey(Key(v)))
		}
	}
}

// FineWidth (for the tests) returns the width in keys of a fine bin (1 means every float32
// value has its own bin); 0 before the first Add.
func (h *Hist) FineWidth() uint32 {
	if h.coarse == nil {
		return 0
	}
	return 1 << (h.shift - fineBits)
}

// check compares the histogram with the exact multiset of added keys: bins
// ascend without overlap, each bin's [Lo, Hi] holds exactly the added keys
// in it (so Lo/Hi are the true extremes), and the masses match.
func check(t *testing.T, h *Hist, keys []uint32, neg []float64) {
	t.Helper()
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(int64(keys[a]) - int64(keys[b])) })
	j := 0
	var prevHi uint32
	first := true
	h.Ascend(func(b Bin) bool {
		if !first && b.Lo <= prevHi {
			t.Fatalf("bins overlap or are out of order: Lo %d after Hi %d", b.Lo, prevHi)
		}
		first, prevHi = false, b.Hi
		if j >= len(idx) || keys[idx[j]] != b.Lo {
			t.Fatalf("bin Lo %d is not the next added key", b.Lo)
		}
		sum := 0.0
		var hi uint32
		for j < len(idx) && keys[idx[j]] <= b.Hi {
			sum += neg[idx[j]]
			hi = keys[idx[j]]
			j++
		}
		if hi != b.Hi || sum != b.Neg {
			t.Fatalf("bin [%d,%d] mass %v, want Hi %d mass %v", b.Lo, b.Hi, b.Neg, hi, sum)
		}
		return true
	})
	if j != len(idx) {
		t.Fatalf("%d of %d keys not in any bin", len(idx)-j, len(idx))
	}
}

func TestAgainstExactMultiset(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gens := map[string]func() float32{
		"tiny spread":   func() float32 { return 1 + 0.001*rng.Float32() },
		"large offset":  func() float32 { return 1000 + 0.03*float32(rng.NormFloat64()) },
		"8-bit":         func() float32 { return float32(rng.IntN(256)) / 255 },
		"octaves":       func() float32 { return float32(math.Exp(rng.NormFloat64() * 3)) },
		"signed, zeros": func() float32 { return float32(rng.IntN(3)-1) * float32(rng.NormFloat64()) },
		"extreme":       func() float32 { return math.Float32frombits(rng.Uint32()&^0x7f800000 | uint32(rng.IntN(255))<<23) },
	}
	for name, gen := range gens {
		for _, bins := range []int{0, coarseCount + 3*fineCount, 1000} {
			h := New(bins)
			var keys []uint32
			var neg []float64
			for range 5000 {
				k := Key(gen())
				w := float64(1 + rng.IntN(3))
				h.Add(k, w, 0)
				keys, neg = append(keys, k), append(neg, w)
			}
			check(t, h, keys, neg)
			if h.Blocks() > h.maxBlocks {
				t.Fatalf("%s: %d blocks over the budget of %d", name, h.Blocks(), h.maxBlocks)
			}
		}
	}
}

func TestFineResolutionFollowsRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name string
		gen  func() float32
	}{
		{"[1, 1.001]", func() float32 { return 1 + 0.001*rng.Float32() }},
		{"1000 ± 0.03", func() float32 { return 1000 + 0.03*(2*rng.Float32()-1) }},
	} {
		h := New(0)
		distinct := map[float32]bool{}
		for range 20000 {
			v := c.gen()
			distinct[v] = true
			h.Add(Key(v), 1, 0)
		}
		if h.FineWidth() != 1 {
			t.Fatalf("%s: fine width %d keys, want 1 (one value per bin)", c.name, h.FineWidth())
		}
		n := 0
		h.Ascend(func(b Bin) bool {
			if !b.Single() {
				t.Fatalf("%s: bin [%v, %v] mixes values", c.name, b.Min(), b.Max())
			}
			n++
			return true
		})
		if n != len(distinct) {
			t.Fatalf("%s: %d bins for %d distinct values", c.name, n, len(distinct))
		}
	}
}

func TestMergeEqualsSingleHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	same := 0
	defer func() {
		if same == 0 {
			t.Error("no trial ended on equal grids: the bin comparison never ran")
		}
	}()
	for trial := range 9 {
		bins := []int{1 << 20, coarseCount + 8*fineCount, 1000}[trial%3]
		all := New(bins)
		parts := []*Hist{New(bins), New(bins), New(bins)}
		var keys []uint32
		var neg []float64
		for p, part := range parts {
			scale := math.Pow(10, float64(rng.IntN(60)-30))
			for range 1500 {
				v := float32(scale * (1 + float64(p) + rng.NormFloat64()))
				k := Key(v)
				part.Add(k, 1, 0)
				all.Add(k, 1, 0)
				keys, neg = append(keys, k), append(neg, 1)
			}
		}
		merged := New(bins)
		for _, p := range parts {
			merged.Merge(p)
		}
		check(t, merged, keys, neg)
		if bins == 1<<20 && merged.FineWidth() == all.FineWidth() {
			// With a budget that leaves no bin coarse, merging ends on the
			// same bins as adding everything to one histogram.
			var a, m []Bin
			all.Ascend(func(b Bin) bool { a = append(a, b); return true })
			merged.Ascend(func(b Bin) bool { m = append(m, b); return true })
			if !slices.Equal(a, m) {
				t.Fatalf("trial %d: merged bins differ from one histogram", trial)
			}
			same++
		}
	}
}
