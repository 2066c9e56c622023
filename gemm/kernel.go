package gemm

import (
	"sync/atomic"
	"unsafe"
)

// microKernel computes an r×nr tile C = A·B (+ beta·C when load != 0)
// from a packed A panel (mr floats per k step) and a packed B panel
// (nr floats per k step). When load == 0 the tile is stored without
// reading C, so C may hold NaN garbage. Meanwhile it prefetches the
// lines at pf + i·pfStride floats, one per few k steps (pf is a plain
// address: it may point past any object, prefetches never fault).
type microKernel func(k int, a, b, c *float32, ldc int, load int, beta float32, pf uintptr, pfStride int)

// kernelInfo describes one micro-kernel family and its cache blocking.
type kernelInfo struct {
	name   string
	mr, nr int
	// rows[r] computes r rows (1 <= r <= mr); rows[0] is unused.
	rows []microKernel
	// kc, mc, nc are the maximal blocking sizes: the kc×nr B micro-panel
	// stays in L1, the mc×kc A block in L2; nc keeps the kc×nc B block
	// within about half of a large L2, else in L3.
	kc, mc, nc int
	// packAPanel and packBPanel fill one packed micro-panel in this
	// family's layout; packB fills a whole block.
	packAPanel packAPanelFunc
	packBPanel packBPanelFunc
	packB      packBFunc
}

// kernels lists the kernel families this CPU and build can run, fastest
// first; generic is always last.
var kernels []*kernelInfo

// active is the kernel family Sgemm uses.
var active atomic.Pointer[kernelInfo]

func init() {
	kernels = append(platformKernels(), genericKernel)
	active.Store(kernels[0])
}

// Kernel returns the name of the micro-kernel family in use: "avx512",
// "avx2" or "generic".
func Kernel() string { return active.Load().name }

// Generic kernel: 4×4 tile in plain Go with the 16 accumulators in
// locals, the fallback for other architectures and the purego build.
const mrGeneric, nrGeneric = 4, 4

var genericKernel = &kernelInfo{
	name: "generic",
	mr:   mrGeneric, nr: nrGeneric,
	rows: []microKernel{nil, genericR1, genericR2, genericR3, genericR4},
	kc:   256, mc: 128, nc: 1024,
	packAPanel: packAPanelGo, packBPanel: packBPanelGo, packB: packBGo,
}

func genericR1(k int, a, b, c *float32, ldc int, load int, beta float32, _ uintptr, _ int) {
	genericTile(1, k, a, b, c, ldc, load, beta)
}
func genericR2(k int, a, b, c *float32, ldc int, load int, beta float32, _ uintptr, _ int) {
	genericTile(2, k, a, b, c, ldc, load, beta)
}
func genericR3(k int, a, b, c *float32, ldc int, load int, beta float32, _ uintptr, _ int) {
	genericTile(3, k, a, b, c, ldc, load, beta)
}
func genericR4(k int, a, b, c *float32, ldc int, load int, beta float32, _ uintptr, _ int) {
	genericTile(4, k, a, b, c, ldc, load, beta)
}

// genericTile computes the full padded 4×4 tile (packing zero-pads the
// missing rows) and stores its first r rows.
func genericTile(r, k int, a, b, c *float32, ldc int, load int, beta float32) {
	ap := unsafe.Slice(a, k*mrGeneric)
	bp := unsafe.Slice(b, k*nrGeneric)
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for p := 0; p < k; p++ {
		bb := bp[p*nrGeneric : p*nrGeneric+4 : p*nrGeneric+4]
		aa := ap[p*mrGeneric : p*mrGeneric+4 : p*mrGeneric+4]
		b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
		a0, a1, a2, a3 := aa[0], aa[1], aa[2], aa[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	acc := [mrGeneric][nrGeneric]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	cp := unsafe.Slice(c, (r-1)*ldc+nrGeneric)
	for i := 0; i < r; i++ {
		row := cp[i*ldc : i*ldc+nrGeneric : i*ldc+nrGeneric]
		if load == 0 {
			copy(row, acc[i][:])
		} else {
			for j := range row {
				row[j] = acc[i][j] + beta*row[j]
			}
		}
	}
}
