package worker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkWorkers: images per second through the queue with 1, 2 and 4
// worker processes (the pcarecon model of the fault tests on 64x64
// images; VIGIL_BENCH_JOBS jobs per run, default 400). Run with
// -benchtime=1x: one op is one whole submit.
func BenchmarkWorkers(b *testing.B) {
	f := newFixtureSize(b, 400, false, 64)
	// the same images scored in this process, one at a time: the
	// queue-free rate of one process
	b.Run("local", func(b *testing.B) {
		for range b.N {
			t0 := time.Now()
			for _, p := range f.files {
				f.localScore(b, p)
			}
			b.ReportMetric(float64(len(f.files))/time.Since(t0).Seconds(), "images/s")
		}
	})
	for _, procs := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			for range b.N {
				s := startServer(b, "127.0.0.1:0", b.TempDir())
				ctx := context.Background()
				q, err := Connect(ctx, s.ClientURL(), "bench", testConfig())
				if err != nil {
					b.Fatal(err)
				}
				var ws []*proc
				for range procs {
					ws = append(ws, startWorker(b, s.ClientURL(), f.models))
				}
				// the workers are up once they have scored a warm-up job
				if _, err := (&Client{Q: q}).Score(ctx, "tiny", mustRead(b, f.files[0])); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				res, err := Submit(ctx, q, SubmitOptions{Model: "tiny", Paths: []string{f.imgs}, Out: filepath.Join(b.TempDir(), "r.json")})
				if err != nil {
					b.Fatal(err)
				}
				sec := time.Since(t0).Seconds()
				b.ReportMetric(float64(res.Done)/sec, "images/s")
				for _, w := range ws {
					w.cmd.Process.Kill()
					w.cmd.Wait()
				}
				q.Close()
				s.Shutdown()
			}
		})
	}
}

// BenchmarkQueueRoundTrip is the queue's own limit: tiny jobs through
// JetStream file storage with the worker's protocol (fetch in batches,
// publish the result with a message id and wait for its ack, double-ack
// the job) and no scoring, with 1 or 4 consumers in this process. One op
// is one job.
func BenchmarkQueueRoundTrip(b *testing.B) {
	for _, consumers := range []int{1, 4} {
		b.Run(fmt.Sprintf("consumers=%d", consumers), func(b *testing.B) {
			s := startServer(b, "127.0.0.1:0", b.TempDir())
			defer s.Shutdown()
			ctx := context.Background()
			q, err := Connect(ctx, s.ClientURL(), "bench", DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			payload := make([]byte, 64)
			b.ResetTimer()
			t0 := time.Now()
			// publish asynchronously: the producer is not the limit measured
			for i := range b.N {
				if _, err := q.JS.PublishAsync(JobsSubject, payload, jetstream.WithMsgID(fmt.Sprintf("j%d-%d", b.N, i))); err != nil {
					b.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			done := 0
			for range consumers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cons, err := q.JS.Consumer(ctx, JobsStream, ConsumerName)
					if err != nil {
						b.Error(err)
						return
					}
					for {
						mu.Lock()
						finished := done >= b.N
						mu.Unlock()
						if finished {
							return
						}
						batch, err := cons.Fetch(64, jetstream.FetchMaxWait(200*time.Millisecond))
						if err != nil {
							continue
						}
						for m := range batch.Messages() {
							id := m.Headers().Get("Nats-Msg-Id")
							if _, err := q.JS.Publish(ctx, ResultsPrefix+id, []byte(`{"score":1}`), jetstream.WithMsgID(id)); err != nil {
								b.Error(err)
								return
							}
							if err := m.DoubleAck(ctx); err != nil {
								b.Error(err)
								return
							}
							mu.Lock()
							done++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "jobs/s")
		})
	}
}

func mustRead(b testing.TB, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
