package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/pipeline"
)

// Worker pull-consumes jobs and scores them with the models of a folder.
type Worker struct {
	Q *Queue
	// ModelsDir holds DIR/NAME.safetensors or DIR/NAME/model.safetensors
	// (the layouts vigil serve reads).
	ModelsDir   string
	BackboneDir string
	// InFlight bounds the jobs this worker holds at once (default 4).
	InFlight int
	// Name identifies the worker in results (default host:pid).
	Name string
	Log  *slog.Logger

	mu     sync.Mutex
	models map[string]*loadedModel
}

type loadedModel struct {
	path  string
	size  int64
	mod   time.Time
	model *pipeline.Model
}

// poison is a failure that will recur on every delivery: the job goes to
// the dead-letter stream at once.
type poison struct{ reason string }

func (p poison) Error() string { return p.reason }

func poisonf(format string, a ...any) error { return poison{fmt.Sprintf(format, a...)} }

// model returns the named model, reloading it when its file changed.
func (w *Worker) model(name string) (*pipeline.Model, error) {
	path, err := pipeline.ModelFile(w.ModelsDir, name)
	if err != nil {
		return nil, poison{err.Error()}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err) // removed since: retried
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if lm := w.models[name]; lm != nil && lm.path == path && lm.size == st.Size() && lm.mod.Equal(st.ModTime()) {
		return lm.model, nil
	}
	m, err := pipeline.LoadModel(path, w.BackboneDir)
	if err != nil {
		return nil, poisonf("model %q: %v", name, err)
	}
	if w.models == nil {
		w.models = map[string]*loadedModel{}
	}
	w.models[name] = &loadedModel{path: path, size: st.Size(), mod: st.ModTime(), model: m}
	return m, nil
}

// Run consumes jobs until ctx is done. Connection trouble (a restarting
// server) is retried; it returns ctx's error.
func (w *Worker) Run(ctx context.Context) error {
	if w.InFlight <= 0 {
		w.InFlight = 4
	}
	if w.Name == "" {
		h, _ := os.Hostname()
		w.Name = fmt.Sprintf("%s:%d", h, os.Getpid())
	}
	if w.Log == nil {
		w.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	var cons jetstream.Consumer
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		var err error
		if cons == nil {
			cons, err = w.Q.JS.Consumer(ctx, JobsStream, ConsumerName)
		}
		var batch jetstream.MessageBatch
		if err == nil {
			batch, err = cons.Fetch(w.InFlight, jetstream.FetchMaxWait(time.Second))
		}
		if err == nil {
			var held []jetstream.Msg
			for m := range batch.Messages() {
				held = append(held, m)
			}
			for i, m := range held {
				// the jobs still waiting in this batch are not abandoned:
				// their ack wait restarts while the earlier ones are scored
				for _, later := range held[i+1:] {
					_ = later.InProgress()
				}
				w.handle(ctx, m)
			}
			err = batch.Error()
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			w.Log.Warn("fetch", "err", err)
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
				cons = nil
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
	return ctx.Err()
}

// handle scores one job, stores its result (or dead letter) and acks it.
// A job it cannot settle is left unacked: it comes back after AckWait.
func (w *Worker) handle(ctx context.Context, m jetstream.Msg) {
	h := m.Headers()
	id, modelName, path := h.Get(HeaderJob), h.Get(HeaderModel), h.Get(HeaderPath)
	var deliveries, seq uint64 = 1, 0
	if md, err := m.Metadata(); err == nil {
		deliveries, seq = md.NumDelivered, md.Sequence.Stream
	}
	_ = m.InProgress() // the wait for this batch's earlier jobs does not count
	// a job is settled within its ack wait or not at all: a call stuck on a
	// connection that went away must not hold the worker
	jctx, cancel := context.WithTimeout(ctx, w.Q.Cfg.AckWait)
	defer cancel()
	t0 := time.Now()
	var res *Result
	var err error
	if deliveries > 1 && checkJobID(id) == nil {
		// a redelivered job may have its result stored already (its
		// worker died or stalled between storing it and acking): settle it
		if out, lerr := w.Q.Lookup(jctx, id); lerr == nil && out != nil {
			if err := m.DoubleAck(jctx); err != nil {
				w.Log.Warn("ack", "job", id, "err", err)
			}
			return
		}
	}
	if deliveries >= uint64(w.Q.Cfg.MaxDeliver) {
		// the last delivery is not tried: a job that killed or stalled
		// MaxDeliver-1 workers would otherwise stay unacked in the queue
		// for good once JetStream stops handing it out
		err = poisonf("handed out %d times without a result (workers died or timed out on it)", deliveries)
	} else {
		res, err = w.score(jctx, m, id, modelName)
	}
	if ctx.Err() != nil {
		return // shutting down: the job comes back to another worker
	}
	var subject string
	var payload any
	switch {
	case err == nil:
		res.Path, res.Worker, res.Seconds, res.Deliveries = path, w.Name, time.Since(t0).Seconds(), deliveries
		subject, payload = ResultsPrefix+id, res
	case errors.As(err, new(poison)) || deliveries+1 >= uint64(w.Q.Cfg.MaxDeliver):
		if checkJobID(id) != nil {
			id = fmt.Sprintf("invalid-seq%d", seq) // addressable without trusting the header
		}
		w.Log.Warn("dead letter", "job", id, "model", modelName, "reason", err)
		subject, payload = DeadPrefix+id, &DeadLetter{JobID: id, Model: modelName, Path: path, Reason: err.Error(),
			Deliveries: deliveries, Worker: w.Name}
	default:
		w.Log.Warn("job failed; will be redelivered", "job", id, "err", err, "deliveries", deliveries)
		_ = m.NakWithDelay(time.Second)
		return
	}
	b, _ := json.Marshal(payload)
	if _, err := w.Q.JS.Publish(jctx, subject, b, jetstream.WithMsgID(id)); err != nil {
		w.Log.Warn("storing the outcome; the job will be redelivered", "job", id, "err", err)
		return
	}
	// acked only now: a crash before this line redelivers the job and the
	// republished outcome is deduplicated by its id
	if err := m.DoubleAck(jctx); err != nil {
		w.Log.Warn("ack", "job", id, "err", err)
	}
}

// score decodes and scores the job's image.
func (w *Worker) score(ctx context.Context, m jetstream.Msg, id, modelName string) (*Result, error) {
	if err := checkJobID(id); err != nil {
		return nil, poison{err.Error()}
	}
	model, err := w.model(modelName)
	if err != nil {
		return nil, err
	}
	data := m.Data()
	if obj := m.Headers().Get(HeaderObject); obj != "" {
		data, err = w.Q.Images.GetBytes(ctx, obj)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil, poisonf("image object %s is missing from %s", obj, ImageBucket)
		} else if err != nil {
			return nil, fmt.Errorf("image object %s: %w", obj, err)
		}
	}
	img, err := imageio.Decode(bytes.NewReader(data), id, imageio.Options{})
	if err != nil {
		return nil, poisonf("undecodable image: %v", err)
	}
	rs, err := model.ScoreImages(ctx, []*imageio.Image{img}, false)
	if err != nil {
		return nil, err
	}
	r := rs[0]
	if r.Err != nil || r.Verdict() == "error" {
		return nil, poisonf("scoring failed: %v", r.Err)
	}
	return &Result{JobID: id, Model: modelName, Score: r.Score, PValue: r.PValue, Decision: r.Verdict()}, nil
}
