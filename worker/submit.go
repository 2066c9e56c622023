package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ad/vigil/internal/atomicfile"
	"github.com/vigil-ad/vigil/pipeline"
)

// Entry is one job in results.json.
type Entry struct {
	Path     string  `json:"path"`
	JobID    string  `json:"job_id"`
	Score    float64 `json:"score"`
	PValue   float64 `json:"p_value"`
	Decision string  `json:"decision"` // anomalous, normal or error
	Error    string  `json:"error,omitempty"`
	Worker   string  `json:"worker,omitempty"`
	// Deliveries > 1: the job was redelivered (a worker died on it).
	Deliveries uint64 `json:"deliveries,omitempty"`
}

// Results is results.json.
type Results struct {
	Model      string  `json:"model"`
	N          int     `json:"n"`       // jobs
	Done       int     `json:"done"`    // jobs with an entry
	Resumed    int     `json:"resumed"` // entries kept from the previous file
	Submitted  int     `json:"submitted"`
	NAnomalous int     `json:"n_anomalous"`
	NErrors    int     `json:"n_errors"`
	Seconds    float64 `json:"seconds"`
	Entries    []Entry `json:"entries"` // in input order, one per finished job
}

// SubmitOptions configure Submit.
type SubmitOptions struct {
	Model string
	Paths []string // image files or folders (walked)
	// Out is results.json: entries already there for the same job (same
	// model, path and content) are kept and not resubmitted.
	Out      string
	Progress func(done, total int)
	// Flush is how often results.json is rewritten while waiting
	// (default 1 s), so an interrupted run resumes where it stopped.
	Flush time.Duration
}

// JobID names a job by the model, the file's absolute path and its
// content, so a re-run finds the same jobs and a changed file is a new
// job.
func JobID(model, absPath string, content []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", model, absPath)
	c := sha256.Sum256(content)
	h.Write(c[:])
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Submit publishes a job for every image that has no outcome yet, waits
// for all outcomes (results and dead letters) and writes them to
// o.Out. It returns when every job is settled or ctx ends (results.json
// then holds what was collected, and the error is ctx's).
func Submit(ctx context.Context, q *Queue, o SubmitOptions) (*Results, error) {
	if !pipeline.ValidModelName(o.Model) {
		return nil, fmt.Errorf("model name %q is not valid", o.Model)
	}
	if o.Out == "" {
		return nil, errors.New("submit: no output file")
	}
	if o.Flush <= 0 {
		o.Flush = time.Second
	}
	t0 := time.Now()
	samples, err := pipeline.ExpandPaths(o.Paths)
	if err != nil {
		return nil, err
	}
	prev := map[string]Entry{} // by job id
	if b, err := os.ReadFile(o.Out); err == nil {
		var old Results
		if err := json.Unmarshal(b, &old); err != nil {
			return nil, fmt.Errorf("%s: %w (move it away to start afresh)", o.Out, err)
		}
		for _, e := range old.Entries {
			prev[e.JobID] = e
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	// outcomes published from now on come through the collectors; older
	// ones are looked up per job below, so none falls in between
	var mu sync.Mutex
	arrived := map[string]*Outcome{}
	var collectErr error
	for _, s := range []jetstream.Stream{q.Results, q.Dead} {
		info, err := retry(ctx, func() (*jetstream.StreamInfo, error) {
			c, cancel := callCtx(ctx)
			defer cancel()
			return s.Info(c)
		})
		if err != nil {
			return nil, err
		}
		cons, err := q.JS.OrderedConsumer(ctx, info.Config.Name, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: info.State.LastSeq + 1})
		if err != nil {
			return nil, err
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			id, out, err := decodeOutcome(m.Subject(), m.Data())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				collectErr = err
				return
			}
			arrived[id] = out
		})
		if err != nil {
			return nil, err
		}
		defer cc.Stop()
	}

	res := &Results{Model: o.Model, N: len(samples)}
	entries := make([]*Entry, len(samples))
	pending := map[string]int{} // job id -> sample index
	objects := map[string]bool{}
	settle := func(i int, id string, out *Outcome) {
		e := &Entry{Path: samples[i].Path, JobID: id}
		if r := out.Result; r != nil {
			e.Score, e.PValue, e.Decision, e.Worker, e.Deliveries = r.Score, r.PValue, r.Decision, r.Worker, r.Deliveries
		} else {
			e.Decision, e.Error, e.Worker, e.Deliveries = "error", out.Dead.Reason, out.Dead.Worker, out.Dead.Deliveries
		}
		entries[i] = e
		delete(pending, id)
		if objects[id] {
			// the submitter owns the object: the worker may need it again
			// until the outcome is stored. Not deleted, it expires with
			// the bucket's TTL.
			c, cancel := callCtx(ctx)
			_ = q.Images.Delete(c, id)
			cancel()
		}
	}
	for i, s := range samples {
		b, err := os.ReadFile(s.Path)
		if err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(s.Path)
		if err != nil {
			return nil, err
		}
		id := JobID(o.Model, abs, b)
		if e, ok := prev[id]; ok {
			e.Path = s.Path
			entries[i] = &e
			res.Resumed++
			continue
		}
		if _, dup := pending[id]; dup {
			continue // the same file given twice
		}
		pending[id] = i
		out, err := retry(ctx, func() (*Outcome, error) { return q.lookup(ctx, id) })
		if err != nil {
			return nil, err
		}
		if out != nil {
			settle(i, id, out)
			continue
		}
		if _, err := retry(ctx, func() (struct{}, error) {
			c, cancel := callCtx(ctx)
			defer cancel()
			return struct{}{}, q.Enqueue(c, Job{ID: id, Model: o.Model, Path: s.Path, Image: b})
		}); err != nil {
			return nil, err
		}
		objects[id] = len(b) > q.Cfg.InlineMax
		res.Submitted++
	}

	write := func() error {
		res.Entries = res.Entries[:0]
		res.NAnomalous, res.NErrors = 0, 0
		for _, e := range entries {
			if e == nil {
				continue
			}
			res.Entries = append(res.Entries, *e)
			switch e.Decision {
			case "anomalous":
				res.NAnomalous++
			case "error":
				res.NErrors++
			}
		}
		res.Done = len(res.Entries)
		res.Seconds = time.Since(t0).Seconds()
		return atomicfile.Write(o.Out, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		})
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastFlush, lastProgress := time.Now(), time.Now()
	// the collectors may miss outcomes across a server restart (their
	// ephemeral consumers are gone until the client notices): after a
	// quiet spell every pending job is looked up in the streams, with the
	// spell doubling while nothing turns up
	quiet := 3 * time.Second
	for {
		mu.Lock()
		got := arrived
		arrived = map[string]*Outcome{}
		cerr := collectErr
		mu.Unlock()
		for id, out := range got {
			if i, ok := pending[id]; ok {
				settle(i, id, out)
				lastProgress = time.Now()
			}
		}
		if cerr != nil {
			return nil, cerr
		}
		if o.Progress != nil {
			o.Progress(len(samples)-len(pending), len(samples))
		}
		if len(pending) == 0 {
			return res, write()
		}
		if time.Since(lastProgress) >= quiet {
			found := 0
			for id, i := range pending {
				out, err := retry(ctx, func() (*Outcome, error) { return q.lookup(ctx, id) })
				if err != nil {
					break // ctx ended: handled below
				}
				if out != nil {
					settle(i, id, out)
					found++
				}
			}
			lastProgress = time.Now()
			if found == 0 {
				quiet = min(2*quiet, time.Minute)
			} else {
				quiet = 3 * time.Second
			}
		}
		if time.Since(lastFlush) >= o.Flush {
			if err := write(); err != nil {
				return nil, err
			}
			lastFlush = time.Now()
		}
		select {
		case <-ctx.Done():
			if err := write(); err != nil {
				return nil, err
			}
			return res, fmt.Errorf("%d of %d jobs still pending: %w", len(pending), len(samples), ctx.Err())
		case <-tick.C:
		}
	}
}

// callTimeout bounds one request to the server: a request sent while the
// connection was going away may never be answered, and retry sends it
// again.
const callTimeout = 5 * time.Second

func callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

// lookup is Lookup within callTimeout.
func (q *Queue) lookup(ctx context.Context, id string) (*Outcome, error) {
	c, cancel := callCtx(ctx)
	defer cancel()
	return q.Lookup(c, id)
}

// retry repeats f while the server is unreachable (a restart), until ctx
// ends.
func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	wait := 50 * time.Millisecond
	for {
		v, err := f()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// transient errors are the server being away (restart, leader change):
// anything but a closed connection or a JetStream API refusal below 500.
func transient(err error) bool {
	if errors.Is(err, nats.ErrConnectionClosed) {
		return false
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.Code >= 500
	}
	return true
}
