package server

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLoadTestShort: a short open-loop overload at 5x the capacity of a
// model that takes 20 ms per request: every request is answered 200 or
// 429, some of each, and no more are accepted than the worker can score.
func TestLoadTestShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the load test takes 2 s")
	}
	dir := t.TempDir()
	fitGate(t, dir, "slow", 0.5, `{"delay_ms":20}`)
	img := pngBytes(t, textureImage(rand.New(rand.NewPCG(4, 4)), 0.5))
	res, err := LoadTest(context.Background(), LoadOptions{
		Config: Config{ModelsDir: dir, Workers: 1, Queue: 2, Reload: -1, Logger: quietLogger()},
		Model:  "slow", Image: img, CapacityFor: 500 * time.Millisecond, Duration: 1500 * time.Millisecond, Factor: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.String())
	if !res.OK() {
		t.Fatalf("not every request answered 200/429: %+v", res.Status)
	}
	// one worker sleeping 20 ms per request cannot exceed 50/s; a loaded
	// machine may give much less
	if res.Capacity > 50 || res.Capacity <= 0 {
		t.Fatalf("capacity %.1f/s for a 20 ms model on one worker", res.Capacity)
	}
	if res.Status["200"] == 0 || res.Status["429"] == 0 || res.Status["200"]+res.Status["429"] != res.Sent {
		t.Fatalf("status %v of %d sent", res.Status, res.Sent)
	}
	if res.Accepted > 50 {
		t.Fatalf("accepted %.1f/s: more than one 20 ms worker can score", res.Accepted)
	}
	if res.P99 < res.P50 || res.P50 <= 0 {
		t.Fatalf("latencies p50 %v p99 %v", res.P50, res.P99)
	}
}
