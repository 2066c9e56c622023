// Package worker scores images on a pool of processes fed by a NATS
// JetStream work queue, losing neither an image nor a result when a worker
// or the server dies.
//
// Streams (created idempotently by Setup on every participant):
//
//   - VIGIL_JOBS, subject vigil.jobs, work-queue retention: one message per
//     job, the image inline (up to Config.InlineMax bytes) or, when larger,
//     in the object store bucket vigil_images under the job id. Workers
//     share one durable pull consumer with explicit acks, a bounded number
//     of unacked jobs (MaxAckPending) and MaxDeliver.
//   - VIGIL_RESULTS, subjects vigil.results.<job>: one result per job. A
//     worker publishes with the job id as message id (deduplicated within
//     the window) and the stream keeps only the last message per subject,
//     so a redelivered job still leaves exactly one result. The job is
//     acked only after the result's publish is acknowledged.
//   - VIGIL_DEAD, subjects vigil.dead.<job>: poison jobs (undecodable image,
//     unknown model, a score that is not finite, too many deliveries) with
//     the reason; they are acked off the work queue so they never block it.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the streams, subjects, consumer and bucket.
const (
	JobsStream    = "VIGIL_JOBS"
	JobsSubject   = "vigil.jobs"
	ResultsStream = "VIGIL_RESULTS"
	ResultsPrefix = "vigil.results."
	DeadStream    = "VIGIL_DEAD"
	DeadPrefix    = "vigil.dead."
	ConsumerName  = "vigil-workers"
	ImageBucket   = "vigil_images"
)

// Job message headers.
const (
	HeaderJob    = "Vigil-Job"
	HeaderModel  = "Vigil-Model"
	HeaderPath   = "Vigil-Path"   // informational: the submitter's file
	HeaderObject = "Vigil-Object" // the image is in ImageBucket under this name
)

// Config is the queue's shape; every participant must use the same one
// (Setup updates the consumer to it).
type Config struct {
	// InlineMax is the largest image sent inside the job message; larger
	// ones go through the object store.
	InlineMax int
	// AckWait is how long a worker may hold a job without acking (workers
	// extend it while scoring); a killed worker's jobs come back after it.
	AckWait time.Duration
	// MaxDeliver is how many times a job is handed out: MaxDeliver-1
	// tries, then the last delivery dead-letters it (at least 2).
	MaxDeliver int
	// MaxAckPending bounds the unacked jobs over all workers.
	MaxAckPending int
	// Memory keeps the streams in memory (tests of the queue's own speed);
	// the default is file storage, which survives a server restart.
	Memory bool
	// Retention is how long results and dead letters are kept.
	Retention time.Duration
	// Dedup is the window within which a job or result published twice
	// under the same id is stored once.
	Dedup time.Duration
}

// DefaultConfig: images up to 512 KiB inline (NATS's default payload limit
// is 1 MiB), 30 s ack wait, 5 deliveries, 1024 unacked jobs, results kept
// a week, a 10-minute duplicate window.
func DefaultConfig() Config {
	return Config{InlineMax: 512 << 10, AckWait: 30 * time.Second, MaxDeliver: 5, MaxAckPending: 1024,
		Retention: 7 * 24 * time.Hour, Dedup: 10 * time.Minute}
}

// Result is one job's outcome, the payload of vigil.results.<job>.
type Result struct {
	JobID    string  `json:"job_id"`
	Model    string  `json:"model"`
	Path     string  `json:"path,omitempty"`
	Score    float64 `json:"score"`
	PValue   float64 `json:"p_value"`
	Decision string  `json:"decision"` // "anomalous" or "normal"
	Worker   string  `json:"worker"`
	Seconds  float64 `json:"seconds"` // scoring time on the worker
	// Deliveries counts the times the job was handed out (more than 1: a
	// worker died or timed out on it before).
	Deliveries uint64 `json:"deliveries"`
}

// DeadLetter is the payload of vigil.dead.<job>.
type DeadLetter struct {
	JobID      string `json:"job_id"`
	Model      string `json:"model"`
	Path       string `json:"path,omitempty"`
	Reason     string `json:"reason"`
	Deliveries uint64 `json:"deliveries"`
	Worker     string `json:"worker"`
}

// validJobID keeps a job id a subject token (no '.', '*', '>' or space).
var validJobID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func checkJobID(id string) error {
	if !validJobID.MatchString(id) {
		return fmt.Errorf("job id %q: want 1-128 letters, digits, '_' or '-'", id)
	}
	return nil
}

// Queue is a connection's view of the streams.
type Queue struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	Cfg     Config
	Jobs    jetstream.Stream
	Results jetstream.Stream
	Dead    jetstream.Stream
	Images  jetstream.ObjectStore
}

// Connect dials url with endless reconnects (a restarted server is
// rejoined) and sets up the queue.
func Connect(ctx context.Context, url, name string, cfg Config) (*Queue, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(false))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	q, err := Setup(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return q, nil
}

// Setup creates or updates the streams, the workers' consumer and the
// image bucket.
func Setup(ctx context.Context, nc *nats.Conn, cfg Config) (*Queue, error) {
	if cfg.InlineMax <= 0 || cfg.AckWait <= 0 || cfg.MaxAckPending < 1 || cfg.Retention <= 0 || cfg.Dedup <= 0 {
		return nil, fmt.Errorf("worker: config %+v: every limit must be positive", cfg)
	}
	if cfg.MaxDeliver < 2 {
		return nil, fmt.Errorf("worker: max deliver %d: need at least 2 (the last delivery only dead-letters the job)", cfg.MaxDeliver)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	q := &Queue{NC: nc, JS: js, Cfg: cfg}
	if q.Jobs, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: JobsStream, Subjects: []string{JobsSubject},
		Retention: jetstream.WorkQueuePolicy, Storage: storage, Duplicates: cfg.Dedup}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", JobsStream, err)
	}
	if q.Results, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: ResultsStream, Subjects: []string{ResultsPrefix + ">"},
		Storage: storage, MaxMsgsPerSubject: 1, MaxAge: cfg.Retention, Duplicates: cfg.Dedup}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", ResultsStream, err)
	}
	if q.Dead, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: DeadStream, Subjects: []string{DeadPrefix + ">"},
		Storage: storage, MaxMsgsPerSubject: 1, MaxAge: cfg.Retention, Duplicates: cfg.Dedup}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", DeadStream, err)
	}
	if _, err = js.CreateOrUpdateConsumer(ctx, JobsStream, jetstream.ConsumerConfig{Durable: ConsumerName,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait, MaxDeliver: cfg.MaxDeliver,
		MaxAckPending: cfg.MaxAckPending}); err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ConsumerName, err)
	}
	if q.Images, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: ImageBucket,
		Storage: storage, TTL: cfg.Retention}); err != nil {
		return nil, fmt.Errorf("object store %s: %w", ImageBucket, err)
	}
	return q, nil
}

// Close drains nothing: it closes the connection.
func (q *Queue) Close() { q.NC.Close() }

// Job is one image to score.
type Job struct {
	ID    string
	Model string
	Path  string // informational
	Image []byte
}

// Enqueue publishes a job (through the object store when the image is
// larger than InlineMax). Publishing the same job id again within the
// duplicate window stores it once.
func (q *Queue) Enqueue(ctx context.Context, j Job) error {
	if err := checkJobID(j.ID); err != nil {
		return err
	}
	m := nats.NewMsg(JobsSubject)
	m.Header.Set(HeaderJob, j.ID)
	m.Header.Set(HeaderModel, j.Model)
	if j.Path != "" {
		m.Header.Set(HeaderPath, j.Path)
	}
	if len(j.Image) > q.Cfg.InlineMax {
		if _, err := q.Images.PutBytes(ctx, j.ID, j.Image); err != nil {
			return fmt.Errorf("job %s: storing the %d-byte image: %w", j.ID, len(j.Image), err)
		}
		m.Header.Set(HeaderObject, j.ID)
	} else {
		m.Data = j.Image
	}
	if _, err := q.JS.PublishMsg(ctx, m, jetstream.WithMsgID(j.ID)); err != nil {
		return fmt.Errorf("job %s: %w", j.ID, err)
	}
	return nil
}

// Outcome is what became of a job: a result or a dead letter.
type Outcome struct {
	Result *Result
	Dead   *DeadLetter
}

// Lookup returns a job's stored outcome, or nil when it has none yet.
func (q *Queue) Lookup(ctx context.Context, jobID string) (*Outcome, error) {
	if m, err := q.Results.GetLastMsgForSubject(ctx, ResultsPrefix+jobID); err == nil {
		var r Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return nil, fmt.Errorf("result of job %s: %w", jobID, err)
		}
		return &Outcome{Result: &r}, nil
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, err
	}
	if m, err := q.Dead.GetLastMsgForSubject(ctx, DeadPrefix+jobID); err == nil {
		var d DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return nil, fmt.Errorf("dead letter of job %s: %w", jobID, err)
		}
		return &Outcome{Dead: &d}, nil
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, err
	}
	return nil, nil
}

// decodeOutcome reads a message of the results or dead-letter stream.
func decodeOutcome(subject string, data []byte) (string, *Outcome, error) {
	switch {
	case strings.HasPrefix(subject, ResultsPrefix):
		var r Result
		if err := json.Unmarshal(data, &r); err != nil {
			return "", nil, fmt.Errorf("%s: %w", subject, err)
		}
		return subject[len(ResultsPrefix):], &Outcome{Result: &r}, nil
	case strings.HasPrefix(subject, DeadPrefix):
		var d DeadLetter
		if err := json.Unmarshal(data, &d); err != nil {
			return "", nil, fmt.Errorf("%s: %w", subject, err)
		}
		return subject[len(DeadPrefix):], &Outcome{Dead: &d}, nil
	}
	return "", nil, fmt.Errorf("unexpected subject %s", subject)
}
