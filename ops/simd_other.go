//go:build !amd64 || purego

package ops

// dw3Row1 computes out[i] = clamp(bv + 3×3 taps over rows r0..r2 from
// column i, lo, hi) (stride 1).
func dw3Row1(out, r0, r1, r2, wc []float32, bv, lo, hi float32) {
	dw3Row1Go(out, r0, r1, r2, wc, bv, lo, hi)
}

// addClamp sets row[i] = clamp(row[i]+b, lo, hi).
func addClamp(row []float32, b, lo, hi float32) { addClampGo(row, b, lo, hi) }

// dw3Row2 is the stride-2 row on even/odd split rows.
func dw3Row2(out []float32, e, o *[3][]float32, wc []float32, bv, lo, hi float32) {
	dw3Row2Go(out, e, o, wc, bv, lo, hi, 0)
}

// splitEvenOdd writes row's even columns to e and odd columns to o.
func splitEvenOdd(row, e, o []float32) { splitEvenOddGo(row, e, o, 0) }

// winoInRow transforms the n tiles of one tile row.
func winoInRow(v []float32, stride int, e, o *[4][]float32, n int) {
	winoInRowGo(v, stride, e, o, 0, n)
}

// winoOutRow finishes the tw tiles of one tile row.
func winoOutRow(r0, r1, m []float32, stride, tw, full int, bv, lo, hi float32) {
	winoOutRowGo(r0, r1, m, stride, tw, full, bv, lo, hi, 0)
}

// mergeEvenOdd interleaves e and o into dst.
func mergeEvenOdd(dst, e, o []float32) { mergeEvenOddGo(dst, e, o, 0) }

// maxInto sets dst[i] = max(dst[i], src[i]) with NaN winning.
func maxInto(dst, src []float32) { maxIntoGo(dst, src) }

// lerpRows sets dst[i] = a*r0[i] + b*r1[i].
func lerpRows(dst, r0, r1 []float32, a, b float32) { lerpRowsGo(dst, r0, r1, a, b) }

// addRow adds src into dst.
func addRow(dst, src []float32) { addRowGo(dst, src) }

// maxPool3s2Row sets out[i] = max of rows r0..r2 over columns 2i..2i+2
// (NaN winning); the rows hold 2·len(out)+1 values.
func maxPool3s2Row(out, r0, r1, r2 []float32) { maxPool3s2RowGo(out, r0, r1, r2, 0) }

// addReLU sets dst[i] = max(a[i]+b[i], 0); dst may alias a or b.
func addReLU(dst, a, b []float32) { addReLUGo(dst, a[:len(dst)], b[:len(dst)]) }

// dotF32 returns Σ a[i]·b[i] over len(a) values.
func dotF32(a, b []float32) float32 { return dotGo(a, b[:len(a)]) }

func reluMask(d, y []float32)       { reluMaskGo(d, y) }
func sigmoidSlice(dst, x []float32) { sigmoidGo(dst, x) }
func sigmoidGrad(d, y []float32)    { sigmoidGradGo(d, y) }

func winoGORows(r0, r1, d []float32, stride, tiles int) int { return 0 }

func splitPad1(src, e, o []float32) bool { return false }
