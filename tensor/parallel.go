package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelJob is one Parallel call: the range is cut into chunks that the
// caller and any idle pool workers claim through an atomic counter, so the
// caller can always finish the work alone (nested Parallel calls cannot
// deadlock even when every worker is busy).
type parallelJob struct {
	fn     func(lo, hi int)
	n      int
	chunk  int
	next   atomic.Int64
	helped sync.WaitGroup
}

func (j *parallelJob) run() {
	for {
		c := int(j.next.Add(1) - 1)
		lo := c * j.chunk
		if lo >= j.n {
			return
		}
		hi := lo + j.chunk
		if hi > j.n {
			hi = j.n
		}
		j.fn(lo, hi)
	}
}

var (
	poolOnce  sync.Once
	poolWork  chan *parallelJob
	poolSize  int
	jobRecyle = sync.Pool{New: func() any { return new(parallelJob) }}
)

func startPool() {
	poolSize = runtime.GOMAXPROCS(0)
	// Workers other than the caller; the channel is unbuffered so a send
	// succeeds only when a worker is idle and ready.
	poolWork = make(chan *parallelJob)
	for i := 0; i < poolSize-1; i++ {
		go func() {
			for j := range poolWork {
				j.run()
				j.helped.Done()
			}
		}()
	}
}

// chunksPerWorker is how many pieces Parallel cuts its range into per
// worker.
const chunksPerWorker = 4

// Workers is the number of goroutines Parallel spreads work over
// (GOMAXPROCS at first use).
func Workers() int {
	poolOnce.Do(startPool)
	return poolSize
}

// Parallel calls fn on disjoint sub-ranges [lo,hi) covering [0,n), using a
// persistent pool of GOMAXPROCS workers (the caller is one of them). It runs
// fn(0,n) inline when n <= 1 or there is a single worker. The range is cut
// into up to 4 pieces per worker, claimed dynamically; each piece is at
// least one index; fn must be safe to call concurrently on disjoint
// ranges. Parallel returns when all of [0,n) is done.
func Parallel(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Workers()
	if n == 1 || w == 1 {
		fn(0, n)
		return
	}
	// Several chunks per worker, claimed dynamically, so a worker that the
	// OS deschedules (or that drew slower chunks) does not hold up the rest.
	parts := min(n, chunksPerWorker*w)
	j := jobRecyle.Get().(*parallelJob)
	j.fn, j.n = fn, n
	j.chunk = (n + parts - 1) / parts
	j.next.Store(0)
	// Offer the job to idle workers without blocking; a busy pool just means
	// the caller does more of the chunks itself.
	for i := 1; i < min(parts, w); i++ {
		j.helped.Add(1)
		select {
		case poolWork <- j:
		default:
			j.helped.Done()
			i = parts
		}
	}
	j.run()
	j.helped.Wait()
	j.fn = nil
	jobRecyle.Put(j)
}

// ParallelChunks is Parallel with the range cut into pieces of at least
// grain indices, so cheap per-index work is not split too finely.
func ParallelChunks(n, grain int, fn func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	blocks := (n + grain - 1) / grain
	if blocks <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	Parallel(blocks, func(lo, hi int) {
		l, h := lo*grain, hi*grain
		if h > n {
			h = n
		}
		fn(l, h)
	})
}
