package gemm

// packA copies the rows×kb block of alpha·op(A) starting at row i0,
// column p0 into dst as consecutive mr-row micro-panels: panel q holds
// rows q·mr..q·mr+mr-1, stored k step by k step (mr floats per step).
// Rows past the end are zero so that kernels may compute full panels.
func packA(dst []float32, transA bool, a []float32, lda, i0, rows, p0, kb, mr int, alpha float32) {
	for ir := 0; ir < rows; ir += mr {
		r := min(mr, rows-ir)
		d := dst[ir*kb : ir*kb+mr*kb]
		if transA {
			// op(A)[i][p] = a[p*lda+i]: each k step is a contiguous run.
			for p := 0; p < kb; p++ {
				src := a[(p0+p)*lda+i0+ir:]
				src = src[:r]
				dp := d[p*mr : p*mr+mr]
				for i, v := range src {
					dp[i] = alpha * v
				}
				clear(dp[r:])
			}
			continue
		}
		// op(A)[i][p] = a[i*lda+p]: each row is contiguous; interleave.
		for i := 0; i < r; i++ {
			src := a[(i0+ir+i)*lda+p0:]
			src = src[:kb]
			if alpha == 1 {
				for p, v := range src {
					d[p*mr+i] = v
				}
			} else {
				for p, v := range src {
					d[p*mr+i] = alpha * v
				}
			}
		}
		if r < mr {
			for p := 0; p < kb; p++ {
				clear(d[p*mr+r : p*mr+mr])
			}
		}
	}
}

// packB copies the kb×cols block of op(B) starting at row p0, column j0
// into dst as consecutive nr-column micro-panels (nr floats per k step),
// zero-padding columns past the end.
func packB(dst []float32, transB bool, b []float32, ldb, p0, kb, j0, cols, nr int) {
	for jr := 0; jr < cols; jr += nr {
		packBPanel(dst[jr*kb:jr*kb+nr*kb], transB, b, ldb, p0, kb, j0+jr, min(nr, cols-jr), nr)
	}
}

// packBPanel packs one kb×nr micro-panel of op(B) with c valid columns
// starting at column j0.
func packBPanel(d []float32, transB bool, b []float32, ldb, p0, kb, j0, c, nr int) {
	if transB {
		// op(B)[p][j] = b[j*ldb+p]: each column is a contiguous run.
		for j := 0; j < c; j++ {
			src := b[j0*ldb+j*ldb+p0:]
			src = src[:kb]
			for p, v := range src {
				d[p*nr+j] = v
			}
		}
		if c < nr {
			for p := 0; p < kb; p++ {
				clear(d[p*nr+c : p*nr+nr])
			}
		}
		return
	}
	for p := 0; p < kb; p++ {
		dp := d[p*nr : p*nr+nr]
		copy(dp[:c], b[(p0+p)*ldb+j0:])
		clear(dp[c:])
	}
}
