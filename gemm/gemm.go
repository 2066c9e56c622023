// Package gemm is single-precision general matrix multiply, the engine's
// hot loop: C = alpha*op(A)*op(B) + beta*C, row-major.
//
// The fast path follows the GotoBLAS/BLIS design: op(A) and op(B) are
// cut into cache-sized blocks (kc, mc, nc), packed into contiguous
// micro-panels (packing applies the transposition, alpha and zero padding)
// and multiplied by a register-blocked assembly micro-kernel: 14×32 with
// AVX-512, 6×16 with AVX2+FMA, chosen at run time, or a 4×4 Go kernel
// (other architectures, or the purego build tag). Large products are split
// into a grid of independent sub-products run by a persistent pool of up
// to GOMAXPROCS goroutines; packing buffers are pooled, so steady-state
// calls do not allocate.
package gemm

import (
	"fmt"
	"sync"
	"unsafe"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(A) is m×k (A is m×k with leading dimension lda, or k×m when
// transA) and op(B) is k×n (B is k×n with ldb, or n×k when transB); C is
// m×n with leading dimension ldc. beta == 0 means C is overwritten
// (it may hold garbage, even NaN).
//
// Sgemm is safe for concurrent use and runs large products on up to
// GOMAXPROCS goroutines. It panics when a dimension is negative, a leading
// dimension is too small or a slice is too short, like the reference BLAS.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm on the calling goroutine only, for callers that
// already parallelise over a batch of products.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sgemm(parallel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	ki := active.Load()
	if 2*n <= ki.nr && m >= ki.nr {
		sgemmNarrow(ki, parallel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	dispatch(ki, parallel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// dispatch runs the blocked algorithm serially or split over workers.
func dispatch(ki *kernelInfo, parallel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	wm, wn := 1, 1
	if parallel {
		wm, wn = plan(ki, m, n, k)
	}
	if wm*wn <= 1 {
		ws := getWorkspace()
		gemmBlocked(ki, ws, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		putWorkspace(ws)
		return
	}
	runParallel(ki, wm, wn, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmNarrow handles a C with few columns (matrix-vector products and
// the like), which would waste most of each nr-wide micro-tile: it
// computes C^T = op(B)^T·op(A)^T (n rows, m columns) into scratch, where
// the short side maps to the cheap kernel rows, then merges it into C.
func sgemmNarrow(ki *kernelInfo, parallel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sp := scratchPool.Get().(*[]float32)
	if cap(*sp) < n*m {
		*sp = make([]float32, n*m)
	}
	t := (*sp)[:n*m]
	dispatch(ki, parallel, !transB, !transA, n, m, k, alpha, b, ldb, a, lda, 0, t, m)
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = t[j*m+i]
			} else {
				row[j] = t[j*m+i] + beta*row[j]
			}
		}
	}
	scratchPool.Put(sp)
}

var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// checkArgs panics with a message naming the bad argument; the assembly
// kernels do no bounds checks, so this guards memory safety.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat("a", a, ar, ac, lda)
	checkMat("b", b, br, bc, ldb)
	checkMat("c", c, m, n, ldc)
}

func checkMat(name string, s []float32, rows, cols, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: ld%s=%d < max(1, %d columns)", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("gemm: len(%s)=%d < %d needed for %d×%d with ld%s=%d", name, len(s), need, rows, cols, name, ld))
	}
}

// scaleC sets C = beta*C, writing zeros (not beta*NaN) when beta == 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// split divides n into parts of at most max each, balanced, rounded up to
// a multiple of unit, so that the last block is not a sliver.
func split(n, maxBlock, unit int) int {
	if n <= maxBlock {
		return roundUp(n, unit)
	}
	parts := (n + maxBlock - 1) / maxBlock
	return roundUp((n+parts-1)/parts, unit)
}

func roundUp(n, unit int) int { return (n + unit - 1) / unit * unit }

// gemmBlocked is the serial blocked algorithm (BLIS loop order): for each
// nc column block and kc depth block, pack B; for each mc row block, pack
// A and run the macro-kernel over the micro-tiles.
func gemmBlocked(ki *kernelInfo, ws *workspace, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmBlockedPA(ki, ws, nil, 0, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmBlockedPA is gemmBlocked taking A's panels from pa (rows from pa's
// row pa0, a multiple of mr) instead of packing them, when pa is not nil.
func gemmBlockedPA(ki *kernelInfo, ws *workspace, pa *PackedA, pa0 int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := ki.mr, ki.nr
	kcMax, ncMax := ki.kc, ki.nc
	if n <= 4*nr {
		// Narrow B: the whole packed B block sits in L2 and each A panel
		// is used by at most 4 B panels, so A streaming dominates. Deeper
		// k blocks give longer sequential A rows (the hardware prefetcher
		// keeps up) and fewer passes over C. Measured ~6% on 3136×64×576.
		kcMax = ki.kc * 9 / 4
	}
	if m <= ki.mc {
		// One row block: narrower column blocks keep the C block in L2
		// across the k passes. Measured ~3% on 64×3136×576.
		ncMax = ki.nc / 2
	}
	kc := split(k, kcMax, 1)
	mc := split(m, ki.mc, mr)
	nc := split(n, ncMax, nr)
	na := mc * kc
	if pa != nil {
		na = 0 // A's panels come prepacked
	}
	ap, bp := ws.buffers(na, nc*kc)
	mk := macro{ki: ki, ws: ws, ap: ap, bp: bp, transA: transA, transB: transB,
		a: a, lda: lda, b: b, ldb: ldb, alpha: alpha, ldc: ldc, pa: pa, pa0: pa0}
	// With a single row block each B panel is used right after packing,
	// so it is packed lazily, while the A block is still hot; otherwise
	// the whole B block is packed once, streaming B's rows.
	mk.lazyB = m <= mc
	for jc := 0; jc < n; jc += nc {
		mk.jc, mk.nb = jc, min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			mk.pc, mk.kb = pc, min(kc, k-pc)
			mk.load, mk.beta = 1, 1
			if pc == 0 {
				mk.beta = beta
				if beta == 0 {
					mk.load = 0
				}
			}
			if !mk.lazyB {
				ki.packB(bp, transB, b, ldb, pc, mk.kb, jc, mk.nb, nr)
			}
			for ic := 0; ic < m; ic += mc {
				mk.ic, mk.mb = ic, min(mc, m-ic)
				mk.run(c[ic*ldc+jc:])
			}
		}
	}
}

// macro is the state of one macro-kernel call: the packed A block
// (mb×kb at row ic, packed lazily panel by panel during the first column
// panel) times the kb×nb B block (at column jc) into C.
type macro struct {
	ki             *kernelInfo
	ws             *workspace
	ap, bp         []float32
	transA, transB bool
	a, b           []float32
	lda, ldb, ldc  int
	alpha, beta    float32
	load           int
	lazyB          bool
	ic, jc, pc     int
	mb, nb, kb     int
	pa             *PackedA // prepacked A, or nil
	pa0            int      // pa's row of A's row 0
}

// run multiplies the blocks into c (C at row ic, column jc), one mr×nr
// micro-tile at a time, B micro-panel outer, A micro-panel inner.
func (mk *macro) run(c []float32) {
	ki, kb, mb, nb := mk.ki, mk.kb, mk.mb, mk.nb
	mr, nr := ki.mr, ki.nr
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		bpan := mk.bp[jr*kb : jr*kb+nr*kb]
		// The tile kernels of this panel prefetch the source rows of the
		// next lazily packed B panel (row-major B only: one row of nr
		// floats per kernel iteration), spread over the row tiles.
		pf, pfStride := uintptr(unsafe.Pointer(&bpan[0])), 0
		pfStep := uintptr(0)
		if mk.lazyB {
			ki.packBPanel(bpan, mk.transB, mk.b, mk.ldb, mk.pc, kb, mk.jc+jr, cols, nr)
			if next := jr + nr; next < nb && !mk.transB {
				pf = uintptr(unsafe.Pointer(&mk.b[mk.pc*mk.ldb+mk.jc+next]))
				pfStride = mk.ldb
				pfStep = uintptr(kb/4) * uintptr(pfStride) * 4
			} else if next < nb {
				// Transposed B: the next panel is nr rows of B along k;
				// each tile fetches the next 128 bytes of every row
				// (the L2 streamer follows on). ~5% on 64×576×3136.
				pf = uintptr(unsafe.Pointer(&mk.b[(mk.jc+next)*mk.ldb+mk.pc]))
				pfStride = mk.ldb
				pfStep = 128
			}
		}
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			var apan []float32
			if mk.pa != nil {
				apan = mk.pa.panel(mk.pa0+mk.ic+ir, mk.pc, kb)
			} else if apan = mk.ap[ir*kb : ir*kb+mr*kb]; jr == 0 {
				ki.packAPanel(apan, mk.transA, mk.a, mk.lda, mk.ic+ir, rows, mk.pc, kb, mr, mk.alpha)
				if !mk.lazyB && !mk.transA && mk.lda <= 2*kb && ir+mr < mb {
					// No B to prefetch: fetch the start of the next A
					// panel's rows instead, linearly, when they are
					// (nearly) contiguous (lda close to kb, as when k
					// fits one block). ~5% on 3136×64×576.
					pf = uintptr(unsafe.Pointer(&mk.a[(mk.ic+ir+mr)*mk.lda+mk.pc]))
					pfStride = 32
				}
			}
			if cols == nr {
				ki.rows[rows](kb, &apan[0], &bpan[0], &c[ir*mk.ldc+jr], mk.ldc, mk.load, mk.beta, pf, pfStride)
				pf += pfStep
				continue
			}
			// Column edge: compute into the tile buffer, then merge.
			tile := mk.ws.tile[:rows*nr]
			ki.rows[rows](kb, &apan[0], &bpan[0], &tile[0], nr, 0, 0, pf, pfStride)
			pf += pfStep
			for i := 0; i < rows; i++ {
				dst := c[(ir+i)*mk.ldc+jr : (ir+i)*mk.ldc+jr+cols]
				src := tile[i*nr : i*nr+cols]
				if mk.load == 0 {
					copy(dst, src)
				} else {
					for j := range dst {
						dst[j] = src[j] + mk.beta*dst[j]
					}
				}
			}
		}
	}
}

// workspace holds one goroutine's packing buffers, 64-byte aligned so the
// kernels' vector loads of B never split cache lines.
type workspace struct {
	abuf, bbuf []float32
	tile       [maxTile]float32
}

// maxTile bounds mr×nr over all kernel families.
const maxTile = 14 * 32

// buffers returns aligned slices of at least na and nb floats.
func (ws *workspace) buffers(na, nb int) (ap, bp []float32) {
	ws.abuf = growAligned(ws.abuf, na)
	ws.bbuf = growAligned(ws.bbuf, nb)
	return ws.abuf, ws.bbuf
}

// growAligned returns a 64-byte aligned slice of length n with at least
// packSlack floats of spare capacity: some assembly packers store whole
// vectors that run a few floats past the last panel.
func growAligned(s []float32, n int) []float32 {
	if cap(s) >= n+packSlack {
		return s[:n]
	}
	raw := make([]float32, n+packSlack+16)
	off := 0
	if mis := uintptr(unsafe.Pointer(&raw[0])) % 64; mis != 0 {
		off = int(64-mis) / 4
	}
	return raw[off : off+n : off+n+packSlack]
}

// packSlack is the overrun allowance of the packers (2 floats used).
const packSlack = 8

// sgemmRef is the straightforward triple loop; it is the reference the
// tests compare the fast paths with.
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
