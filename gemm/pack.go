package gemm

// Packing routines shared by all kernel families. A kernel family may
// install faster (assembly) versions through kernelInfo.packA/packB; these
// Go versions are the fallback and handle every case.

// packAPanelFunc packs the r×kb block (r <= mr) of alpha·op(A) starting
// at row i0, column p0 into the micro-panel d, k step by k step (mr floats
// per step). Rows r..mr-1 are zero so that kernels may compute full panels.
type packAPanelFunc func(d []float32, transA bool, a []float32, lda, i0, r, p0, kb, mr int, alpha float32)

// packBPanelFunc packs the kb×c block (c <= nr) of op(B) starting at row
// p0, column j0 into the micro-panel d (nr floats per k step), with
// columns c..nr-1 zero.
type packBPanelFunc func(d []float32, transB bool, b []float32, ldb, p0, kb, j0, c, nr int)

// packBFunc packs the kb×cols block of op(B) starting at row p0, column
// j0 into dst as consecutive nr-column micro-panels (nr floats per k
// step), zero-padding columns past the end.
type packBFunc func(dst []float32, transB bool, b []float32, ldb, p0, kb, j0, cols, nr int)

// packAPanelGo is the Go packAPanelFunc.
func packAPanelGo(d []float32, transA bool, a []float32, lda, i0, r, p0, kb, mr int, alpha float32) {
	if transA {
		// op(A)[i][p] = a[p*lda+i]: each k step is a contiguous run.
		for p := 0; p < kb; p++ {
			src := a[(p0+p)*lda+i0:]
			src = src[:r]
			dp := d[p*mr : p*mr+mr]
			for i, v := range src {
				dp[i] = alpha * v
			}
			clear(dp[r:])
		}
		return
	}
	// op(A)[i][p] = a[i*lda+p]: each row is contiguous; interleave them.
	for i := 0; i < r; i++ {
		src := a[(i0+i)*lda+p0:]
		src = src[:kb]
		for p, v := range src {
			d[p*mr+i] = alpha * v
		}
	}
	if r < mr {
		for p := 0; p < kb; p++ {
			clear(d[p*mr+r : p*mr+mr])
		}
	}
}

func packBGo(dst []float32, transB bool, b []float32, ldb, p0, kb, j0, cols, nr int) {
	if transB {
		for jr := 0; jr < cols; jr += nr {
			packBPanelGo(dst[jr*kb:jr*kb+nr*kb], true, b, ldb, p0, kb, j0+jr, min(nr, cols-jr), nr)
		}
		return
	}
	// Row by row: each B row is read sequentially and cut into the panels.
	full := cols / nr * nr
	for p := 0; p < kb; p++ {
		row := b[(p0+p)*ldb+j0:]
		row = row[:full]
		for jr := 0; jr < full; jr += nr {
			copy(dst[jr*kb+p*nr:jr*kb+p*nr+nr], row[jr:jr+nr])
		}
	}
	if full < cols {
		packBPanelGo(dst[full*kb:full*kb+nr*kb], false, b, ldb, p0, kb, j0+full, cols-full, nr)
	}
}

// packBPanelGo is the Go packBPanelFunc.
func packBPanelGo(d []float32, transB bool, b []float32, ldb, p0, kb, j0, c, nr int) {
	if transB {
		// op(B)[p][j] = b[j*ldb+p]: each column is a contiguous run.
		for j := 0; j < c; j++ {
			src := b[(j0+j)*ldb+p0:]
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
