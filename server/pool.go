package server

import (
	"context"
	"math"
	"sync"
	"time"
)

// pool bounds the scoring work. A request is first admitted (at most
// workers+queue at once; beyond that it is refused at once with 429, so a
// refused request costs almost nothing), then reads and decodes its
// images, then waits for one of the workers. Memory is bounded by the
// admitted requests: (workers+queue) × (request bytes + decoded images).
type pool struct {
	admit   chan struct{} // tokens: admitted requests
	work    chan struct{} // tokens: busy workers
	workers int
	met     *metrics

	mu      sync.Mutex
	waiting int
	ewma    float64 // seconds per scored request, smoothed
}

func newPool(workers, queue int, m *metrics) *pool {
	return &pool{admit: make(chan struct{}, workers+queue), work: make(chan struct{}, workers), workers: workers, met: m}
}

// tryAdmit admits a request if there is room; release must follow.
func (p *pool) tryAdmit() bool {
	select {
	case p.admit <- struct{}{}:
		return true
	default:
		return false
	}
}

func (p *pool) release() { <-p.admit }

// acquire waits for a worker until ctx ends.
func (p *pool) acquire(ctx context.Context) error {
	select {
	case p.work <- struct{}{}:
		p.met.busyWorkers.Inc()
		return nil
	default:
	}
	p.mu.Lock()
	p.waiting++
	p.met.queueDepth.Set(float64(p.waiting))
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.waiting--
		p.met.queueDepth.Set(float64(p.waiting))
		p.mu.Unlock()
	}()
	select {
	case p.work <- struct{}{}:
		p.met.busyWorkers.Inc()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// done frees a worker and records how long it was busy.
func (p *pool) done(busy time.Duration) {
	p.mu.Lock()
	if p.ewma == 0 {
		p.ewma = busy.Seconds()
	} else {
		p.ewma = 0.8*p.ewma + 0.2*busy.Seconds()
	}
	p.mu.Unlock()
	p.met.busyWorkers.Dec()
	<-p.work
}

// retryAfter estimates, in whole seconds (1 to 60), when a refused client
// may find room: the admitted work ahead of it divided among the workers.
func (p *pool) retryAfter() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	ahead := float64(len(p.admit))
	s := math.Ceil(ahead * p.ewma / float64(p.workers))
	return int(min(60, max(1, s)))
}
