package label

import (
	"math/rand/v2"
	"testing"
)

// reference labels by recursive depth-first flood fill over an explicit
// neighbour list — a different traversal and numbering pass than
// Components — then renumbers in raster order of first pixels.
func reference(fg []bool, w, h int, eight bool) ([]int32, []int) {
	lab := make([]int32, w*h)
	var areas []int
	var fill func(y, x int, l int32) int
	fill = func(y, x int, l int32) int {
		if y < 0 || y >= h || x < 0 || x >= w || !fg[y*w+x] || lab[y*w+x] != 0 {
			return 0
		}
		lab[y*w+x] = l
		n := 1
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				if (dy == 0 && dx == 0) || (!eight && dy != 0 && dx != 0) {
					continue
				}
				n += fill(y+dy, x+dx, l)
			}
		}
		return n
	}
	var next int32
	for i := range fg {
		if fg[i] && lab[i] == 0 {
			next++
			areas = append(areas, fill(i/w, i%w, next))
		}
	}
	return lab, areas
}

func TestComponentsMatchFloodFill(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 300; trial++ {
		w, h := 1+rng.IntN(17), 1+rng.IntN(13)
		density := rng.Float64()
		fg := make([]bool, w*h)
		for i := range fg {
			fg[i] = rng.Float64() < density
		}
		for _, eight := range []bool{false, true} {
			labels := make([]int32, w*h)
			for i, f := range fg {
				if f {
					labels[i] = -1
				}
			}
			n, areas := Components(labels, w, h, eight, make([]int32, w*h), nil)
			want, wantAreas := reference(fg, w, h, eight)
			if n != len(wantAreas) {
				t.Fatalf("trial %d eight=%v: %d components, want %d", trial, eight, n, len(wantAreas))
			}
			for i := range want {
				if labels[i] != want[i] {
					t.Fatalf("trial %d eight=%v: pixel %d label %d, want %d", trial, eight, i, labels[i], want[i])
				}
			}
			for l := range areas {
				if areas[l] != wantAreas[l] {
					t.Fatalf("trial %d eight=%v: area of %d is %d, want %d", trial, eight, l+1, areas[l], wantAreas[l])
				}
			}
		}
	}
}

func TestDiagonalJoinsOnlyWithEight(t *testing.T) {
	// X pattern: 5 pixels touching only at corners.
	w, h := 3, 3
	pattern := []int32{-1, 0, -1, 0, -1, 0, -1, 0, -1}
	for _, c := range []struct {
		eight bool
		n     int
	}{{false, 5}, {true, 1}} {
		labels := append([]int32(nil), pattern...)
		n, areas := Components(labels, w, h, c.eight, make([]int32, 9), nil)
		if n != c.n || len(areas) != c.n {
			t.Fatalf("eight=%v: %d components %v, want %d", c.eight, n, areas, c.n)
		}
	}
}
