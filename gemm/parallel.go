package gemm

import (
	"runtime"
	"sync"
)

// Parallel products are split into a wm×wn grid of independent
// sub-products (row blocks × column blocks of C), each run by the serial
// blocked algorithm with its own packing buffers; no barriers are needed.
// The price is that A is packed wn times and B wm times in all, so the
// grid is chosen to minimise wn·m + wm·n: a 1-D split along the long side
// on 2 cores, a near-square grid on many.

// minParallelFMA is the multiply-add count below which fan-out costs more
// than it saves (a wake-up is a few microseconds).
const minParallelFMA = 1 << 19

// plan returns the worker grid for a product: wm row blocks times wn
// column blocks, wm·wn <= GOMAXPROCS; 1×1 means run serially.
func plan(ki *kernelInfo, m, n, k int) (wm, wn int) {
	w := runtime.GOMAXPROCS(0)
	if w <= 1 || m*n*k < minParallelFMA {
		return 1, 1
	}
	tilesM := (m + ki.mr - 1) / ki.mr
	tilesN := (n + ki.nr - 1) / ki.nr
	// Keep at least minParallelFMA of work per worker.
	w = min(w, m*n*k/minParallelFMA)
	for ; w > 1; w-- {
		best := -1
		for f := 1; f <= w; f++ {
			if w%f != 0 {
				continue
			}
			gm, gn := f, w/f
			if gm > tilesM || gn > tilesN {
				continue
			}
			cost := gn*m + gm*n
			if best < 0 || cost < best || (cost == best && tilesM/gm > tilesN/gn) {
				best, wm, wn = cost, gm, gn
			}
		}
		if best >= 0 {
			return wm, wn
		}
	}
	return 1, 1
}

// job is one worker's share of a parallel product.
type job struct {
	ki             *kernelInfo
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	done           *sync.WaitGroup
	pa             *PackedA // prepacked A (rows from pa0), or nil
	pa0            int
}

func (j *job) run() {
	ws := getWorkspace()
	gemmBlockedPA(j.ki, ws, j.pa, j.pa0, j.transA, j.transB, j.m, j.n, j.k, j.alpha, j.a, j.lda, j.b, j.ldb, j.beta, j.c, j.ldc)
	putWorkspace(ws)
}

var (
	poolMu      sync.Mutex
	poolWorkers int
	jobs        = make(chan job, 64)
	wgPool      = sync.Pool{New: func() any { return new(sync.WaitGroup) }}
	wsPool      = sync.Pool{New: func() any { return new(workspace) }}
)

func getWorkspace() *workspace   { return wsPool.Get().(*workspace) }
func putWorkspace(ws *workspace) { wsPool.Put(ws) }

// ensureWorkers starts pool goroutines until there are at least n; they
// live for the life of the process and sleep on the job channel.
func ensureWorkers(n int) {
	poolMu.Lock()
	for poolWorkers < n {
		poolWorkers++
		go func() {
			for j := range jobs {
				j.run()
				j.done.Done()
			}
		}()
	}
	poolMu.Unlock()
}

// runParallel runs the product as a wm×wn grid of sub-products; the
// caller runs the first.
func runParallel(ki *kernelInfo, wm, wn int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	runParallelPA(ki, nil, wm, wn, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// runParallelPA is runParallel taking A's panels from pa when not nil
// (row blocks are whole micro-tiles, so they start on pa's panels).
func runParallelPA(ki *kernelInfo, pa *PackedA, wm, wn int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ensureWorkers(wm*wn - 1)
	wg := wgPool.Get().(*sync.WaitGroup)
	tilesM := (m + ki.mr - 1) / ki.mr
	tilesN := (n + ki.nr - 1) / ki.nr
	var first job
	for pi := 0; pi < wm; pi++ {
		// Row block pi: whole micro-tiles, balanced to within one.
		r0 := pi * tilesM / wm * ki.mr
		r1 := min(m, (pi+1)*tilesM/wm*ki.mr)
		for pj := 0; pj < wn; pj++ {
			c0 := pj * tilesN / wn * ki.nr
			c1 := min(n, (pj+1)*tilesN/wn*ki.nr)
			j := job{ki: ki, transA: transA, transB: transB, m: r1 - r0, n: c1 - c0, k: k,
				alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc, done: wg,
				c: c[r0*ldc+c0:], pa: pa, pa0: r0}
			if transA {
				j.a = a[r0:]
			} else {
				j.a = a[r0*lda:]
			}
			if transB {
				j.b = b[c0*ldb:]
			} else {
				j.b = b[c0:]
			}
			if pi == 0 && pj == 0 {
				first = j
				continue
			}
			wg.Add(1)
			jobs <- j
		}
	}
	first.run()
	wg.Wait()
	wgPool.Put(wg)
}
