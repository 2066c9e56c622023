package gemm

import "fmt"

// PackedA is op(A) packed once into the active kernel's micro-panels, for
// products whose A is fixed over many calls (a layer's weights): each call
// then skips repacking A, which on deep convolution layers (512×4608
// weights, 49 output positions) costs about as much memory traffic as the
// product itself. Panels of mr rows hold every k step (mr floats each),
// so any k block [pc, pc+kb) of a panel is a contiguous slice and the
// blocking stays free to adapt to n per call. Safe for concurrent use;
// the source A must not change while the PackedA is used (it is kept for
// the narrow-product path, which multiplies the unpacked source).
type PackedA struct {
	ki     *kernelInfo
	transA bool
	m, k   int
	a      []float32
	lda    int
	data   []float32
}

// PackA packs op(A) (m×k; A is m×k with leading dimension lda, or k×m
// when transA) for SgemmPacked and SgemmPackedSerial with the kernel
// family active now. It panics like Sgemm on bad dimensions or slices.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	if m < 0 || k < 0 {
		panic(fmt.Sprintf("gemm.PackA: negative dimension m=%d k=%d", m, k))
	}
	if transA {
		checkMat("A", a, k, m, lda)
	} else {
		checkMat("A", a, m, k, lda)
	}
	ki := active.Load()
	mr := ki.mr
	panels := (m + mr - 1) / mr
	p := &PackedA{ki: ki, transA: transA, m: m, k: k, a: a, lda: lda}
	if m == 0 || k == 0 {
		return p
	}
	// Panels are packed in order: an assembly packer's few floats of
	// overrun land on the next panel before it is written (packSlack).
	p.data = growAligned(nil, panels*mr*k)
	for q := 0; q < panels; q++ {
		ki.packAPanel(p.data[q*mr*k:], transA, a, lda, q*mr, min(mr, m-q*mr), 0, k, mr, 1)
	}
	return p
}

// Rows and Depth return op(A)'s m and k.
func (p *PackedA) Rows() int  { return p.m }
func (p *PackedA) Depth() int { return p.k }

// panel returns the packed k block [pc, pc+kb) of the panel holding row i
// (a multiple of mr).
func (p *PackedA) panel(i, pc, kb int) []float32 {
	mr := p.ki.mr
	off := i*p.k + pc*mr
	return p.data[off : off+kb*mr]
}

// SgemmPacked computes C = op(A)·op(B) + beta·C with the packed A (m×k),
// op(B) k×n, C m×n, like Sgemm with alpha 1, on up to GOMAXPROCS
// goroutines.
func SgemmPacked(pa *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmPacked(true, pa, transB, n, b, ldb, beta, c, ldc)
}

// SgemmPackedSerial is SgemmPacked on the calling goroutine only.
func SgemmPackedSerial(pa *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmPacked(false, pa, transB, n, b, ldb, beta, c, ldc)
}

func sgemmPacked(parallel bool, pa *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	m, k := pa.m, pa.k
	ki := pa.ki
	if 2*n <= ki.nr && m >= ki.nr || k == 0 || m == 0 || n == 0 {
		// Few columns waste most of each packed tile: the transposed
		// narrow product on the source is faster (and trivial cases
		// need no packing).
		sgemm(parallel, pa.transA, transB, m, n, k, 1, pa.a, pa.lda, b, ldb, beta, c, ldc)
		return
	}
	checkArgs(pa.transA, transB, m, n, k, pa.a, pa.lda, b, ldb, c, ldc)
	wm, wn := 1, 1
	if parallel {
		wm, wn = plan(ki, m, n, k)
	}
	if wm*wn <= 1 {
		ws := getWorkspace()
		gemmBlockedPA(ki, ws, pa, 0, pa.transA, transB, m, n, k, 1, pa.a, pa.lda, b, ldb, beta, c, ldc)
		putWorkspace(ws)
		return
	}
	runParallelPA(ki, pa, wm, wn, pa.transA, transB, m, n, k, 1, pa.a, pa.lda, b, ldb, beta, c, ldc)
}
