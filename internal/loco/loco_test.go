package loco

import "testing"

func TestSaturation(t *testing.T) {
	for _, c := range []struct {
		area      int
		threshold float64
		relative  bool
		want      float64
	}{
		{1001, 0.5, true, 500},  // int(500.5) truncates
		{100, 1.2, true, 120},   // relative is not capped at the area
		{1, 0.5, true, 1},       // int(0.5) = 0 would divide by zero
		{1000, 300, false, 300}, // absolute
		{120, 300, false, 120},  // absolute is capped at the area
	} {
		if got := Saturation(c.area, c.threshold, c.relative); got != c.want {
			t.Fatalf("area %d threshold %v relative %v: %v, want %v", c.area, c.threshold, c.relative, got, c.want)
		}
	}
}
