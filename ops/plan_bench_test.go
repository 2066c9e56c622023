package ops

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// BenchmarkResNetPlanVariants times ResNet-18's batch-1 layers through
// Conv2dPlan with alternative paths, interleaved, and reports the median
// and minimum wall time per call of each variant (run with -benchtime=1x).
// Suffixes: W the plain (not transposed) product, U weights packed per
// call instead of once by the plan.
func BenchmarkResNetPlanVariants(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	p1 := Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	type variant struct {
		name  string
		tiles int  // planMinWinoTiles(Packed) while it runs; 0: the defaults
		noT   bool // disableTransposedGemm while it runs
		unpk  bool // disablePackedWeights while it runs
		fn    func()
		times []time.Duration
	}
	var vs []*variant
	for _, l := range []struct {
		name       string
		cin, hw, c int
	}{{"l1", 64, 56, 64}, {"l2", 128, 28, 128}, {"l3", 256, 14, 256}, {"l4", 512, 7, 512}} {
		w := randT(rng, l.c, l.cin, 3, 3)
		x := randT(rng, 1, l.cin, l.hw, l.hw)
		y := randT(rng, 1, l.c, l.hw, l.hw)
		pl := PrepareConv2d(w, nil, p1)
		vs = append(vs, &variant{name: l.name + "_im2col", tiles: 1 << 30, fn: func() { pl.Forward(y, x) }},
			&variant{name: l.name + "_im2colW", tiles: 1 << 30, noT: true, fn: func() { pl.Forward(y, x) }},
			&variant{name: l.name + "_im2colWU", tiles: 1 << 30, noT: true, unpk: true, fn: func() { pl.Forward(y, x) }},
			&variant{name: l.name + "_plan", fn: func() { pl.Forward(y, x) }},
			&variant{name: l.name + "_wino", tiles: 1, fn: func() { pl.Forward(y, x) }},
			&variant{name: l.name + "_winoU", tiles: 1, unpk: true, fn: func() { pl.Forward(y, x) }})
	}
	p2 := Conv2D{StrideH: 2, StrideW: 2}
	p2p := Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	p7 := Conv2D{StrideH: 2, StrideW: 2, PadT: 3, PadL: 3, PadB: 3, PadR: 3, Act: ActReLU}
	for _, l := range []struct {
		name          string
		cin, hw, c, k int
		p             Conv2D
	}{{"stem", 3, 224, 64, 7, p7}, {"ds2", 64, 56, 128, 1, p2}, {"ds4", 256, 14, 512, 1, p2}, {"s2_l2", 64, 56, 128, 3, p2p}, {"s2_l4", 256, 14, 512, 3, p2p}} {
		w := randT(rng, l.c, l.cin, l.k, l.k)
		x := randT(rng, 1, l.cin, l.hw, l.hw)
		oh, ow := l.p.OutSize(l.hw, l.hw, l.k, l.k)
		y := randT(rng, 1, l.c, oh, ow)
		pl := PrepareConv2d(w, nil, l.p)
		vs = append(vs, &variant{name: l.name, tiles: 128, fn: func() { pl.Forward(y, x) }},
			&variant{name: l.name + "W", tiles: 128, noT: true, fn: func() { pl.Forward(y, x) }},
			&variant{name: l.name + "WU", tiles: 128, noT: true, unpk: true, fn: func() { pl.Forward(y, x) }})
	}
	saved, savedP := planMinWinoTiles, planMinWinoTilesPacked
	defer func() {
		planMinWinoTiles, planMinWinoTilesPacked, disableTransposedGemm, disablePackedWeights = saved, savedP, false, false
	}()
	for round := 0; round < 30*b.N; round++ {
		for _, v := range vs {
			planMinWinoTiles, planMinWinoTilesPacked = saved, savedP
			if v.tiles != 0 {
				planMinWinoTiles, planMinWinoTilesPacked = v.tiles, v.tiles
			}
			disableTransposedGemm, disablePackedWeights = v.noT, v.unpk
			v.fn()
			t0 := time.Now()
			for i := 0; i < 5; i++ {
				v.fn()
			}
			v.times = append(v.times, time.Since(t0)/5)
		}
	}
	for _, v := range vs {
		sort.Slice(v.times, func(i, j int) bool { return v.times[i] < v.times[j] })
		b.Logf("%-12s median %.3f ms  min %.3f ms", v.name, ms(v.times[len(v.times)/2]), ms(v.times[0]))
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
