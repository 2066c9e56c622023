package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func mapOf(h, w int, v ...float32) *imageio.Map {
	m := imageio.NewMap(h, w)
	copy(m.Pix, v)
	return m
}

func TestAUPROHandExample(t *testing.T) {
	// Region A (2 px, top left) and region B (2x2, right); 12 normal pixels.
	mask := mapOf(3, 6,
		1, 1, 0, 0, 0, 0,
		0, 0, 0, 0, 1, 1,
		0, 0, 0, 0, 1, 1)
	m := mapOf(3, 6,
		0.9, 0.5, 0, 0, 0, 0,
		0, 0.7, 0, 0, 0.9, 0.7,
		0.5, 0, 0, 0, 0.5, 0.1)
	p := NewPRO(0)
	if err := p.Add(m, mask); err != nil {
		t.Fatal(err)
	}
	if p.Regions() != 2 || p.Normal() != 12 {
		t.Fatalf("regions %d normal %d", p.Regions(), p.Normal())
	}
	// Curve by hand: t=0.9 → (0, (1/2+1/4)/2); 0.7 → (1/12, (1/2+2/4)/2);
	// 0.5 → (2/12, (1+3/4)/2); 0.1 → (2/12, 1); 0 → (1, 1).
	c := p.Curve(0)
	wx := []float64{0, 0, 1.0 / 12, 2.0 / 12, 2.0 / 12, 1}
	wy := []float64{0, 0.375, 0.5, 0.875, 1, 1}
	if c.Len() != len(wx) {
		t.Fatalf("curve %+v", c)
	}
	for i := range wx {
		if !near(c.X[i], wx[i], 1e-15) || !near(c.Y[i], wy[i], 1e-15) {
			t.Fatalf("point %d = (%v,%v), want (%v,%v)", i, c.X[i], c.Y[i], wx[i], wy[i])
		}
	}
	// Area to 0.3: (1/12)(0.375+0.5)/2 + (1/12)(0.5+0.875)/2 + (0.3−1/6)·1
	// = 0.2270833…; divided by 0.3 → 109/144.
	a, err := p.AUPRO(0.3)
	if err != nil || !near(a, 109.0/144, 1e-12) {
		t.Fatalf("AUPRO = %v (%v), want %v", a, err, 109.0/144)
	}
	// Limit 1: whole curve; area = 0.0729167 + 0.1145833 + (5/6)·1.
	a, _ = p.AUPRO(1)
	if want := (0.875+1.375)/24 + 5.0/6; !near(a, want, 1e-12) {
		t.Fatalf("AUPRO(1) = %v, want %v", a, want)
	}
}

func TestRegionLabelsConnectivity(t *testing.T) {
	// Diagonal neighbours join under 8-connectivity: two regions, not four.
	mask := mapOf(4, 4,
		1, 0, 0, 1,
		0, 1, 0, 0,
		0, 0, 0, 0,
		1, 1, 0, 0)
	labels, queue := make([]int32, 16), make([]int32, 16)
	n, areas := regionLabels(mask, labels, queue, nil)
	if n != 3 || areas[0] != 2 || areas[1] != 1 || areas[2] != 2 {
		t.Fatalf("n=%d areas=%v labels=%v", n, areas, labels)
	}
	if labels[0] != 1 || labels[5] != 1 || labels[3] != 2 || labels[12] != 3 || labels[15] != 0 {
		t.Fatalf("labels %v", labels)
	}
}

// ufRegions labels 8-connected mask components with union-find (an
// algorithm independent of internal/label) and returns each pixel's region root
// (-1 for background).
func ufRegions(mask *imageio.Map) []int {
	w, h := mask.W, mask.H
	parent := make([]int, w*h)
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			i = parent[i]
		}
		return i
	}
	for i := range parent {
		parent[i] = i
	}
	fg := func(y, x int) bool { return y >= 0 && y < h && x >= 0 && x < w && imageio.IsDefect(mask.At(y, x)) }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !fg(y, x) {
				continue
			}
			for _, d := range [][2]int{{-1, -1}, {-1, 0}, {-1, 1}, {0, -1}} {
				if fg(y+d[0], x+d[1]) {
					parent[find(y*w+x)] = find((y+d[0])*w + x + d[1])
				}
			}
		}
	}
	out := make([]int, w*h)
	for i := range out {
		if fg(i/w, i%w) {
			out[i] = find(i)
		} else {
			out[i] = -1
		}
	}
	return out
}

// bruteAUPRO evaluates PRO and FPR at every distinct score by direct
// counting and integrates to the limit with interpolation.
func bruteAUPRO(maps, masks []*imageio.Map, limit float64) float64 {
	var all []float64
	type region struct{ img, root int }
	roots := make([][]int, len(maps))
	regions := map[region]bool{}
	nNeg := 0
	for k, m := range maps {
		roots[k] = ufRegions(masks[k])
		for i, v := range m.Pix {
			all = append(all, float64(v))
			if r := roots[k][i]; r >= 0 {
				regions[region{k, r}] = true
			} else {
				nNeg++
			}
		}
	}
	xs, ys := []float64{0}, []float64{0}
	for _, th := range distinctDesc(all) {
		hit, size := map[region]int{}, map[region]int{}
		fp := 0
		for k, m := range maps {
			for i, v := range m.Pix {
				r := roots[k][i]
				if r >= 0 {
					size[region{k, r}]++
					if float64(v) >= th {
						hit[region{k, r}]++
					}
				} else if float64(v) >= th {
					fp++
				}
			}
		}
		pro := 0.0
		for r := range regions {
			pro += float64(hit[r]) / float64(size[r])
		}
		xs = append(xs, float64(fp)/float64(nNeg))
		ys = append(ys, pro/float64(len(regions)))
	}
	area := 0.0
	for i := 1; i < len(xs); i++ {
		if xs[i] >= limit {
			yl := ys[i-1] + (ys[i]-ys[i-1])*(limit-xs[i-1])/(xs[i]-xs[i-1])
			area += (limit - xs[i-1]) * (ys[i-1] + yl) / 2
			break
		}
		area += (xs[i] - xs[i-1]) * (ys[i-1] + ys[i]) / 2
	}
	return area / limit
}

func randBlobMask(rng *rand.Rand, h, w int) *imageio.Map {
	g := imageio.NewMap(h, w)
	for b := rng.IntN(4); b > 0; b-- {
		y0, x0 := rng.IntN(h), rng.IntN(w)
		for y := y0; y < min(h, y0+1+rng.IntN(4)); y++ {
			for x := x0; x < min(w, x0+1+rng.IntN(5)); x++ {
				g.Set(y, x, 1)
			}
		}
	}
	return g
}

func TestAUPROMatchesBruteForceWithTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for rep := 0; rep < 25; rep++ {
		levels := 2 + rng.IntN(25)
		var maps, masks []*imageio.Map
		for k := 0; k < 1+rng.IntN(4); k++ {
			h, w := 3+rng.IntN(10), 3+rng.IntN(10)
			g := randBlobMask(rng, h, w)
			m := imageio.NewMap(h, w)
			for i := range m.Pix {
				v := rng.IntN(levels)
				if g.Pix[i] == 1 {
					v = min(levels-1, v+rng.IntN(levels))
				}
				m.Pix[i] = float32(v)/float32(levels) - 0.25
			}
			maps, masks = append(maps, m), append(masks, g)
		}
		p := NewPRO(0)
		for k := range maps {
			if err := p.Add(maps[k], masks[k]); err != nil {
				t.Fatal(err)
			}
		}
		for _, limit := range []float64{0.3, 0.05, 1} {
			got, err := p.AUPRO(limit)
			if p.Regions() == 0 || p.Normal() == 0 {
				if err == nil {
					t.Fatal("no regions or no normal pixels: want error")
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := bruteAUPRO(maps, masks, limit); !near(got, want, 1e-12) {
				t.Fatalf("rep %d limit %v: AUPRO %v, brute force %v", rep, limit, got, want)
			}
		}
	}
}

func TestAUPROContinuousWithinBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	var maps, masks []*imageio.Map
	for k := 0; k < 4; k++ {
		g := randBlobMask(rng, 14, 14)
		m := imageio.NewMap(14, 14)
		for i := range m.Pix {
			v := 0.3 + 0.1*rng.NormFloat64()
			if g.Pix[i] == 1 {
				v += 0.2
			}
			m.Pix[i] = float32(v)
		}
		maps, masks = append(maps, m), append(masks, g)
	}
	for _, bins := range []int{0, 1} {
		p := NewPRO(bins)
		for k := range maps {
			_ = p.Add(maps[k], masks[k])
		}
		got, err := p.AUPRO(0.3)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteAUPRO(maps, masks, 0.3)
		if d := math.Abs(got - want); d > p.ErrorBound(0.3)+1e-12 || (bins == 0 && d > 1e-9) {
			t.Fatalf("bins %d: AUPRO %v, exact %v, bound %v", bins, got, want, p.ErrorBound(0.3))
		}
	}
	// Merge of halves equals the whole.
	a, b := NewPRO(0), NewPRO(0)
	for k := range maps {
		if k < 2 {
			_ = a.Add(maps[k], masks[k])
		} else {
			_ = b.Add(maps[k], masks[k])
		}
	}
	a.Merge(b)
	got, _ := a.AUPRO(0.3)
	if want := bruteAUPRO(maps, masks, 0.3); !near(got, want, 1e-9) {
		t.Fatalf("merged AUPRO %v, want %v", got, want)
	}
	if _, err := a.AUPRO(1.5); err == nil {
		t.Fatal("limit 1.5: want error")
	}
}
