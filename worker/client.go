package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ad/vigil/pipeline"
)

// Client queues single images to the workers and waits for their outcome:
// the entry point for a service (vigil serve --nats) that scores through
// the queue instead of locally.
type Client struct{ Q *Queue }

// ErrDeadLetter wraps a job the workers refused (poison): the image or the
// model is bad, retrying will not help.
var ErrDeadLetter = errors.New("job dead-lettered")

// Score queues one encoded image for model and waits until a worker has
// stored its result or dead letter, or ctx ends. A dead letter is an error
// wrapping ErrDeadLetter with the worker's reason.
func (c *Client) Score(ctx context.Context, model string, image []byte) (*Result, error) {
	if !pipeline.ValidModelName(model) {
		return nil, fmt.Errorf("model name %q is not valid", model)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	id := "c" + hex.EncodeToString(b[:])
	// subscribe before queueing so the outcome cannot be missed; after a
	// reconnect it may be, so the stored outcome is looked up on timeout
	ch := make(chan *nats.Msg, 2)
	for _, subj := range []string{ResultsPrefix + id, DeadPrefix + id} {
		sub, err := c.Q.NC.ChanSubscribe(subj, ch)
		if err != nil {
			return nil, err
		}
		defer sub.Unsubscribe()
	}
	if err := c.Q.Enqueue(ctx, Job{ID: id, Model: model, Image: image}); err != nil {
		return nil, err
	}
	var out *Outcome
	select {
	case m := <-ch:
		_, o, err := decodeOutcome(m.Subject, m.Data)
		if err != nil {
			return nil, err
		}
		out = o
	case <-ctx.Done():
		lctx, cancel := context.WithTimeout(context.Background(), c.Q.Cfg.AckWait)
		defer cancel()
		o, err := c.Q.Lookup(lctx, id)
		if err != nil || o == nil {
			return nil, fmt.Errorf("job %s: %w", id, ctx.Err())
		}
		out = o
	}
	if len(image) > c.Q.Cfg.InlineMax {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.Q.Images.Delete(dctx, id) // else it expires with the bucket's TTL
		cancel()
	}
	if out.Dead != nil {
		return nil, fmt.Errorf("%w: %s", ErrDeadLetter, out.Dead.Reason)
	}
	return out.Result, nil
}
