package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// randTies draws n samples whose scores come from only `levels` distinct
// values, with the anomalous class shifted up, so ties are common and
// cross both classes.
func randTies(rng *rand.Rand, n, levels int) ([]float64, []int) {
	s := make([]float64, n)
	l := make([]int, n)
	for i := range s {
		l[i] = rng.IntN(2)
		v := rng.IntN(levels)
		if l[i] == 1 {
			v = min(levels-1, v+rng.IntN(3))
		}
		s[i] = float64(v) / float64(levels)
	}
	return s, l
}

// mannWhitney is the O(n0·n1) reference: P(pos > neg) + P(pos == neg)/2.
func mannWhitney(s []float64, l []int) float64 {
	u, pairs := 0.0, 0.0
	for i := range s {
		if l[i] != 1 {
			continue
		}
		for j := range s {
			if l[j] != 0 {
				continue
			}
			pairs++
			switch {
			case s[i] > s[j]:
				u++
			case s[i] == s[j]:
				u += 0.5
			}
		}
	}
	return u / pairs
}

func distinctDesc(s []float64) []float64 {
	d := slices.Clone(s)
	slices.Sort(d)
	d = slices.Compact(d)
	slices.Reverse(d)
	return d
}

func TestConfusionHandAndZeroDivision(t *testing.T) {
	s := []float64{0.9, 0.8, 0.8, 0.3, 0.1}
	l := []int{1, 0, 1, 1, 0}
	c := Confusion(s, l, 0.8) // >= 0.8 flagged: 0.9(1) 0.8(0) 0.8(1)
	if c != (Counts{TP: 2, FP: 1, TN: 1, FN: 1}) {
		t.Fatalf("counts %+v", c)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"TPR", c.TPR(), 2.0 / 3}, {"FPR", c.FPR(), 0.5}, {"FNR", c.FNR(), 1.0 / 3},
		{"TNR", c.TNR(), 0.5}, {"Precision", c.Precision(), 2.0 / 3}, {"Recall", c.Recall(), 2.0 / 3},
		{"Accuracy", c.Accuracy(), 0.6}, {"F1", c.F1(), 2.0 / 3},
	}
	for _, k := range checks {
		if !near(k.got, k.want, 1e-15) {
			t.Errorf("%s = %v, want %v", k.name, k.got, k.want)
		}
	}
	var z Counts
	for _, v := range []float64{z.TPR(), z.FPR(), z.FNR(), z.TNR(), z.Precision(), z.Accuracy(), z.F1()} {
		if v != 0 {
			t.Fatalf("0/0 must be 0, got %v", v)
		}
	}
	// Nothing flagged: precision is 0 by definition, recall 0.
	c = Confusion(s, l, 2)
	if c.Precision() != 0 || c.TPR() != 0 || c.TNR() != 1 {
		t.Fatalf("nothing flagged: %+v", c)
	}
}

func TestROCTiesMoveTogether(t *testing.T) {
	s := []float64{0.9, 0.8, 0.8, 0.3}
	l := []int{1, 1, 0, 0}
	c := ROC(s, l)
	wantX := []float64{0, 0, 0.5, 1}
	wantY := []float64{0, 0.5, 1, 1}
	wantT := []float64{above(0.9), 0.9, 0.8, 0.3}
	if !slices.Equal(c.X, wantX) || !slices.Equal(c.Y, wantY) || !slices.Equal(c.Thresholds, wantT) {
		t.Fatalf("ROC = %+v", c)
	}
	a, err := AUROC(s, l)
	if err != nil || a != 0.875 { // pairs: (0.9>0.8)(0.9>0.3)(0.8=0.8 → ½)(0.8>0.3) = 3.5/4
		t.Fatalf("AUROC = %v, %v", a, err)
	}
	if ROC([]float64{1}, []int{2}).Len() != 0 || ROC(nil, nil).Len() != 0 {
		t.Fatal("invalid input must give an empty curve")
	}
}

func TestAUROCEqualsMannWhitneyWithTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for rep := 0; rep < 200; rep++ {
		s, l := randTies(rng, 2+rng.IntN(300), 1+rng.IntN(12))
		n1 := 0
		for _, v := range l {
			n1 += v
		}
		a, err := AUROC(s, l)
		if n1 == 0 || n1 == len(l) {
			if err == nil {
				t.Fatal("one class: want error")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := mannWhitney(s, l); !near(a, want, 1e-12) {
			t.Fatalf("rep %d: AUROC %v, Mann-Whitney %v", rep, a, want)
		}
		// Thresholds are distinct and decreasing; X and Y are monotone.
		c := ROC(s, l)
		for i := 1; i < c.Len(); i++ {
			if c.Thresholds[i] >= c.Thresholds[i-1] || c.X[i] < c.X[i-1] || c.Y[i] < c.Y[i-1] {
				t.Fatalf("rep %d: ROC not monotone at %d", rep, i)
			}
		}
		if c.Len() != len(distinctDesc(s))+1 || c.X[c.Len()-1] != 1 || c.Y[c.Len()-1] != 1 {
			t.Fatalf("rep %d: ROC has %d points", rep, c.Len())
		}
	}
}

func TestAUROCErrors(t *testing.T) {
	if _, err := AUROC([]float64{1, 2}, []int{0, 0}); err == nil {
		t.Fatal("no anomalous: want error")
	}
	if _, err := AUROC([]float64{1, 2}, []int{0}); err == nil {
		t.Fatal("length mismatch: want error")
	}
	if _, err := AUROC([]float64{1, math.NaN()}, []int{0, 1}); err == nil {
		t.Fatal("NaN: want error")
	}
	if _, err := AUROC([]float64{1, 2}, []int{0, 3}); err == nil {
		t.Fatal("label 3: want error")
	}
}

// bruteAP evaluates precision and recall at every distinct threshold by
// direct counting and sums (R_i − R_{i−1})·P_i.
func bruteAP(s []float64, l []int) float64 {
	ap, prevR := 0.0, 0.0
	for _, th := range distinctDesc(s) {
		c := Confusion(s, l, th)
		r := c.Recall()
		ap += (r - prevR) * c.Precision()
		prevR = r
	}
	return ap
}

func TestAveragePrecision(t *testing.T) {
	// scikit-learn's documented example: average_precision_score → 0.8333.
	ap, err := AveragePrecision([]float64{0.1, 0.4, 0.35, 0.8}, []int{0, 0, 1, 1})
	if err != nil || !near(ap, 5.0/6, 1e-15) {
		t.Fatalf("AP = %v, %v", ap, err)
	}
	// A tie across classes at the top: one step, precision 1/2.
	ap, _ = AveragePrecision([]float64{1, 1, 0}, []int{1, 0, 0})
	if ap != 0.5 {
		t.Fatalf("tied AP = %v, want 0.5", ap)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for rep := 0; rep < 200; rep++ {
		s, l := randTies(rng, 2+rng.IntN(200), 1+rng.IntN(10))
		ap, err := AveragePrecision(s, l)
		if err != nil {
			continue
		}
		if want := bruteAP(s, l); !near(ap, want, 1e-12) {
			t.Fatalf("rep %d: AP %v, brute %v", rep, ap, want)
		}
		c := PR(s, l)
		if c.X[0] != 0 || c.Y[0] != 1 || c.X[c.Len()-1] != 1 {
			t.Fatalf("rep %d: PR end points %v %v", rep, c.X, c.Y)
		}
	}
	if _, err := AveragePrecision([]float64{1}, []int{0}); err == nil {
		t.Fatal("no anomalous: want error")
	}
}

func TestThresholdRulesAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for rep := 0; rep < 200; rep++ {
		s, l := randTies(rng, 2+rng.IntN(150), 1+rng.IntN(15))
		var bf, bft, bj, bjt, bd, bdt = -1.0, 0.0, math.Inf(-1), 0.0, math.Inf(1), 0.0
		for _, th := range distinctDesc(s) {
			c := Confusion(s, l, th)
			if c.F1() > bf {
				bf, bft = c.F1(), th
			}
			if j := c.TPR() - c.FPR(); j > bj {
				bj, bjt = j, th
			}
			if d := math.Hypot(c.FPR(), 1-c.TPR()); d < bd {
				bd, bdt = d, th
			}
		}
		f, ft := F1Max(s, l)
		j, jt := YoudenJ(s, l)
		d, dt := ClosestToCorner(s, l)
		if !near(f, bf, 1e-12) || ft != bft || !near(j, bj, 1e-12) || jt != bjt || !near(d, bd, 1e-12) || dt != bdt {
			t.Fatalf("rep %d: F1 %v@%v (%v@%v) J %v@%v (%v@%v) D %v@%v (%v@%v)",
				rep, f, ft, bf, bft, j, jt, bj, bjt, d, dt, bd, bdt)
		}
	}
	// Hand example: perfect separation at 0.5.
	s := []float64{0.1, 0.2, 0.5, 0.9}
	l := []int{0, 0, 1, 1}
	if f, th := F1Max(s, l); f != 1 || th != 0.5 {
		t.Fatalf("F1Max = %v@%v", f, th)
	}
	if j, th := YoudenJ(s, l); j != 1 || th != 0.5 {
		t.Fatalf("YoudenJ = %v@%v", j, th)
	}
	if d, th := ClosestToCorner(s, l); d != 0 || th != 0.5 {
		t.Fatalf("ClosestToCorner = %v@%v", d, th)
	}
	if _, th := F1Max(nil, nil); !math.IsNaN(th) {
		t.Fatal("empty input: want NaN threshold")
	}
}

func TestPerDefectAUROC(t *testing.T) {
	// Normals 0.1 0.2 0.3; "crack" 0.9 0.8 (above every normal: 1);
	// "stain" 0.25 0.05 (0.25 beats 2 of 3 normals, 0.05 none: 2/6).
	scores := []float64{0.1, 0.2, 0.3, 0.9, 0.8, 0.25, 0.05}
	labels := []int{0, 0, 0, 1, 1, 1, 1}
	defects := []string{"good", "good", "good", "crack", "crack", "stain", "stain"}
	got := PerDefectAUROC(scores, labels, defects)
	if len(got) != 2 || got["crack"] != 1 || !near(got["stain"], 2.0/6, 1e-15) {
		t.Fatalf("per-defect AUROC %v", got)
	}
	if PerDefectAUROC(scores, labels, defects[:3]) != nil {
		t.Fatal("length mismatch must return nil")
	}
	if got := PerDefectAUROC([]float64{1, 2}, []int{1, 1}, []string{"a", "b"}); len(got) != 0 {
		t.Fatalf("no normal samples: %v, want empty", got)
	}
}
