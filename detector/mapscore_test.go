package detector

import "testing"

func TestMapScore(t *testing.T) {
	pix := []float32{1, 9, 3, 7, 5, 2, 8, 4, 6, 0}
	if got := MapScore(pix, "max", 0); got != 9 {
		t.Errorf("max %g", got)
	}
	if got := MapScore(pix, "topk", 0.3); got != 8 {
		t.Errorf("top 30%% mean %g, want 8", got)
	}
	if got := MapScore(pix, "topk", 0.01); got != 9 {
		t.Errorf("top 1%% of 10 values: %g, want the maximum 9 (at least one value)", got)
	}
}
