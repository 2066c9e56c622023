package geotrans

import "fmt"

// NumTransforms is the number of geometric transformations: horizontal
// flip (2) × horizontal translation (3) × vertical translation (3) ×
// rotation by a multiple of 90° (4).
const NumTransforms = 72

// Transform is one geometric transformation, applied as flip, then
// translation, then rotation (Golan & El-Yaniv 2018, section 5).
type Transform struct {
	Flip   bool // mirror left-right
	TX, TY int  // translation in quarters of the image side: -1, 0 or +1 (right, down positive)
	Rot    int  // counter-clockwise rotation by Rot·90°, 0..3
}

// Transforms returns the 72 transformations in label order: index
// ((flip·3 + tx')·3 + ty')·4 + rot, with tx', ty' = 0, 1, 2 for 0, −1, +1
// (the paper's itertools.product order).
func Transforms() []Transform {
	shifts := []int{0, -1, 1}
	ts := make([]Transform, 0, NumTransforms)
	for _, f := range []bool{false, true} {
		for _, tx := range shifts {
			for _, ty := range shifts {
				for r := 0; r < 4; r++ {
					ts = append(ts, Transform{Flip: f, TX: tx, TY: ty, Rot: r})
				}
			}
		}
	}
	return ts
}

func (t Transform) String() string {
	return fmt.Sprintf("flip=%v tx=%+d ty=%+d rot=%d", t.Flip, t.TX, t.TY, 90*t.Rot)
}

// Gather returns, for an s×s plane, the source pixel index of every output
// pixel (out[i] = in[g[i]]). Translations wrap around (a cyclic shift by
// s/4), so every transformation is a permutation of the pixels: nothing is
// invented at the border and nothing lost.
func (t Transform) Gather(s int) []int32 {
	idx := make([]int32, s*s)
	for i := range idx {
		idx[i] = int32(i)
	}
	tmp := make([]int32, s*s)
	if t.Flip {
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				tmp[y*s+x] = idx[y*s+s-1-x]
			}
		}
		idx, tmp = tmp, idx
	}
	if t.TX != 0 || t.TY != 0 {
		dx, dy := t.TX*(s/4), t.TY*(s/4)
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				sy, sx := ((y-dy)%s+s)%s, ((x-dx)%s+s)%s
				tmp[y*s+x] = idx[sy*s+sx]
			}
		}
		idx, tmp = tmp, idx
	}
	for r := 0; r < t.Rot; r++ {
		// One counter-clockwise quarter turn (numpy's rot90): output
		// (y, x) shows input (x, s-1-y).
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				tmp[y*s+x] = idx[x*s+s-1-y]
			}
		}
		idx, tmp = tmp, idx
	}
	return idx
}

// gatherTables returns Gather(s) for all 72 transformations.
func gatherTables(s int) [][]int32 {
	ts := Transforms()
	g := make([][]int32, len(ts))
	for i, t := range ts {
		g[i] = t.Gather(s)
	}
	return g
}

// apply writes the transformed c×s×s image src into dst with gather table g.
func apply(dst, src []float32, c int, g []int32) {
	hw := len(g)
	for ch := 0; ch < c; ch++ {
		d, s := dst[ch*hw:(ch+1)*hw], src[ch*hw:(ch+1)*hw]
		for i, j := range g {
			d[i] = s[j]
		}
	}
}
