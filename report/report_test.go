package report

import (
	"math"
	"reflect"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func TestTurboKnownValues(t *testing.T) {
	for _, tc := range []struct {
		v       float64
		r, g, b uint8
	}{
		{0, 48, 18, 59},     // table entry 0: (0.18995, 0.07176, 0.23217)
		{1, 122, 4, 3},      // table entry 255: (0.47960, 0.01583, 0.01055)
		{0.5, 163, 253, 60}, // between entries 127 and 128
		{-3, 48, 18, 59},    // clamped
		{7, 122, 4, 3},
		{math.NaN(), 48, 18, 59},
	} {
		c := Turbo(tc.v)
		if d := max(absDiff(c.R, tc.r), absDiff(c.G, tc.g), absDiff(c.B, tc.b)); d > 3 {
			t.Errorf("Turbo(%g) = (%d,%d,%d), want ≈(%d,%d,%d)", tc.v, c.R, c.G, c.B, tc.r, tc.g, tc.b)
		}
	}
	// The colormap is continuous: neighbouring inputs give close colours.
	prev := Turbo(0)
	for i := 1; i <= 1000; i++ {
		c := Turbo(float64(i) / 1000)
		if max(absDiff(c.R, prev.R), absDiff(c.G, prev.G), absDiff(c.B, prev.B)) > 4 {
			t.Fatalf("jump at %g: %v -> %v", float64(i)/1000, prev, c)
		}
		prev = c
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func square(h, w, y0, x0, s int) *imageio.Map {
	m := imageio.NewMap(h, w)
	for y := y0; y < y0+s; y++ {
		for x := x0; x < x0+s; x++ {
			m.Set(y, x, 1)
		}
	}
	return m
}

func TestContourOfSquareIsItsBorder(t *testing.T) {
	const h, w, y0, x0, s = 12, 15, 3, 4, 5
	c := Contour(square(h, w, y0, x0, s))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			inside := y >= y0 && y < y0+s && x >= x0 && x < x0+s
			border := inside && (y == y0 || y == y0+s-1 || x == x0 || x == x0+s-1)
			if c[y*w+x] != border {
				t.Errorf("(%d,%d): contour %v, want %v", y, x, c[y*w+x], border)
			}
		}
	}
	// A mask touching the image edge is outlined along the edge too.
	full := Contour(square(3, 3, 0, 0, 3))
	for i, v := range full {
		if v != (i != 4) {
			t.Errorf("full 3x3 mask: pixel %d contour %v", i, v)
		}
	}
}

func TestOverlayBlendsAndOutlines(t *testing.T) {
	img := imageio.New(1, 10, 10) // black
	m := imageio.NewMap(10, 10)
	m.Pix[0] = 1                    // top-left at the top of the range, the rest at the bottom
	pred := square(10, 10, 2, 2, 6) // rows and columns 2..7
	o := Overlay(img, m, 0, 1, pred)
	hot, cold := Turbo(1), Turbo(0)
	if got := o.RGBAAt(0, 0); absDiff(got.R, hot.R/2) > 1 || absDiff(got.G, hot.G/2) > 1 {
		t.Errorf("hot pixel %v, want half of %v", got, hot)
	}
	if got := o.RGBAAt(9, 0); absDiff(got.B, cold.B/2) > 1 {
		t.Errorf("cold pixel %v, want half of %v", got, cold)
	}
	// The line is two pixels wide: the contour and the ring inside it.
	for _, p := range [][2]int{{2, 2}, {4, 2}, {3, 3}, {4, 3}, {7, 7}, {6, 4}} {
		if got := o.RGBAAt(p[0], p[1]); got != contourColor {
			t.Errorf("contour pixel %v is %v", p, got)
		}
	}
	for _, p := range [][2]int{{4, 4}, {5, 5}, {4, 5}} {
		if got := o.RGBAAt(p[0], p[1]); got == contourColor {
			t.Errorf("mask interior %v drawn as contour", p)
		}
	}
	// The dark ring sits just outside the mask, not diagonally off it.
	if got := o.RGBAAt(4, 1); got != outlineColor {
		t.Errorf("pixel above the mask %v, want the outline colour", got)
	}
	if got := o.RGBAAt(1, 1); got == outlineColor {
		t.Error("diagonal neighbour drawn as outline")
	}
}

func TestTicksAreRoundAndInRange(t *testing.T) {
	got := ticks(0, 1)
	var labels []string
	for _, tk := range got {
		labels = append(labels, tk.label)
	}
	if want := []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("ticks(0,1) = %v, want %v", labels, want)
	}
	for _, tk := range ticks(-3.7, 123.4) {
		if tk.v < -3.7 || tk.v > 123.4 || math.Mod(tk.v, 20) != 0 {
			t.Errorf("tick %v out of range or not a multiple of 20", tk)
		}
	}
}

func TestHistogramFractions(t *testing.T) {
	hn, ha, lo, hi := histogram([]float64{0, 0, 1, 3}, []float64{3, math.NaN()}, 2)
	if lo != 0 || hi != 3 {
		t.Fatalf("range [%g,%g], want [0,3]", lo, hi)
	}
	if hn[0] != 0.5 || hn[10] != 0.25 || hn[histBins-1] != 0.25 {
		t.Errorf("normal fractions %v", hn)
	}
	if ha[histBins-1] != 1 {
		t.Errorf("anomalous fractions %v (NaN must be skipped)", ha)
	}
}
