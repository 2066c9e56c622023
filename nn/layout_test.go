package nn

import (
	"math/rand/v2"
	"testing"
)

// TestSpaceToBatchLayout checks the documented index formula by hand and
// that BatchToSpace undoes SpaceToBatch exactly.
func TestSpaceToBatchLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randT(rng, -1, 1, 2, 3, 6, 4)
	y := SpaceToBatch(NewVar(x), 2)
	if got := y.Value.Shape; got[0] != 8 || got[1] != 3 || got[2] != 3 || got[3] != 2 {
		t.Fatalf("shape %v, want [8 3 3 2]", got)
	}
	for dy := 0; dy < 2; dy++ {
		for dx := 0; dx < 2; dx++ {
			for n := 0; n < 2; n++ {
				for c := 0; c < 3; c++ {
					for i := 0; i < 3; i++ {
						for j := 0; j < 2; j++ {
							got := y.Value.Data[((((dy*2+dx)*2+n)*3+c)*3+i)*2+j]
							want := x.Data[((n*3+c)*6+2*i+dy)*4+2*j+dx]
							if got != want {
								t.Fatalf("out[%d,%d,%d,%d] = %g, want x[%d,%d,%d,%d] = %g", (dy*2+dx)*2+n, c, i, j, got, n, c, 2*i+dy, 2*j+dx, want)
							}
						}
					}
				}
			}
		}
	}
	back := BatchToSpace(y, 2)
	for i, v := range back.Value.Data {
		if v != x.Data[i] {
			t.Fatalf("round trip differs at %d: %g vs %g", i, v, x.Data[i])
		}
	}
	tr := Transpose(NewVar(randT(rng, -1, 1, 3, 5)))
	if s := tr.Value.Shape; s[0] != 5 || s[1] != 3 {
		t.Fatalf("transpose shape %v", s)
	}
}

func TestLayoutGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gradCheck(t, "SpaceToBatch", func(in []*Var) *Var { return SpaceToBatch(in[0], 3) }, randT(rng, -1, 1, 2, 2, 6, 3))
	gradCheck(t, "BatchToSpace", func(in []*Var) *Var { return BatchToSpace(in[0], 2) }, randT(rng, -1, 1, 8, 2, 3, 2))
	gradCheck(t, "Transpose", func(in []*Var) *Var { return Transpose(in[0]) }, randT(rng, -1, 1, 4, 7))
}
