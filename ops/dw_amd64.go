//go:build amd64 && !purego

package ops

import "golang.org/x/sys/cpu"

// dw3x16 computes out[i] = clamp(bv + Σ w[3r+c]·row_r[i+c], lo, hi) for
// i < n (n a multiple of 16) with AVX2+FMA; every row must hold n+2
// readable values.
//
//go:noescape
func dw3x16(out, r0, r1, r2 *float32, n int, w *float32, bv, lo, hi float32)

// addClamp8 sets x[i] = clamp(x[i]+b, lo, hi) for i < n (a multiple of 8).
//
//go:noescape
func addClamp8(x *float32, n int, b, lo, hi float32)

var haveSIMD = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dw3Row1 computes out[i] = clamp(bv + 3×3 taps over rows r0..r2 from
// column i, lo, hi) (stride 1): SIMD blocks of 16, scalar for the rest.
func dw3Row1(out, r0, r1, r2, wc []float32, bv, lo, hi float32) {
	n := len(out)
	r0, r1, r2, wc = r0[:n+2], r1[:n+2], r2[:n+2], wc[:9]
	done := 0
	if haveSIMD && n >= 16 {
		done = n &^ 15
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
