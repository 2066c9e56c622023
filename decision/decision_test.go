package decision

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func seq(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(n - i) // descending on purpose: must be sorted inside
	}
	return s
}

func TestConformalRankAndWarnings(t *testing.T) {
	cases := []struct {
		n     int
		alpha float64
		k     int
	}{
		{99, 0.05, 95}, {19, 0.05, 19}, {199, 0.05, 190}, {999, 0.01, 990}, {9, 0.1, 9}, {250, 0.05, 239}, {4, 0.5, 3},
	}
	for _, c := range cases {
		th, err := ConformalThreshold(seq(c.n), c.alpha)
		if err != nil {
			t.Fatal(err)
		}
		if th.Rank != c.k || th.OrderStat != float64(c.k) || th.Value != math.Nextafter(float64(c.k), 1e9) {
			t.Fatalf("n=%d alpha=%v: rank %d order stat %v value %v, want k=%d", c.n, c.alpha, th.Rank, th.OrderStat, th.Value, c.k)
		}
		// The k-th score itself is not flagged, the next float above is.
		if th.Decide(float64(c.k)) || !th.Decide(math.Nextafter(float64(c.k), 1e9)) {
			t.Fatal("decision must be score > k-th order statistic")
		}
	}
	for alpha, want := range map[float64]int{0.05: 19, 0.01: 99, 0.1: 9, 0.3: 3, 0.5: 1} {
		if got := MinScores(alpha); got != want {
			t.Fatalf("MinScores(%v) = %d, want %d", alpha, got, want)
		}
	}
	th, _ := ConformalThreshold(seq(18), 0.05)
	if th.Rank != 18 || th.OrderStat != 18 ||
		!strings.Contains(th.Warning, "n=18 validation scores cannot guarantee FPR <= alpha=0.05; need at least 19") {
		t.Fatalf("too few scores: %+v", th)
	}
	th, _ = ConformalThreshold(seq(19), 0.05)
	if !strings.Contains(th.Warning, "only n=19") {
		t.Fatalf("small n warning missing: %+v", th)
	}
	th, _ = ConformalThreshold(seq(100), 0.05)
	if th.Warning != "" {
		t.Fatalf("unexpected warning %q", th.Warning)
	}
	for _, bad := range []struct {
		s     []float64
		alpha float64
	}{{nil, 0.05}, {[]float64{1, math.NaN()}, 0.05}, {[]float64{1, math.Inf(1)}, 0.05}, {seq(5), 0}, {seq(5), 1}, {seq(5), math.NaN()}} {
		if _, err := ConformalThreshold(bad.s, bad.alpha); err == nil {
			t.Fatalf("%v alpha %v: want error", bad.s, bad.alpha)
		}
	}
}

func TestDecideEqualsPValueRuleWithTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for rep := 0; rep < 300; rep++ {
		n := 1 + rng.IntN(120)
		levels := 1 + rng.IntN(10)
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(rng.IntN(levels))
		}
		alpha := []float64{0.05, 0.1, 0.2, 0.01, 0.3}[rng.IntN(5)]
		th, _ := ConformalThreshold(v, alpha)
		sorted := slices.Sorted(slices.Values(v))
		if th.Rank < conformalRank(n, alpha) {
			continue // fallback threshold of a too-small set has no p-value form
		}
		for s := -1.0; s <= float64(levels); s += 0.5 {
			if th.Decide(s) != (PValue(sorted, s) <= alpha) {
				t.Fatalf("rep %d: s=%v decide %v p=%v alpha %v", rep, s, th.Decide(s), PValue(sorted, s), alpha)
			}
		}
	}
	// Hand p-values: sorted {1,2,2,3}: p(2) = (1+3)/5, p(3.5) = 1/5, p(0) = 1.
	s := []float64{1, 2, 2, 3}
	if PValue(s, 2) != 0.8 || PValue(s, 3.5) != 0.2 || PValue(s, 0) != 1 {
		t.Fatal("hand p-values")
	}
}

// calibrate runs reps calibrations of n validation scores at alpha and
// checks the FPR on m fresh normal scores per run. draw samples a normal
// score, exceed(v) is the exact P(score > v) of that distribution.
func calibrate(t *testing.T, rng *rand.Rand, n, reps, m int, alpha float64, draw func() float64, exceed func(float64) float64) {
	t.Helper()
	val := make([]float64, n)
	sumP, sumObs, outside := 0.0, 0.0, 0
	for r := 0; r < reps; r++ {
		for i := range val {
			val[i] = draw()
		}
		th, err := ConformalThreshold(val, alpha)
		if err != nil || th.Warning != "" {
			t.Fatalf("n=%d alpha=%v: %v %q", n, alpha, err, th.Warning)
		}
		p := exceed(th.OrderStat) // this run's true FPR under "> V_(k)"
		fp := 0
		for i := 0; i < m; i++ {
			if th.Decide(draw()) {
				fp++
			}
		}
		obs := float64(fp) / float64(m)
		if math.Abs(obs-p) > 3*math.Sqrt(p*(1-p)/float64(m))+1e-12 {
			outside++
		}
		sumP += p
		sumObs += obs
	}
	k := conformalRank(n, alpha)
	// For continuous scores the run FPR is Beta(n+1−k, k): mean e, and the
	// mean over reps has standard error sd/√reps.
	a, b := float64(n+1-k), float64(k)
	e := a / (a + b)
	se := math.Sqrt(a*b/((a+b)*(a+b)*(a+b+1))) / math.Sqrt(float64(reps))
	meanP, meanObs := sumP/float64(reps), sumObs/float64(reps)
	if e > alpha+1e-12 {
		t.Fatalf("n=%d alpha=%v: exact E[FPR]=%v exceeds alpha", n, alpha, e)
	}
	if meanP > e+4*se || meanObs > alpha+4*se+3*math.Sqrt(alpha/float64(reps*m)) {
		t.Fatalf("n=%d alpha=%v: mean FPR %v (observed %v), E=%v, se=%v", n, alpha, meanP, meanObs, e, se)
	}
	if frac := float64(outside) / float64(reps); frac > 0.01 {
		t.Fatalf("n=%d alpha=%v: %.1f%% of runs outside the binomial 3-sigma band", n, alpha, 100*frac)
	}
	t.Logf("n=%d alpha=%v: E[FPR]=%.5f mean true FPR %.5f mean observed %.5f (se %.5f), %d/%d outside 3σ",
		n, alpha, e, meanP, meanObs, se, outside, reps)
}

func TestConformalCalibrationContinuous(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	draw := func() float64 { return rng.ExpFloat64() }
	exceed := func(v float64) float64 { return math.Exp(-max(v, 0)) }
	calibrate(t, rng, 99, 400, 4000, 0.05, draw, exceed)  // E[FPR] = 5/100 exactly
	calibrate(t, rng, 250, 400, 4000, 0.05, draw, exceed) // E[FPR] = 12/251
	calibrate(t, rng, 499, 300, 4000, 0.01, draw, exceed) // E[FPR] = 5/500
	// The mean FPR must also be close to E, not merely below: a threshold
	// that flags nothing would pass the upper check alone.
	sum := 0.0
	for r := 0; r < 2000; r++ {
		v := make([]float64, 99)
		for i := range v {
			v[i] = draw()
		}
		th, _ := ConformalThreshold(v, 0.05)
		sum += exceed(th.OrderStat)
	}
	if m := sum / 2000; math.Abs(m-0.05) > 0.004 { // se ≈ 0.0215/√2000 ≈ 0.0005
		t.Fatalf("mean FPR %v, want 0.05", m)
	}
}

func TestConformalCalibrationDiscreteTies(t *testing.T) {
	// Geometric scores on {0,1,2,...}: heavy ties; P(S > v) = q^(v+1).
	rng := rand.New(rand.NewPCG(5, 6))
	q := 0.7
	draw := func() float64 {
		return math.Floor(math.Log(1-rng.Float64()) / math.Log(q))
	}
	reps, sum, sumGE := 600, 0.0, 0.0
	for r := 0; r < reps; r++ {
		v := make([]float64, 60)
		for i := range v {
			v[i] = draw()
		}
		th, _ := ConformalThreshold(v, 0.1)
		sum += math.Pow(q, th.OrderStat+1) // P(S > V_(k)): the rule used
		sumGE += math.Pow(q, th.OrderStat) // P(S >= V_(k)): the naive rule
	}
	// Ties make "> V_(k)" conservative: mean FPR stays below alpha, while
	// flagging the order statistic itself would break the guarantee.
	m, mGE := sum/float64(reps), sumGE/float64(reps)
	t.Logf("discrete: mean FPR %.4f with '>' and %.4f with '>='", m, mGE)
	if m > 0.1 || m < 0.03 || mGE <= 0.1 {
		t.Fatalf("discrete mean FPR %v ('>=' %v), alpha 0.1", m, mGE)
	}
}

func TestThreeSigma(t *testing.T) {
	th := ThreeSigma([]float64{1, 2, 3, 4, 5})
	if !(math.Abs(th.Value-(3+3*math.Sqrt(2.5))) < 1e-12) || th.Warning != "" || th.N != 5 {
		t.Fatalf("%+v", th)
	}
	if th := ThreeSigma([]float64{7}); th.Value != 7 || th.Warning == "" {
		t.Fatalf("one score: %+v", th)
	}
	if th := ThreeSigma(nil); th.Warning == "" {
		t.Fatal("no scores: want warning")
	}
}

func TestBootstrap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	v := make([]float64, 300)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	p1, lo1, hi1 := Bootstrap(v, 0.1, 500, 0.9, 42)
	p2, lo2, hi2 := Bootstrap(v, 0.1, 500, 0.9, 42)
	th, _ := ConformalThreshold(v, 0.1)
	if p1 != p2 || lo1 != lo2 || hi1 != hi2 || p1 != th.OrderStat || !(lo1 <= p1 && p1 <= hi1 && lo1 < hi1) {
		t.Fatalf("point %v [%v, %v] (again %v [%v,%v]), order stat %v", p1, lo1, hi1, p2, lo2, hi2, th.OrderStat)
	}
	// Coverage of the true 0.9 quantile of N(0,1) over independent
	// validation sets: nominal 90%; percentile intervals for quantiles are
	// somewhat anti-conservative, so accept 75%..99%.
	const q90 = 1.2815515655446004
	hit, reps := 0, 200
	for r := 0; r < reps; r++ {
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		_, lo, hi := Bootstrap(v, 0.1, 200, 0.9, uint64(r))
		if lo <= q90 && q90 <= hi {
			hit++
		}
	}
	if c := float64(hit) / float64(reps); c < 0.75 || c > 0.99 {
		t.Fatalf("coverage %v", c)
	}
	if p, _, _ := Bootstrap(nil, 0.1, 10, 0.9, 1); !math.IsNaN(p) {
		t.Fatal("empty: want NaN")
	}
	if p, _, _ := Bootstrap(v, 0.1, 0, 0.9, 1); !math.IsNaN(p) {
		t.Fatal("B=0: want NaN")
	}
}

func TestPixelThresholdExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for rep := 0; rep < 30; rep++ {
		var maps []*imageio.Map
		var all []float32
		for j := 0; j < 1+rng.IntN(5); j++ {
			m := imageio.NewMap(1+rng.IntN(30), 1+rng.IntN(30))
			for i := range m.Pix {
				if rep%2 == 0 {
					m.Pix[i] = float32(rng.IntN(20)-5) / 8 // ties, negatives
				} else {
					m.Pix[i] = float32(rng.NormFloat64())
				}
			}
			maps = append(maps, m)
			all = append(all, m.Pix...)
		}
		alpha := []float64{0.01, 0.05, 0.2, 0.5}[rng.IntN(4)]
		got, err := PixelThreshold(maps, alpha)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(all)
		k := min(len(all), conformalRank(len(all), alpha))
		if want := math.Nextafter(float64(all[k-1]), math.Inf(1)); got != want {
			t.Fatalf("rep %d: pixel threshold %v, want %v", rep, got, want)
		}
		flagged := 0
		for _, v := range all {
			if float64(v) >= got {
				flagged++
			}
		}
		if float64(flagged) > alpha*float64(len(all))+1e-9 {
			t.Fatalf("rep %d: %d of %d pixels flagged at alpha %v", rep, flagged, len(all), alpha)
		}
	}
	if _, err := PixelThreshold(nil, 0.05); err == nil {
		t.Fatal("no pixels: want error")
	}
	bad := imageio.NewMap(2, 2)
	bad.Pix[1] = float32(math.NaN())
	if _, err := PixelThreshold([]*imageio.Map{bad}, 0.05); err == nil {
		t.Fatal("NaN: want error")
	}
}

func TestCalibrateJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	v := make([]float64, 50)
	for i := range v {
		v[i] = rng.Float64()
	}
	m := imageio.NewMap(8, 8)
	for i := range m.Pix {
		m.Pix[i] = float32(i)
	}
	c, err := Calibrate(v, []*imageio.Map{m}, 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	th, _ := ConformalThreshold(v, 0.1)
	if c.Threshold != th.Value || c.NVal != 50 || !slices.IsSorted(c.ValScores) || c.PixelThreshold == nil ||
		*c.PixelThreshold != math.Nextafter(58, 100) || !(c.BootstrapLo <= c.BootstrapHi) || c.ThreeSigma != ThreeSigma(v).Value {
		t.Fatalf("%+v", c) // 64 pixels 0..63: k = ceil(65·0.9) = 59 → value 58
	}
	buf, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Calibration
	if err := json.Unmarshal(buf, &back); err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{-1, 0.5, th.OrderStat, th.Value, 2} {
		if back.Decide(s) != c.Decide(s) || back.PValue(s) != c.PValue(s) {
			t.Fatalf("round trip changes decisions at %v", s)
		}
		if c.Decide(s) != (c.PValue(s) <= 0.1) {
			t.Fatalf("Decide and p-value disagree at %v", s)
		}
	}
	for _, k := range []string{"method", "alpha", "threshold", "n_val", "val_scores", "three_sigma", "bootstrap_lo", "bootstrap_hi", "pixel_threshold"} {
		if !strings.Contains(string(buf), `"`+k+`"`) {
			t.Fatalf("JSON lacks %q", k)
		}
	}
	if c, _ := Calibrate(v, nil, 0.1, 1); c.PixelThreshold != nil {
		t.Fatal("no maps: pixel threshold must be absent")
	}
	if _, err := Calibrate(nil, nil, 0.1, 1); err == nil {
		t.Fatal("no scores: want error")
	}
}
