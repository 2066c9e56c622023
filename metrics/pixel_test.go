package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// pixelPairs builds n random maps with their masks: gen returns a score for
// a pixel given whether it is anomalous.
func pixelPairs(rng *rand.Rand, n, h, w int, gen func(anom bool) float32) (maps, masks []*imageio.Map) {
	for k := 0; k < n; k++ {
		m, g := imageio.NewMap(h, w), imageio.NewMap(h, w)
		// A random rectangle of defect per map (some maps defect-free).
		if k%3 != 0 {
			y0, x0 := rng.IntN(h), rng.IntN(w)
			y1, x1 := min(h, y0+1+rng.IntN(h/2)), min(w, x0+1+rng.IntN(w/2))
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					g.Set(y, x, 1)
				}
			}
		}
		for i := range m.Pix {
			m.Pix[i] = gen(imageio.IsDefect(g.Pix[i]))
		}
		maps, masks = append(maps, m), append(masks, g)
	}
	return maps, masks
}

func flatten(maps, masks []*imageio.Map) ([]float64, []int) {
	var s []float64
	var l []int
	for k, m := range maps {
		for i, v := range m.Pix {
			s = append(s, float64(v))
			if imageio.IsDefect(masks[k].Pix[i]) {
				l = append(l, 1)
			} else {
				l = append(l, 0)
			}
		}
	}
	return s, l
}

func TestPixelROCExactOnDistinctBinValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	// 200 levels k/64: consecutive levels differ by far more than a bin,
	// so every bin holds one value and ties between classes are real.
	maps, masks := pixelPairs(rng, 6, 24, 31, func(anom bool) float32 {
		k := rng.IntN(150)
		if anom {
			k += 50
		}
		return float32(k-20) / 64
	})
	p := NewPixelROC(0)
	for k := range maps {
		if err := p.Add(maps[k], masks[k]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := p.AUROC()
	if err != nil {
		t.Fatal(err)
	}
	s, l := flatten(maps, masks)
	want, _ := AUROC(s, l)
	if !near(got, want, 1e-12) || p.ErrorBound() != 0 {
		// Every bin holds one value: exact ties are exact, the bound is 0.
		t.Fatalf("pixel AUROC %v, exact %v (bound %v)", got, want, p.ErrorBound())
	}
	// The plotted curve at full resolution is the exact ROC curve.
	c, exact := p.ROC(0), ROC(s, l)
	if c.Len() != exact.Len() {
		t.Fatalf("curve has %d points, exact %d", c.Len(), exact.Len())
	}
	for i := range c.X {
		// Thresholds are bins' smallest scores and must reproduce the
		// point under "score >= threshold".
		cc := Confusion(s, l, c.Thresholds[i])
		if !near(c.X[i], exact.X[i], 1e-12) || !near(c.Y[i], exact.Y[i], 1e-12) ||
			!near(cc.FPR(), c.X[i], 1e-12) || !near(cc.TPR(), c.Y[i], 1e-12) {
			t.Fatalf("point %d: (%v,%v,%v) vs (%v,%v,%v)", i, c.X[i], c.Y[i], c.Thresholds[i], exact.X[i], exact.Y[i], exact.Thresholds[i])
		}
	}
	if p.Normal()+p.Anomalous() != len(s) {
		t.Fatal("pixel counts")
	}
}

func TestPixelROCRealisticWithinBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	maps, masks := pixelPairs(rng, 12, 48, 48, func(anom bool) float32 {
		if anom {
			return float32(math.Abs(0.55 + 0.2*rng.NormFloat64()))
		}
		return float32(math.Abs(0.3 + 0.1*rng.NormFloat64()))
	})
	s, l := flatten(maps, masks)
	want, _ := AUROC(s, l)
	for _, bins := range []int{0, 1} { // default budget, and coarse-only
		p := NewPixelROC(bins)
		for k := range maps {
			if err := p.Add(maps[k], masks[k]); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := p.AUROC()
		d, b := math.Abs(got-want), p.ErrorBound()
		if d > b+1e-12 {
			t.Fatalf("bins=%d: |diff| %v exceeds bound %v", bins, d, b)
		}
		if bins == 0 && (d > 1e-4 || b > 1e-3) {
			t.Fatalf("default budget: |diff| %v bound %v", d, b)
		}
		if bins == 1 && p.h.Blocks() != 0 {
			t.Fatal("budget 1 must not refine")
		}
		// Thinned curve: bounded size, monotone, ends at (1,1).
		c := p.ROC(50)
		if c.Len() > 2*50+2 || c.X[c.Len()-1] != 1 || c.Y[c.Len()-1] != 1 {
			t.Fatalf("thinned curve: %d points, end (%v,%v)", c.Len(), c.X[c.Len()-1], c.Y[c.Len()-1])
		}
	}
}

func TestPixelROCMergeAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	maps, masks := pixelPairs(rng, 6, 20, 20, func(anom bool) float32 {
		if anom {
			return float32(rng.Float64() + 0.3)
		}
		return float32(rng.Float64())
	})
	all, a, b := NewPixelROC(0), NewPixelROC(0), NewPixelROC(0)
	for k := range maps {
		_ = all.Add(maps[k], masks[k])
		if k%2 == 0 {
			_ = a.Add(maps[k], masks[k])
		} else {
			_ = b.Add(maps[k], masks[k])
		}
	}
	a.Merge(b)
	x, _ := all.AUROC()
	y, _ := a.AUROC()
	if x != y || a.Normal() != all.Normal() || !slices.Equal(a.ROC(0).X, all.ROC(0).X) {
		t.Fatalf("merge: %v vs %v", y, x)
	}
	p := NewPixelROC(0)
	if _, err := p.AUROC(); err == nil {
		t.Fatal("empty: want error")
	}
	if err := p.Add(imageio.NewMap(2, 3), imageio.NewMap(3, 2)); err == nil {
		t.Fatal("size mismatch: want error")
	}
	bad := imageio.NewMap(2, 2)
	bad.Pix[3] = float32(math.NaN())
	if err := p.Add(bad, imageio.NewMap(2, 2)); err == nil || p.Normal() != 0 {
		t.Fatal("NaN: want error and nothing added")
	}
	if err := p.Add(nil, nil); err == nil {
		t.Fatal("nil: want error")
	}
}

// BenchmarkPixelROCAdd measures accumulation of 1-MP maps.
func BenchmarkPixelROCAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	maps, masks := pixelPairs(rng, 1, 1024, 1024, func(anom bool) float32 { return float32(rng.Float64()) })
	p := NewPixelROC(0)
	b.SetBytes(int64(len(maps[0].Pix)) * 4)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = p.Add(maps[0], masks[0])
	}
}

func TestPixelROCBudgetAndMixedMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	// Scores spread over many octaves touch hundreds of coarse bins; a
	// budget of 10 fine blocks must cap the memory, and the coarse bins
	// that stay unrefined must still give an AUROC within the bound.
	gen := func(anom bool) float32 {
		e := rng.Float64()*20 - 10
		if anom {
			e += 3
		}
		return float32(math.Exp(e))
	}
	maps, masks := pixelPairs(rng, 8, 20, 20, gen)
	s, l := flatten(maps, masks)
	want, _ := AUROC(s, l)
	small, full := NewPixelROC(1<<16+10*256), NewPixelROC(0)
	coarse := NewPixelROC(1)
	for k := range maps {
		_ = small.Add(maps[k], masks[k])
		if k < 4 {
			_ = full.Add(maps[k], masks[k])
		} else {
			_ = coarse.Add(maps[k], masks[k])
		}
	}
	if small.h.Blocks() > 10 {
		t.Fatalf("budget of 10 blocks, using %d", small.h.Blocks())
	}
	// Merging coarse-only mass into refined bins: those coarse bins become
	// single tied bins again.
	full.Merge(coarse)
	for _, p := range []*PixelROC{small, full} {
		got, _ := p.AUROC()
		if d := math.Abs(got - want); d > p.ErrorBound()+1e-12 {
			t.Fatalf("|diff| %v > bound %v", d, p.ErrorBound())
		}
		c := p.ROC(0)
		for i := 1; i < c.Len(); i++ {
			if c.X[i] < c.X[i-1] || c.Y[i] < c.Y[i-1] || c.Thresholds[i] >= c.Thresholds[i-1] {
				t.Fatalf("curve not monotone at %d", i)
			}
			cc := Confusion(s, l, c.Thresholds[i])
			if !near(cc.FPR(), c.X[i], 1e-12) || !near(cc.TPR(), c.Y[i], 1e-12) {
				t.Fatalf("point %d not reproduced by its threshold", i)
			}
		}
	}
}

func TestAddAllMatchesSequential(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	maps, masks := pixelPairs(rng, 9, 16, 16, func(anom bool) float32 {
		if anom {
			return float32(rng.NormFloat64() + 1)
		}
		return float32(rng.NormFloat64())
	})
	seq, par := NewPixelROC(0), NewPixelROC(0)
	pseq, ppar := NewPRO(0), NewPRO(0)
	for k := range maps {
		_ = seq.Add(maps[k], masks[k])
		_ = pseq.Add(maps[k], masks[k])
	}
	if err := par.AddAll(maps, masks); err != nil {
		t.Fatal(err)
	}
	if err := ppar.AddAll(maps, masks); err != nil {
		t.Fatal(err)
	}
	a, _ := seq.AUROC()
	b, _ := par.AUROC()
	c, _ := pseq.AUPRO(0.3)
	d, _ := ppar.AUPRO(0.3)
	if a != b || !near(c, d, 1e-12) || ppar.Regions() != pseq.Regions() {
		t.Fatalf("AUROC %v vs %v, AUPRO %v vs %v", a, b, c, d)
	}
	bad := slices.Clone(maps)
	bad[5] = imageio.NewMap(3, 3)
	q := NewPixelROC(0)
	if err := q.AddAll(bad, masks); err == nil || !strings.Contains(err.Error(), "image 5") || q.Normal() != 0 {
		t.Fatalf("bad pair: %v, %d pixels added", err, q.Normal())
	}
	if err := q.AddAll(maps, masks[:2]); err == nil {
		t.Fatal("length mismatch: want error")
	}
}

// BenchmarkPixelROCAddAll measures parallel accumulation of 8 1-MP maps.
func BenchmarkPixelROCAddAll(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	maps, masks := pixelPairs(rng, 8, 1024, 1024, func(anom bool) float32 { return float32(rng.Float64()) })
	b.SetBytes(8 << 22)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := NewPixelROC(0)
		_ = p.AddAll(maps, masks)
	}
}
