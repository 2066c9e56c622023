package gemm

import (
	"runtime"
	"sync"
)

// Parallel products are split into w independent sub-products along the
// dimension with more micro-tiles (rows of C or columns of C), each run by
// the serial blocked algorithm with its own packing buffers. With the
// split on n each worker packs its own B columns and the (smaller) A is
// packed by all; no barriers are needed.

// minParallelFMA is the multiply-add count below which fan-out costs more
// than it saves (a wake-up is a few microseconds).
const minParallelFMA = 1 << 19

// workersFor returns how many goroutines the product should use.
func workersFor(ki *kernelInfo, m, n, k int) int {
	w := runtime.GOMAXPROCS(0)
	if w <= 1 || m*n*k < minParallelFMA {
		return 1
	}
	tiles := max((m+ki.mr-1)/ki.mr, (n+ki.nr-1)/ki.nr)
	// Keep at least two micro-tiles and minParallelFMA of work per worker.
	w = min(w, tiles/2, m*n*k/minParallelFMA)
	return max(w, 1)
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
}

func (j *job) run() {
	ws := getWorkspace()
	gemmBlocked(j.ki, ws, j.transA, j.transB, j.m, j.n, j.k, j.alpha, j.a, j.lda, j.b, j.ldb, j.beta, j.c, j.ldc)
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

// runParallel splits the product into w parts; the caller runs the first.
func runParallel(ki *kernelInfo, w int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ensureWorkers(w - 1)
	wg := wgPool.Get().(*sync.WaitGroup)
	tilesM := (m + ki.mr - 1) / ki.mr
	tilesN := (n + ki.nr - 1) / ki.nr
	var first job
	for part := 0; part < w; part++ {
		j := job{ki: ki, transA: transA, transB: transB, k: k, alpha: alpha, beta: beta,
			a: a, lda: lda, b: b, ldb: ldb, ldc: ldc, done: wg}
		if tilesN >= tilesM {
			lo := part * tilesN / w * ki.nr
			hi := min(n, (part+1)*tilesN/w*ki.nr)
			j.m, j.n = m, hi-lo
			if transB {
				j.b = b[lo*ldb:]
			} else {
				j.b = b[lo:]
			}
			j.c = c[lo:]
		} else {
			lo := part * tilesM / w * ki.mr
			hi := min(m, (part+1)*tilesM/w*ki.mr)
			j.m, j.n = hi-lo, n
			if transA {
				j.a = a[lo:]
			} else {
				j.a = a[lo*lda:]
			}
			j.c = c[lo*ldc:]
		}
		if part == 0 {
			first = j
			continue
		}
		wg.Add(1)
		jobs <- j
	}
	first.run()
	wg.Wait()
	wgPool.Put(wg)
}
