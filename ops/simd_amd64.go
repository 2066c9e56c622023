//go:build amd64 && !purego

// AVX2+FMA kernels (simd_amd64.s) for the loops Go cannot vectorise:
// depthwise rows, epilogue clamps, even/odd column splits and merges,
// Winograd transforms, max pooling and row blends. Each has a portable Go
// twin that handles tails and other architectures (simd_other.go, or the
// purego build tag); the tests compare the two.

package ops

import "golang.org/x/sys/cpu"

// dw3x16 computes out[i] = clamp(bv + Σ w[3r+c]·row_r[i+c], lo, hi) for
// i < n (n a multiple of 8) with AVX2+FMA; every row must hold n+2
// readable values.
//
//go:noescape
func dw3x16(out, r0, r1, r2 *float32, n int, w *float32, bv, lo, hi float32)

// addClamp8 sets x[i] = clamp(x[i]+b, lo, hi) for i < n (a multiple of 8).
//
//go:noescape
func addClamp8(x *float32, n int, b, lo, hi float32)

// dw3s2x16 is the stride-2 3×3 depthwise row on even/odd split rows:
// out[i] = clamp(bv + Σ_r w[3r]·e_r[i] + w[3r+1]·o_r[i] + w[3r+2]·e_r[i+1])
// for i < n (a multiple of 8).
//
//go:noescape
func dw3s2x16(out, e0, o0, e1, o1, e2, o2 *float32, n int, w *float32, bv, lo, hi float32)

var haveSIMD = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dw3Row1 computes out[i] = clamp(bv + 3×3 taps over rows r0..r2 from
// column i, lo, hi) (stride 1): SIMD blocks of 8, scalar for the rest.
func dw3Row1(out, r0, r1, r2, wc []float32, bv, lo, hi float32) {
	n := len(out)
	r0, r1, r2, wc = r0[:n+2], r1[:n+2], r2[:n+2], wc[:9]
	done := 0
	if haveSIMD && n >= 8 {
		done = n &^ 7
		dw3x16(&out[0], &r0[0], &r1[0], &r2[0], done, &wc[0], bv, lo, hi)
	}
	dw3Row1Go(out[done:], r0[done:], r1[done:], r2[done:], wc, bv, lo, hi)
}

// addClamp sets row[i] = clamp(row[i]+b, lo, hi).
func addClamp(row []float32, b, lo, hi float32) {
	done := 0
	if haveSIMD && len(row) >= 8 {
		done = len(row) &^ 7
		addClamp8(&row[0], done, b, lo, hi)
	}
	addClampGo(row[done:], b, lo, hi)
}

// dw3Row2 is the stride-2 row on even/odd split rows e[r], o[r] (e holding
// len(out)+1 values, o len(out)).
func dw3Row2(out []float32, e, o *[3][]float32, wc []float32, bv, lo, hi float32) {
	n := len(out)
	done := 0
	if haveSIMD && n >= 8 {
		done = n &^ 7
		dw3s2x16(&out[0], &e[0][0], &o[0][0], &e[1][0], &o[1][0], &e[2][0], &o[2][0], done, &wc[0], bv, lo, hi)
	}
	dw3Row2Go(out, e, o, wc, bv, lo, hi, done)
}

// splitEO8 sets e[i] = src[2i], o[i] = src[2i+1] for i < n (a multiple of 8).
//
//go:noescape
func splitEO8(src, e, o *float32, n int)

// splitEvenOdd writes row's even columns to e and odd columns to o (as
// many as they hold; row has at least 2*len(o) and 2*len(e)-1 values).
func splitEvenOdd(row, e, o []float32) {
	done := 0
	if haveSIMD {
		done = min(len(e), len(o), len(row)/2) &^ 7
		if done > 0 {
			splitEO8(&row[0], &e[0], &o[0], done)
		}
	}
	splitEvenOddGo(row, e, o, done)
}

// winoIn8 is the Winograd input transform of n tiles (a multiple of 8)
// from even/odd split rows (see winoInRowGo).
//
//go:noescape
func winoIn8(e0, o0, e1, o1, e2, o2, e3, o3, v *float32, stride, n int)

// winoOut8 is the Winograd output transform of n tiles (a multiple of 8)
// writing both output rows (see winoOutRowGo).
//
//go:noescape
func winoOut8(m *float32, stride, n int, out0, out1 *float32, bv, lo, hi float32)

// winoInRow transforms the n tiles of one tile row.
func winoInRow(v []float32, stride int, e, o *[4][]float32, n int) {
	if !haveSIMD || n < 8 {
		winoInRowGo(v, stride, e, o, 0, n)
		return
	}
	_ = v[15*stride+n-1]
	for r := 0; r < 4; r++ {
		_, _ = e[r][n], o[r][n]
	}
	winoIn8(&e[0][0], &o[0][0], &e[1][0], &o[1][0], &e[2][0], &o[2][0], &e[3][0], &o[3][0], &v[0], stride, n&^7)
	if k := n - 8; n&7 != 0 {
		// The last eight tiles again: recomputing overlapped tiles writes
		// the same values, and beats a scalar tail.
		winoIn8(&e[0][k], &o[0][k], &e[1][k], &o[1][k], &e[2][k], &o[2][k], &e[3][k], &o[3][k], &v[k], stride, 8)
	}
}

// winoOutRow finishes the tw tiles of one tile row.
func winoOutRow(r0, r1, m []float32, stride, tw, full int, bv, lo, hi float32) {
	if !haveSIMD || r1 == nil || full < 8 {
		winoOutRowGo(r0, r1, m, stride, tw, full, bv, lo, hi, 0)
		return
	}
	_, _, _ = m[15*stride+full-1], r0[2*full-1], r1[2*full-1]
	winoOut8(&m[0], stride, full&^7, &r0[0], &r1[0], bv, lo, hi)
	if k := full - 8; full&7 != 0 {
		winoOut8(&m[k], stride, 8, &r0[2*k], &r1[2*k], bv, lo, hi) // overlapping last block
	}
	winoOutRowGo(r0, r1, m, stride, tw, full, bv, lo, hi, full)
}

// mergeEO8 sets dst[2i] = e[i], dst[2i+1] = o[i] for i < n (a multiple of 8).
//
//go:noescape
func mergeEO8(dst, e, o *float32, n int)

// mergeEvenOdd interleaves e and o into dst (dst[2i] = e[i],
// dst[2i+1] = o[i]) for as many values as dst holds.
func mergeEvenOdd(dst, e, o []float32) {
	done := 0
	if haveSIMD {
		done = min(len(e), len(o), len(dst)/2) &^ 7
		if done > 0 {
			mergeEO8(&dst[0], &e[0], &o[0], done)
		}
	}
	mergeEvenOddGo(dst, e, o, done)
}

// maxInto8 sets dst[i] = max(dst[i], src[i]) for i < n (a multiple of 8),
// NaN winning.
//
//go:noescape
func maxInto8(dst, src *float32, n int)

// maxInto sets dst[i] = max(dst[i], src[i]) with NaN winning; src holds at
// least len(dst) values.
func maxInto(dst, src []float32) {
	done := 0
	if haveSIMD && len(dst) >= 8 {
		done = len(dst) &^ 7
		_ = src[done-1]
		maxInto8(&dst[0], &src[0], done)
	}
	maxIntoGo(dst[done:], src[done:])
}

// lerp8 sets dst[i] = a*r0[i] + b*r1[i] for i < n (a multiple of 8).
//
//go:noescape
func lerp8(dst, r0, r1 *float32, n int, a, b float32)

// lerpRows sets dst[i] = a*r0[i] + b*r1[i].
func lerpRows(dst, r0, r1 []float32, a, b float32) {
	done := 0
	if haveSIMD && len(dst) >= 8 {
		done = len(dst) &^ 7
		_, _ = r0[done-1], r1[done-1]
		lerp8(&dst[0], &r0[0], &r1[0], done, a, b)
	}
	lerpRowsGo(dst[done:], r0[done:], r1[done:], a, b)
}

// addInto8 adds src[i] to dst[i] for i < n (a multiple of 8).
//
//go:noescape
func addInto8(dst, src *float32, n int)

// addRow adds src into dst (src holds at least len(dst) values).
func addRow(dst, src []float32) {
	done := 0
	if haveSIMD && len(dst) >= 8 {
		done = len(dst) &^ 7
		_ = src[done-1]
		addInto8(&dst[0], &src[0], done)
	}
	addRowGo(dst[done:], src[done:])
}

// maxPool3s2x8 sets out[i] to the maximum of rows r0..r2 over columns
// 2i..2i+2 for i < n (a multiple of 8), NaN when the window holds one;
// every row must hold 2n+1 readable values.
//
//go:noescape
func maxPool3s2x8(out, r0, r1, r2 *float32, n int)

// maxPool3s2Row sets out[i] = max of rows r0..r2 over columns 2i..2i+2
// (NaN winning); the rows hold 2·len(out)+1 values.
func maxPool3s2Row(out, r0, r1, r2 []float32) {
	n := len(out)
	r0, r1, r2 = r0[:2*n+1], r1[:2*n+1], r2[:2*n+1]
	if !haveSIMD || n < 8 {
		maxPool3s2RowGo(out, r0, r1, r2, 0)
		return
	}
	maxPool3s2x8(&out[0], &r0[0], &r1[0], &r2[0], n&^7)
	if t := n - 8; n%8 != 0 { // the tail as one overlapping block
		maxPool3s2x8(&out[t], &r0[2*t], &r1[2*t], &r2[2*t], 8)
	}
}

// addReLU8 sets dst[i] = max(a[i]+b[i], 0) for i < n (a multiple of 8).
//
//go:noescape
func addReLU8(dst, a, b *float32, n int)

// addReLU sets dst[i] = max(a[i]+b[i], 0); dst may alias a or b.
func addReLU(dst, a, b []float32) {
	n := len(dst)
	a, b = a[:n], b[:n]
	done := 0
	if haveSIMD && n >= 8 {
		done = n &^ 7
		addReLU8(&dst[0], &a[0], &b[0], done)
	}
	addReLUGo(dst[done:], a[done:], b[done:])
}

// dot32 returns Σ a[i]·b[i] for i < n (a multiple of 32).
//
//go:noescape
func dot32(a, b *float32, n int) float32

// dotF32 returns Σ a[i]·b[i] over len(a) values (b holds at least as many).
func dotF32(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	done := 0
	var s float32
	if haveSIMD && n >= 32 {
		done = n &^ 31
		s = dot32(&a[0], &b[0], done)
	}
	return s + dotGo(a[done:], b[done:])
}

// reluMask8, sigmoid8 and sigmoidGrad8 are the vector bodies of ReLUMask,
// SigmoidSlices and SigmoidGradSlices for n a multiple of 8.
//
//go:noescape
func reluMask8(d, y *float32, n int)

//go:noescape
func sigmoid8(dst, x *float32, n int)

//go:noescape
func sigmoidGrad8(d, y *float32, n int)

func reluMask(d, y []float32)       { pairwise8(d, y, reluMask8, reluMaskGo) }
func sigmoidSlice(dst, x []float32) { pairwise8(dst, x, sigmoid8, sigmoidGo) }
func sigmoidGrad(d, y []float32)    { pairwise8(d, y, sigmoidGrad8, sigmoidGradGo) }

// pairwise8 runs an elementwise kernel over d and s (len(s) >= len(d)):
// vec on the leading multiple of 8, tail (the portable version) on the
// rest.
func pairwise8(d, s []float32, vec func(d, s *float32, n int), tail func(d, s []float32)) {
	done := 0
	if haveSIMD && len(d) >= 8 {
		done = len(d) &^ 7
		_ = s[done-1]
		vec(&d[0], &s[0], done)
	}
	tail(d[done:], s[done:])
}

// winoGO8 is the weight-gradient output-tile transform of n dY tiles (a
// multiple of 8) from two full rows; component k of tile i goes to
// d[k*stride+i].
//
//go:noescape
func winoGO8(r0, r1, d *float32, stride, n int)

// winoGORows transforms the first tiles of rows r0, r1 (both full, 2 values
// per tile) into d (component pitch stride) with the vector kernel and
// returns how many it did (a multiple of 8, at most tiles).
func winoGORows(r0, r1, d []float32, stride, tiles int) int {
	n := tiles &^ 7
	if !haveSIMD || n == 0 {
		return 0
	}
	_, _ = r0[2*n-1], r1[2*n-1]
	_ = d[15*stride+n-1]
	winoGO8(&r0[0], &r1[0], &d[0], stride, n)
	return n
}

// splitPad1 splits the row [0, src..., 0] into its even columns e
// (0, src[1], src[3], ...) and odd columns o (src[0], src[2], ..., 0), each
// len(src)/2+1 long, with one vector pass; len(src) must be a multiple of
// 16. It reports false, writing nothing, without SIMD.
func splitPad1(src, e, o []float32) bool {
	h := len(src) / 2
	if !haveSIMD || h == 0 {
		return false
	}
	_, _ = e[h], o[h]
	splitEO8(&src[0], &o[0], &e[1], h)
	e[0], o[h] = 0, 0
	return true
}
