package geotrans

import (
	"slices"
	"testing"
)

// compose returns the gather table of "a then b": out[i] = in[a[b[i]]].
func compose(a, b []int32) []int32 {
	out := make([]int32, len(a))
	for i := range out {
		out[i] = a[b[i]]
	}
	return out
}

func identity(n int) []int32 {
	id := make([]int32, n)
	for i := range id {
		id[i] = int32(i)
	}
	return id
}

// Every transformation is a bijection on pixels, the 72 are pairwise
// distinct, and the label order is the paper's.
func TestTransformsArePermutations(t *testing.T) {
	ts := Transforms()
	if len(ts) != NumTransforms {
		t.Fatalf("%d transformations", len(ts))
	}
	for _, s := range []int{8, 12} {
		seen := map[string]int{}
		for k, tr := range ts {
			g := tr.Gather(s)
			hit := make([]bool, s*s)
			for _, j := range g {
				if hit[j] {
					t.Fatalf("size %d, %v: pixel %d used twice", s, tr, j)
				}
				hit[j] = true
			}
			key := string(slices.Collect(func(yield func(rune) bool) {
				for _, j := range g {
					if !yield(rune(j)) {
						return
					}
				}
			}))
			if o, dup := seen[key]; dup {
				t.Fatalf("size %d: transformations %d and %d are the same permutation", s, o, k)
			}
			seen[key] = k
		}
	}
	if ts[0] != (Transform{}) || ts[1].Rot != 1 || ts[4].TY != -1 || ts[12].TX != -1 || ts[36].Flip != true || ts[71] != (Transform{Flip: true, TX: 1, TY: 1, Rot: 3}) {
		t.Fatalf("label order differs from the paper's: %v %v %v %v %v", ts[1], ts[4], ts[12], ts[36], ts[71])
	}
}

// Hand-checked pixels on a 4×4 plane and the group laws: flip twice and
// rotate four times are the identity, two quarter turns are a half turn
// (flip then half turn = vertical flip), and translations are cyclic
// (+1 then -1 is the identity; four +1 shifts of s/4 wrap around).
func TestTransformCompositions(t *testing.T) {
	const s = 4
	id := identity(s * s)
	flip := Transform{Flip: true}.Gather(s)
	rot := Transform{Rot: 1}.Gather(s)
	if !slices.Equal(compose(flip, flip), id) {
		t.Error("flip∘flip is not the identity")
	}
	r4 := id
	for i := 0; i < 4; i++ {
		r4 = compose(r4, rot)
	}
	if !slices.Equal(r4, id) {
		t.Error("four quarter turns are not the identity")
	}
	if !slices.Equal(compose(rot, rot), Transform{Rot: 2}.Gather(s)) {
		t.Error("two quarter turns differ from Rot 2")
	}
	// flip then half turn mirrors top-bottom: output (y,x) = input (s-1-y, x).
	fr2 := Transform{Flip: true, Rot: 2}.Gather(s)
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			if fr2[y*s+x] != int32((s-1-y)*s+x) {
				t.Fatalf("flip+rot180 at (%d,%d) reads %d", y, x, fr2[y*s+x])
			}
		}
	}
	// Counter-clockwise quarter turn: the top-right pixel moves to the top-left.
	if rot[0] != s-1 || rot[s*s-1] != int32((s-1)*s) {
		t.Errorf("rot90 reads %d at top-left and %d at bottom-right, want %d and %d", rot[0], rot[s*s-1], s-1, (s-1)*s)
	}
	// Shift right by s/4 = 1: output (y, x) shows input (y, x-1), wrapping.
	tx := Transform{TX: 1}.Gather(s)
	if tx[0*s+1] != 0 || tx[0] != s-1 {
		t.Errorf("shift right: (0,1) reads %d, (0,0) reads %d", tx[1], tx[0])
	}
	ty := Transform{TY: 1}.Gather(s)
	if ty[1*s+2] != 2 {
		t.Errorf("shift down: (1,2) reads %d, want 2", ty[1*s+2])
	}
	if !slices.Equal(compose(tx, Transform{TX: -1}.Gather(s)), id) {
		t.Error("shift right then left is not the identity")
	}
	w := id
	for i := 0; i < 4; i++ {
		w = compose(w, tx)
	}
	if !slices.Equal(w, id) {
		t.Error("four shifts by a quarter side do not wrap around to the identity")
	}
	// apply moves every channel the same way.
	src := make([]float32, 2*s*s)
	for i := range src {
		src[i] = float32(i)
	}
	dst := make([]float32, len(src))
	apply(dst, src, 2, rot)
	for i, j := range rot {
		if dst[i] != src[j] || dst[s*s+i] != src[s*s+int(j)] {
			t.Fatalf("apply: pixel %d", i)
		}
	}
}
