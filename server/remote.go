package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/vigil-ad/vigil/worker"
)

// Remote scores one encoded image with a named model somewhere else;
// *worker.Client (vigil serve --nats) is one. A refusal that retrying
// cannot fix (bad image, unknown model on the workers) wraps
// worker.ErrDeadLetter.
type Remote interface {
	Score(ctx context.Context, model string, image []byte) (*worker.Result, error)
}

// remoteMapNote is sent in place of a map: workers return scores only.
const remoteMapNote = "no anomaly map: this server scores through the worker queue (vigil serve --nats), which returns scores only"

// predictRemote is the second half of predict when Config.Remote is set:
// the images (already admitted, read and checked on their headers) go to
// the queue as the bytes received, one job each, all at once. The pool
// still bounds the requests in flight, so a full pool answers 429 as
// locally.
func (s *Server) predictRemote(ctx context.Context, w http.ResponseWriter, r *http.Request, e *entry, ups []upload, sizes [][2]int, mapMode string) {
	if err := s.pool.acquire(ctx); err != nil {
		s.deadline(w, r, err)
		return
	}
	t0 := time.Now()
	res := make([]*worker.Result, len(ups))
	errs := make([]error, len(ups))
	var wg sync.WaitGroup
	for i := range ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = s.cfg.Remote.Score(ctx, e.info.Name, ups[i].data)
		}()
	}
	wg.Wait()
	s.pool.done(time.Since(t0))
	for i, err := range errs {
		switch {
		case err == nil && res[i] == nil:
			err = errors.New("no result")
		case err == nil && !(finite(res[i].Score) && finite(res[i].PValue)):
			err = fmt.Errorf("%w: score %v, p-value %v", worker.ErrDeadLetter, res[i].Score, res[i].PValue)
		}
		if err == nil {
			continue
		}
		switch {
		case errors.Is(err, worker.ErrDeadLetter):
			s.fail(w, refuse(http.StatusUnprocessableEntity, "unscorable", "image %q could not be scored: %v", ups[i].name, err))
		case ctx.Err() != nil:
			s.deadline(w, r, ctx.Err())
		default:
			s.log.Error("queueing failed", "image", ups[i].name, "err", err)
			s.fail(w, refuse(http.StatusServiceUnavailable, "queue_unavailable", "the worker queue did not take image %q; retry later", ups[i].name))
		}
		return
	}
	out := PredictResponse{Model: e.info.Name, Method: e.info.Method, Threshold: e.info.Threshold, Alpha: e.info.Alpha}
	for i, rr := range res {
		score, p := rr.Score, rr.PValue
		o := ImageOutcome{Name: ups[i].name, Width: sizes[i][0], Height: sizes[i][1], Score: &score, PValue: &p,
			Decision: rr.Decision, Threshold: e.info.Threshold}
		if mapMode != "none" {
			o.MapNote = remoteMapNote
		}
		s.count(e.info.Name, &o)
		out.Results = append(out.Results, o)
	}
	writeJSON(w, http.StatusOK, out)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
