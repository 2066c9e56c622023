package monitor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// lognormal draws skewed positive "anomaly scores", as image scores
// usually are: the CUSUM must not assume Gaussian scores.
func lognormal(rng *rand.Rand, n int, shift float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Exp(0.5*rng.NormFloat64()) + shift
	}
	return out
}

// TestZHandComputed: mid-rank p-values against [1 2 3].
func TestZHandComputed(t *testing.T) {
	ref := []float64{1, 2, 3}
	cases := []struct{ x, p float64 }{
		{2, (1 + 0.5 + 0.5) / 4.0}, // one above, one tie: p = 0.5, z = 0
		{10, 0.5 / 4},              // above all
		{0, 3.5 / 4},               // below all
		{2.5, 1.5 / 4},             // one above
	}
	for _, c := range cases {
		want := math.Sqrt2 * math.Erfinv(1-2*c.p)
		if got := Z(ref, c.x); math.Abs(got-want) > 1e-12 {
			t.Errorf("Z(%v) = %v, want %v", c.x, got, want)
		}
	}
	if z := Z(ref, 2); math.Abs(z) > 1e-15 {
		t.Errorf("median z = %v, want 0", z)
	}
	if z := Z(ref, 10); math.Abs(z-1.1503493803760079) > 1e-12 { // Φ⁻¹(0.875)
		t.Errorf("z above all = %v", z)
	}
}

// TestUpdateHandComputed: S = max(0, S + z - k) step by step, alarm and
// restart when S > h, run lengths and observed_arl0 from the restarts.
func TestUpdateHandComputed(t *testing.T) {
	ref := make([]float64, 99)
	for i := range ref {
		ref[i] = float64(i + 1) // 1..99
	}
	c, err := New(ref, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	zTop := Z(ref, 1000) // Φ⁻¹(1 - 0.5/100) = 2.5758
	if math.Abs(zTop-2.5758293035489) > 1e-9 {
		t.Fatalf("zTop %v", zTop)
	}
	mon := NewMonitor(c)
	var got []Alarm
	mon.OnAlarm = func(a Alarm) { got = append(got, a) }
	// 50 is the median: z = 0, S stays at 0 (max with 0)
	seq := []float64{50, 50, 1000, 1000, 50, 1000, 1000, 1000}
	// S: 0, 0, 2.0758, 4.1517 > 4 -> alarm at index 3, run 4, restart;
	// 0, 2.0758, 4.1517 -> alarm at index 6, run 3; 2.0758 (censored 1)
	for i, x := range seq {
		if _, err := mon.Observe("cam1", "", x); err != nil {
			t.Fatal(i, err)
		}
	}
	if len(got) != 2 || got[0].Index != 3 || got[0].RunLength != 4 || got[1].Index != 6 || got[1].RunLength != 3 {
		t.Fatalf("alarms %+v", got)
	}
	if want := 2 * (zTop - 0.5); math.Abs(got[0].Statistic-want) > 1e-9 {
		t.Errorf("alarm statistic %v, want %v", got[0].Statistic, want)
	}
	s := mon.Summary()
	if len(s) != 1 || s[0].N != 8 || s[0].Alarms != 2 || s[0].Censored != 1 || s[0].ObservedARL0 == nil || *s[0].ObservedARL0 != 3.5 {
		t.Fatalf("summary %+v", s)
	}
	if math.Abs(s[0].Statistic-(zTop-0.5)) > 1e-9 {
		t.Errorf("final S %v", s[0].Statistic)
	}
	// a second stream has its own state
	if a, _ := mon.Observe("cam2", "x", 1000); a != nil {
		t.Error("cam2 alarmed on its first image")
	}
	if _, err := mon.Observe("cam2", "bad.png", math.NaN()); err == nil {
		t.Error("NaN score accepted")
	}
	if s := mon.Summary(); len(s) != 2 || s[1].N != 1 || s[1].ObservedARL0 != nil {
		t.Errorf("cam2 summary %+v", s)
	}
	// Over all streams every completed run counts once: cam1's 4 and 3,
	// then a run of 2 on cam3.
	if o := mon.ObservedARL0(); o == nil || *o != 3.5 {
		t.Errorf("observed ARL0 over streams %v, want 3.5", o)
	}
	for _, x := range []float64{1000, 1000} {
		mon.Observe("cam3", "", x)
	}
	if o := mon.ObservedARL0(); o == nil || math.Abs(*o-3) > 1e-12 {
		t.Errorf("observed ARL0 over streams %v, want 3", o)
	}
	if NewMonitor(c).ObservedARL0() != nil {
		t.Error("observed ARL0 without an alarm")
	}
}

// TestCalibrateErrors: bad references and settings are refused by name.
func TestCalibrateErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	good := lognormal(rng, 100, 0)
	bad := append([]float64{math.NaN()}, good...)
	cfg := DefaultConfig()
	for name, c := range map[string]struct {
		ref []float64
		cfg Config
	}{
		"few":      {good[:5], cfg},
		"nan":      {bad, cfg},
		"constant": {make([]float64, 50), cfg},
		"arl0":     {good, Config{ARL0: 1, K: 0.5, Runs: 100}},
		"k":        {good, Config{ARL0: 100, K: 5, Runs: 100}},
		"runs":     {good, Config{ARL0: 100, K: 0.5, Runs: 1}},
	} {
		if _, err := Calibrate(c.ref, c.cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestARL0Calibration is the acceptance test: h calibrated by
// Monte Carlo on 1000 reference scores for ARL0 = 500; on fresh in-control
// streams from the same (skewed) distribution the mean run length to a
// false alarm, restarting after each, is within ±15% of 500 over 1500
// runs (standard error ~2.6%). It also reports the detection delay for
// step changes of the score mean and checks a slow drift is caught.
func TestARL0Calibration(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	ref := lognormal(rng, 1000, 0)
	cfg := DefaultConfig()
	cfg.Runs = 1000
	c, err := Calibrate(ref, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Calibrate(ref, cfg)
	if err != nil || c2.H != c.H {
		t.Fatalf("calibration not deterministic: h %v then %v (%v)", c.H, c2.H, err)
	}
	t.Logf("k %.2f h %.4f (Monte Carlo ARL0 at h: %.1f)", c.K, c.H, c.MCARL0)
	if math.Abs(c.MCARL0-500)/500 > 0.05 {
		t.Errorf("Monte Carlo ARL0 at h is %v, target 500", c.MCARL0)
	}

	// one long in-control stream, restarting after each alarm, the way
	// 'vigil monitor' reports observed_arl0
	mon := NewMonitor(c)
	src := rand.New(rand.NewPCG(99, 3))
	runs := 0
	for runs < 1500 {
		a, err := mon.Observe("line", "", math.Exp(0.5*src.NormFloat64()))
		if err != nil {
			t.Fatal(err)
		}
		if a != nil {
			runs++
		}
	}
	obs := *mon.Summary()[0].ObservedARL0
	t.Logf("observed ARL0 over %d false alarms: %.1f (target 500)", runs, obs)
	if math.Abs(obs-500)/500 > 0.15 {
		t.Errorf("observed ARL0 %.1f is not within 15%% of 500", obs)
	}

	// detection delay: zero-state run length after a step of delta
	// standard deviations of the scores
	sd := stddev(ref)
	prev := math.Inf(1)
	for _, delta := range []float64{0.5, 1, 2, 3} {
		var total float64
		const trials = 300
		for r := range trials {
			d := c.Clone()
			g := rand.New(rand.NewPCG(uint64(r), 11))
			for n := 1; ; n++ {
				alarm, _, err := d.Update(math.Exp(0.5*g.NormFloat64()) + delta*sd)
				if err != nil {
					t.Fatal(err)
				}
				if alarm {
					total += float64(n)
					break
				}
			}
		}
		delay := total / trials
		t.Logf("step of %.1f sd: mean detection delay %.1f images", delta, delay)
		if delay >= prev || delay > 100 {
			t.Errorf("delay %.1f at %.1f sd (previous shift %.1f)", delay, delta, prev)
		}
		prev = delay
	}

	// slow drift: the score mean creeps up by 0.002 sd per image; the
	// monitor must alarm well before the drift reaches 2 sd (1000 images)
	d := c.Clone()
	g := rand.New(rand.NewPCG(5, 5))
	at := -1
	for n := 0; n < 1000; n++ {
		alarm, _, _ := d.Update(math.Exp(0.5*g.NormFloat64()) + 0.002*float64(n)*sd)
		if alarm {
			at = n
			break
		}
	}
	t.Logf("drift of 0.002 sd/image: alarm at image %d (drift %.2f sd)", at, 0.002*float64(at))
	if at < 0 {
		t.Error("a drift to 2 sd raised no alarm")
	}
}

func stddev(x []float64) float64 {
	var m, s float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return math.Sqrt(s / float64(len(x)-1))
}
