package worker

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// FollowResults calls fn for every result stored from now on (or, with
// fromStart, every result the stream still holds first), in stream order,
// until ctx ends: the input of a live monitor. fn runs on one goroutine.
func FollowResults(ctx context.Context, q *Queue, fromStart bool, fn func(*Result)) error {
	policy := jetstream.DeliverNewPolicy
	if fromStart {
		policy = jetstream.DeliverAllPolicy
	}
	cons, err := q.JS.OrderedConsumer(ctx, ResultsStream, jetstream.OrderedConsumerConfig{DeliverPolicy: policy})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		_, out, err := decodeOutcome(m.Subject(), m.Data())
		if err != nil {
			return err
		}
		fn(out.Result)
	}
}
