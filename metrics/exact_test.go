package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// blobPairs builds n maps with blob masks; gen gives a pixel's score.
func blobPairs(rng *rand.Rand, n, h, w int, gen func(anom bool) float32) (maps, masks []*imageio.Map) {
	for range n {
		g := randBlobMask(rng, h, w)
		m := imageio.NewMap(h, w)
		for i := range m.Pix {
			m.Pix[i] = gen(g.Pix[i] == 1)
		}
		maps, masks = append(maps, m), append(masks, g)
	}
	return maps, masks
}

func accumulate(t *testing.T, bins int, maps, masks []*imageio.Map) (*PixelROC, *PRO) {
	t.Helper()
	roc, pro := NewPixelROC(bins), NewPRO(bins)
	for k := range maps {
		if err := roc.Add(maps[k], masks[k]); err != nil {
			t.Fatal(err)
		}
		if err := pro.Add(maps[k], masks[k]); err != nil {
			t.Fatal(err)
		}
	}
	return roc, pro
}

// Maps whose spread is tiny next to their offset used to share a handful
// of fixed-width bins; the range-adaptive bins keep every value apart.
func TestPixelMetricsExactOnTinySpreadAndLargeOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	gens := map[string]func(anom bool) float32{
		"[1, 1.001]": func(anom bool) float32 {
			u := rng.Float64()
			if anom {
				u = math.Sqrt(u) // skewed up
			}
			return float32(1 + 0.001*u)
		},
		"1000 ± 0.03": func(anom bool) float32 {
			z := rng.NormFloat64()
			if anom {
				z += 1
			}
			return float32(1000 + 0.01*z)
		},
	}
	for name, gen := range gens {
		maps, masks := blobPairs(rng, 4, 12, 13, gen)
		roc, pro := accumulate(t, 0, maps, masks)
		s, l := flatten(maps, masks)
		want, _ := AUROC(s, l)
		got, err := roc.AUROC()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-6 || roc.ErrorBound() != 0 {
			t.Fatalf("%s: pixel AUROC %v, exact %v, bound %v", name, got, want, roc.ErrorBound())
		}
		for _, limit := range []float64{0.3, 1} {
			gotP, err := pro.AUPRO(limit)
			if err != nil {
				t.Fatal(err)
			}
			wantP := bruteAUPRO(maps, masks, limit)
			if math.Abs(gotP-wantP) > 1e-6 || pro.ErrorBound(limit) != 0 {
				t.Fatalf("%s limit %v: AUPRO %v, exact %v, bound %v", name, limit, gotP, wantP, pro.ErrorBound(limit))
			}
		}
	}
}

// 8-bit maps: every level is its own bin, so the bound is 0 and true (the
// old bound counted every tied bin holding both classes).
func TestErrorBoundOnQuantisedMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	maps, masks := blobPairs(rng, 5, 16, 16, func(anom bool) float32 {
		v := 0.3 + 0.15*rng.NormFloat64()
		if anom {
			v += 0.25
		}
		return float32(math.Round(math.Max(0, math.Min(1, v))*255)) / 255
	})
	roc, pro := accumulate(t, 0, maps, masks)
	s, l := flatten(maps, masks)
	want, _ := AUROC(s, l)
	got, _ := roc.AUROC()
	if roc.ErrorBound() != 0 || math.Abs(got-want) > 1e-12 {
		t.Fatalf("8-bit: AUROC %v exact %v bound %v", got, want, roc.ErrorBound())
	}
	gotP, _ := pro.AUPRO(0.3)
	if wantP := bruteAUPRO(maps, masks, 0.3); pro.ErrorBound(0.3) != 0 || math.Abs(gotP-wantP) > 1e-12 {
		t.Fatalf("8-bit: AUPRO %v exact %v bound %v", gotP, wantP, pro.ErrorBound(0.3))
	}
}

// With budgets small enough to force mixed bins, the reported bounds must
// still cover the true error, and must be what makes them cover it (some
// errors are non-zero).
func TestErrorBoundsCoverActualError(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	nonzero := 0
	for rep := range 12 {
		spread := math.Pow(10, float64(rng.IntN(5)-3))
		gen := func(anom bool) float32 {
			v := rng.NormFloat64()
			if anom {
				v += 1
			}
			return float32(1 + spread*v)
		}
		maps, masks := blobPairs(rng, 3, 10, 12, gen)
		s, l := flatten(maps, masks)
		want, _ := AUROC(s, l)
		for _, bins := range []int{1, 1<<16 + 256, 0} {
			roc, pro := accumulate(t, bins, maps, masks)
			got, _ := roc.AUROC()
			if d, b := math.Abs(got-want), roc.ErrorBound(); d > b+1e-12 {
				t.Fatalf("rep %d bins %d: AUROC error %v > bound %v", rep, bins, d, b)
			} else if d > 1e-12 {
				nonzero++
			}
			for _, limit := range []float64{0.05, 0.3} {
				gotP, _ := pro.AUPRO(limit)
				wantP := bruteAUPRO(maps, masks, limit)
				if d, b := math.Abs(gotP-wantP), pro.ErrorBound(limit); d > b+1e-12 {
					t.Fatalf("rep %d bins %d limit %v: AUPRO error %v > bound %v", rep, bins, limit, d, b)
				} else if d > 1e-12 {
					nonzero++
				}
			}
		}
	}
	if nonzero == 0 {
		t.Fatal("no case had a binning error: the test does not exercise the bounds")
	}
}
