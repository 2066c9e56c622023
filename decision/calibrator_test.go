package decision

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func randMaps(rng *rand.Rand, n int, gen func() float32) []*imageio.Map {
	var ms []*imageio.Map
	for range n {
		m := imageio.NewMap(9, 11)
		for i := range m.Pix {
			m.Pix[i] = gen()
		}
		ms = append(ms, m)
	}
	return ms
}

func countAbove(ms []*imageio.Map, t float64) int {
	n := 0
	for _, m := range ms {
		for _, v := range m.Pix {
			if float64(v) >= t {
				n++
			}
		}
	}
	return n
}

func TestCalibratorStreamsLikeCalibrate(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	scores := make([]float64, 40)
	for i := range scores {
		scores[i] = rng.NormFloat64()
	}
	maps := randMaps(rng, 40, func() float32 { return float32(math.Round(rng.Float64()*255)) / 255 })
	c := NewCalibrator(0.05, 3)
	for i, s := range scores {
		if err := c.Add(s, maps[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want, err := Calibrate(scores, maps, 0.05, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("streamed %+v\nbatch %+v", got, want)
	}
	// 8-bit maps: the quantile bin holds one value, so the streamed pixel
	// threshold is the exact two-pass one.
	exact, err := PixelThreshold(maps, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if *got.PixelThreshold != exact {
		t.Fatalf("pixel threshold %v, exact %v", *got.PixelThreshold, exact)
	}
}

func TestCalibratorPixelThresholdErrorOnWideMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	// Continuous scores over ~12 octaves: quantile bins mix values.
	maps := randMaps(rng, 300, func() float32 { return float32(math.Exp(3 * rng.NormFloat64())) })
	for _, alpha := range []float64{0.5, 0.05, 0.001} {
		c := NewCalibrator(alpha, 1)
		for _, m := range maps {
			if err := c.Add(1, m); err != nil {
				t.Fatal(err)
			}
		}
		cal, err := c.Finish()
		if err != nil {
			t.Fatal(err)
		}
		exact, _ := PixelThreshold(maps, alpha)
		got := *cal.PixelThreshold
		// Never flags more validation pixels than the exact threshold, and
		// sits within the documented relative bin width of it.
		if got < exact || countAbove(maps, got) > countAbove(maps, exact) || (got-exact)/exact > 1.0/(1<<14) {
			t.Fatalf("alpha %v: streamed %v, exact %v (flags %d vs %d)", alpha, got, exact, countAbove(maps, got), countAbove(maps, exact))
		}
	}
}

func TestCalibratorRefusesNonFinite(t *testing.T) {
	c := NewCalibrator(0.1, 1)
	if err := c.Add(0.5, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if err := c.Add(s, nil); err == nil || !strings.Contains(err.Error(), "validation sample 1") {
			t.Fatalf("score %v: error %v", s, err)
		}
	}
	m := imageio.NewMap(2, 2)
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		m.Pix[3] = v
		if err := c.Add(0.2, m); err == nil || !strings.Contains(err.Error(), "(y=1, x=1)") {
			t.Fatalf("map pixel %v: error %v", v, err)
		}
		if err := c.AddMap(m); err == nil {
			t.Fatalf("AddMap pixel %v accepted", v)
		}
	}
	if c.N() != 1 {
		t.Fatalf("refused samples were recorded: N = %d", c.N())
	}
	if _, err := NewCalibrator(0.1, 1).Finish(); err == nil {
		t.Fatal("no scores: want error")
	}
	if _, err := NewCalibrator(1.5, 1).Finish(); err == nil {
		t.Fatal("alpha 1.5: want error")
	}
}

func TestMapLowAndMapRange(t *testing.T) {
	m := imageio.NewMap(10, 100) // pixels 0..999
	for i := range m.Pix {
		m.Pix[i] = float32(i)
	}
	c, err := Calibrate([]float64{1, 2, 3}, []*imageio.Map{m}, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 1st percentile of 1000 values: rank 10, value 9. Pixel threshold:
	// k = ceil(1001·0.5) = 501 → just above 500.
	if c.MapLow == nil || *c.MapLow != 9 || *c.PixelThreshold != math.Nextafter(500, 1e9) {
		t.Fatalf("MapLow %v, pixel threshold %v", c.MapLow, *c.PixelThreshold)
	}
	lo, hi, ok := c.MapRange()
	if !ok || lo != 9 || hi != 2*math.Nextafter(500, 1e9)-9 {
		t.Fatalf("MapRange [%v, %v] %v", lo, hi, ok)
	}
	// The range depends only on the calibration: a different image set
	// does not enter it. Old models without MapLow start at 0.
	pt := 2.0
	old := Calibration{PixelThreshold: &pt}
	if lo, hi, ok := old.MapRange(); !ok || lo != 0 || hi != 4 {
		t.Fatalf("fallback [%v, %v] %v", lo, hi, ok)
	}
	neg := -1.0
	for _, bad := range []Calibration{{}, {PixelThreshold: &neg}, {PixelThreshold: &pt, MapLow: &pt}} {
		if _, _, ok := bad.MapRange(); ok {
			t.Fatalf("%+v: want no range", bad)
		}
	}
}

func TestFewShotAlpha(t *testing.T) {
	if MinAlpha(31) != 1.0/32 || MinAlpha(19) != 0.05 {
		t.Fatal("MinAlpha must be 1/(n+1)")
	}
	w := FewShotWarning(31, 0.01)
	for _, want := range []string{"31 validation images", "smallest reachable alpha is 0.031", "--calibration cv:5", "add normal images"} {
		if !strings.Contains(w, want) {
			t.Fatalf("warning %q lacks %q", w, want)
		}
	}
	th, _ := ConformalThreshold(seq(31), 0.01)
	if th.Warning != w || th.OrderStat != 31 {
		t.Fatalf("threshold %+v", th)
	}
	// Reachable exactly at n = 19 for alpha 0.05.
	if FewShotWarning(19, 0.05) != "" || FewShotWarning(18, 0.05) == "" {
		t.Fatal("boundary of reachability")
	}
}

func TestParseCalibration(t *testing.T) {
	for _, c := range []struct {
		in    string
		kind  string
		folds int
	}{{"split", "split", 0}, {"cv:2", "cv", 2}, {"cv:5", "cv", 5}, {"cv:20", "cv", 20}} {
		k, f, err := ParseCalibration(c.in)
		if err != nil || k != c.kind || f != c.folds {
			t.Fatalf("%q: %q %d %v", c.in, k, f, err)
		}
	}
	for _, bad := range []string{"", "cv", "cv:", "cv:1", "cv:21", "cv:x", "cv:5.0", "split:2", "CV:5"} {
		if _, _, err := ParseCalibration(bad); err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Fatalf("%q: error %v does not quote the value", bad, err)
		}
	}
}

// PValue is the conformal p-value (1 + #{v >= s}) / (n+1), by brute force
// on tied scores.
func TestPValueIsConformal(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	v := make([]float64, 37)
	for i := range v {
		v[i] = float64(rng.IntN(8))
	}
	sorted := slices.Sorted(slices.Values(v))
	for s := -1.0; s <= 9; s += 0.5 {
		ge := 0
		for _, x := range v {
			if x >= s {
				ge++
			}
		}
		if want := float64(1+ge) / 38; PValue(sorted, s) != want {
			t.Fatalf("PValue(%v) = %v, want %v", s, PValue(sorted, s), want)
		}
	}
}

// BenchmarkCalibratorAdd measures streaming one 1-MP validation map.
func BenchmarkCalibratorAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := imageio.NewMap(1024, 1024)
	for i := range m.Pix {
		m.Pix[i] = float32(rng.Float64())
	}
	c := NewCalibrator(0.05, 1)
	b.SetBytes(int64(len(m.Pix)) * 4)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Add(0.5, m); err != nil {
			b.Fatal(err)
		}
	}
}
