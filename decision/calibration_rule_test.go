package decision

import "testing"

func TestUseRule(t *testing.T) {
	scores := make([]float64, 199)
	for i := range scores {
		scores[i] = float64(i) // 0..198: mean 99, sample std 57.6
	}
	c, err := Calibrate(scores, nil, 0.05, 1)
	if err != nil {
		t.Fatal(err)
	}
	conf := c.Threshold
	// k = ceil(200*0.95) = 190: just above the 190th smallest score, 189.
	if !(conf > 189 && conf < 189.0001) || c.Method != "conformal" {
		t.Fatalf("conformal threshold %v (%s)", conf, c.Method)
	}
	if err := c.UseRule("three_sigma"); err != nil || c.Threshold != c.ThreeSigma || c.Method != "three_sigma" {
		t.Fatalf("three_sigma: %v %v %s", err, c.Threshold, c.Method)
	}
	if d := c.ThreeSigma - (99 + 3*57.590508); d > 1e-4 || d < -1e-4 {
		t.Fatalf("3-sigma threshold %v", c.ThreeSigma)
	}
	if err := c.UseRule("bootstrap"); err != nil || c.Threshold != c.BootstrapHi || c.BootstrapHi < c.BootstrapLo {
		t.Fatalf("bootstrap: %v %v [%v, %v]", err, c.Threshold, c.BootstrapLo, c.BootstrapHi)
	}
	if err := c.UseRule("conformal"); err != nil || c.Threshold != conf {
		t.Fatalf("back to conformal: %v %v", err, c.Threshold)
	}
	if err := c.UseRule("median"); err == nil {
		t.Fatal("unknown rule accepted")
	}
}
