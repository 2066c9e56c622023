package geotrans

import (
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

// TestAxisMaps checks that every transformation's gather table, at even
// and odd-quarter sides, is a row and a column permutation of the plane or
// of its transpose, the transpose exactly for the odd quarter turns (the
// exported graph relies on it; axisMaps verifies every pixel).
func TestAxisMaps(t *testing.T) {
	for _, s := range []int{8, 12, 18} {
		for i, tr := range Transforms() {
			g := tr.Gather(s)
			rows, cols, transposed, err := axisMaps(g, s)
			if err != nil {
				t.Fatalf("side %d, %v: %v", s, tr, err)
			}
			if transposed != (tr.Rot%2 == 1) {
				t.Errorf("side %d, %v: transposed %v", s, tr, transposed)
			}
			// The maps are permutations (every source row/column once).
			for _, m := range [][]int{rows, cols} {
				seen := make([]bool, s)
				for _, v := range m {
					seen[v] = true
				}
				for v, ok := range seen {
					if !ok {
						t.Fatalf("side %d, transformation %d: %d is never a source", s, i, v)
					}
				}
			}
		}
	}
	if _, _, _, err := axisMaps([]int32{0, 2, 1, 3}, 2); err != nil {
		t.Errorf("the 2x2 transpose is a transposed identity: %v", err)
	}
	if _, _, _, err := axisMaps([]int32{1, 0, 2, 3}, 2); err == nil {
		t.Error("swapping two pixels of one row only is accepted as per-axis permutations")
	}
}

// TestExport runs the exported graph with Vigil's executor against Score
// for both scores, gray and colour. The Dirichlet scores are about −3.5e4
// here (a barely trained classifier gives confident Dirichlets), so their
// tolerance is looser: 5e-5 relative is 1.7 in absolute terms, while the
// images' scores differ by about 1000.
func TestExport(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
		tol       float64
	}{
		{"dirichlet-rgb", `{"size":8,"depth":10,"widen":1,"score":"dirichlet","dirichlet_images":0,"seed":1,"train":{"epochs":2,"batch_size":12,"lr":0.005}}`, 5e-5},
		{"mean_prob-gray", `{"size":8,"gray":true,"depth":10,"widen":1,"score":"mean_prob","seed":2,"train":{"epochs":2,"batch_size":12,"lr":0.005}}`, 1e-5},
	} {
		t.Run(c.name, func(t *testing.T) {
			detectortest.CheckExport(t, Name, c.cfg, 8, c.tol)
		})
	}
}
