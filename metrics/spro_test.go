package metrics

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/label"
	"github.com/vigil-ad/vigil/internal/loco"
)

type sproImage struct {
	m       *imageio.Map
	regions []SPRORegion
}

// bruteAUsPRO evaluates sPRO and FPR at every distinct score by direct
// counting (the definition) and integrates to the limit with
// interpolation.
func bruteAUsPRO(imgs []sproImage, limit float64) float64 {
	var all []float64
	nNeg, nReg := 0, 0
	for _, im := range imgs {
		nReg += len(im.regions)
		for i, v := range im.m.Pix {
			all = append(all, float64(v))
			in := false
			for _, r := range im.regions {
				in = in || r.Mask.Pix[i] != 0
			}
			if !in {
				nNeg++
			}
		}
	}
	xs, ys := []float64{0}, []float64{0}
	for _, th := range distinctDesc(all) {
		fp, spro := 0, 0.0
		for _, im := range imgs {
			for i, v := range im.m.Pix {
				in := false
				for _, r := range im.regions {
					in = in || r.Mask.Pix[i] != 0
				}
				if !in && float64(v) >= th {
					fp++
				}
			}
			for _, r := range im.regions {
				hit, area := 0, 0
				for i, v := range r.Mask.Pix {
					if v != 0 {
						area++
						if float64(im.m.Pix[i]) >= th {
							hit++
						}
					}
				}
				sat := r.Saturation
				if sat == 0 {
					sat = float64(area)
				}
				spro += math.Min(1, float64(hit)/sat)
			}
		}
		xs = append(xs, float64(fp)/float64(nNeg))
		ys = append(ys, spro/float64(nReg))
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

// randRegions draws up to 3 overlapping blob regions with random
// saturation areas (absolute, relative or the region's own area).
func randRegions(rng *rand.Rand, h, w int) []SPRORegion {
	var rs []SPRORegion
	for range rng.IntN(4) {
		g := randBlobMask(rng, h, w)
		area := 0
		for _, v := range g.Pix {
			if v != 0 {
				area++
			}
		}
		if area == 0 {
			continue
		}
		sat := loco.Saturation(area, float64(1+rng.IntN(8)), false)
		if rng.IntN(2) == 0 {
			sat = loco.Saturation(area, 0.2+rng.Float64(), true)
		}
		if rng.IntN(4) == 0 {
			sat = 0
		}
		rs = append(rs, SPRORegion{Mask: g, Saturation: sat})
	}
	return rs
}

func TestAUsPROMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	checked := 0
	for rep := range 30 {
		levels := 2 + rng.IntN(30)
		var imgs []sproImage
		p := NewSPRO(0)
		for range 1 + rng.IntN(4) {
			h, w := 3+rng.IntN(9), 3+rng.IntN(9)
			rs := randRegions(rng, h, w)
			m := imageio.NewMap(h, w)
			for i := range m.Pix {
				v := rng.IntN(levels)
				for _, r := range rs {
					if r.Mask.Pix[i] != 0 {
						v = min(levels-1, v+rng.IntN(levels))
					}
				}
				m.Pix[i] = float32(v)/float32(levels) + 3
			}
			if err := p.AddRegions(m, rs); err != nil {
				t.Fatal(err)
			}
			imgs = append(imgs, sproImage{m, rs})
		}
		for _, limit := range []float64{0.05, 0.3, 1} {
			got, err := p.AUsPRO(limit)
			if p.Regions() == 0 || p.Normal() == 0 {
				if err == nil {
					t.Fatal("no regions or no normal pixels: want error")
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := bruteAUsPRO(imgs, limit); math.Abs(got-want) > 1e-12 || p.ErrorBound(limit) != 0 {
				t.Fatalf("rep %d limit %v: AUsPRO %v, brute force %v, bound %v", rep, limit, got, want, p.ErrorBound(limit))
			}
			checked++
		}
	}
	if checked < 30 {
		t.Fatalf("only %d comparisons ran", checked)
	}
}

// With each region a connected component and saturation = its area, sPRO
// is PRO.
func TestSPROEqualsPROAtFullSaturation(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	maps, masks := blobPairs(rng, 5, 14, 15, func(anom bool) float32 {
		v := rng.NormFloat64()
		if anom {
			v += 1
		}
		return float32(v)
	})
	pro, sp := NewPRO(0), NewSPRO(0)
	for k := range maps {
		if err := pro.Add(maps[k], masks[k]); err != nil {
			t.Fatal(err)
		}
		lab := make([]int32, len(masks[k].Pix))
		for i, v := range masks[k].Pix {
			if v != 0 {
				lab[i] = -1
			}
		}
		n, areas := label.Components(lab, masks[k].W, masks[k].H, true, make([]int32, len(lab)), nil)
		var rs []SPRORegion
		for l := 1; l <= n; l++ {
			r := imageio.NewMap(masks[k].H, masks[k].W)
			for i, x := range lab {
				if int(x) == l {
					r.Pix[i] = 1
				}
			}
			sat := float64(areas[l-1])
			if l%2 == 0 {
				sat = 0 // the default, also the region's area
			}
			rs = append(rs, SPRORegion{Mask: r, Saturation: sat})
		}
		if err := sp.AddRegions(maps[k], rs); err != nil {
			t.Fatal(err)
		}
	}
	if pro.Regions() != sp.Regions() || pro.Normal() != sp.Normal() || pro.Regions() == 0 {
		t.Fatalf("regions %d vs %d, normal %d vs %d", pro.Regions(), sp.Regions(), pro.Normal(), sp.Normal())
	}
	for _, limit := range []float64{0.05, 0.3} {
		a, _ := pro.AUPRO(limit)
		b, _ := sp.AUsPRO(limit)
		if math.Abs(a-b) > 1e-12 {
			t.Fatalf("limit %v: AUPRO %v but AUsPRO %v", limit, a, b)
		}
	}
}

func TestSPROHandExampleAndErrors(t *testing.T) {
	// Hand example: a 2x2 map 0.9 0.8 / 0.1 0.2 whose region is the left
	// column (0.9, 0.1); the right column (0.8, 0.2) is normal.
	m := mapOf(2, 2, 0.9, 0.8, 0.1, 0.2)
	r := mapOf(2, 2, 1, 0, 1, 0)
	p := NewSPRO(0)
	if err := p.AddRegions(m, []SPRORegion{{Mask: r, Saturation: 1}}); err != nil {
		t.Fatal(err)
	}
	// Saturation 1: at t = 0.9 FPR 0 and sPRO 1 already, so AUsPRO = 1.
	if a, _ := p.AUsPRO(1); a != 1 {
		t.Fatalf("AUsPRO %v, want 1", a)
	}
	// Saturation = area (2): points (0, .5), (.5, .5), (1, .5), (1, 1):
	// area 0.5 under FPR <= 1.
	q := NewSPRO(0)
	if err := q.AddRegions(m, []SPRORegion{{Mask: r}}); err != nil {
		t.Fatal(err)
	}
	if a, _ := q.AUsPRO(1); a != 0.5 {
		t.Fatalf("AUsPRO %v, want 0.5", a)
	}
	bad := imageio.NewMap(2, 3)
	if err := p.AddRegions(m, []SPRORegion{{Mask: bad}}); err == nil || !strings.Contains(err.Error(), "region 0") {
		t.Fatalf("size mismatch: %v", err)
	}
	if err := p.AddRegions(m, []SPRORegion{{Mask: imageio.NewMap(2, 2)}}); err == nil || !strings.Contains(err.Error(), "no defect pixel") {
		t.Fatalf("empty region: %v", err)
	}
	if err := p.AddRegions(m, []SPRORegion{{Mask: r, Saturation: math.NaN()}}); err == nil {
		t.Fatal("NaN saturation accepted")
	}
	if _, err := NewSPRO(0).AUsPRO(0.05); err == nil {
		t.Fatal("empty: want error")
	}
	if _, err := p.AUsPRO(1.5); err == nil {
		t.Fatal("limit 1.5: want error")
	}
}
