package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/worker"
)

// startQueue starts an embedded NATS server and one worker goroutine
// serving the models in workerDir, and returns a client for the server.
func startQueue(t *testing.T, workerDir string) *worker.Client {
	t.Helper()
	ns, err := worker.Embedded("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	ctx, cancel := context.WithCancel(context.Background())
	q, err := worker.Connect(ctx, ns.ClientURL(), "serve-test", worker.DefaultConfig())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		(&worker.Worker{Q: q, ModelsDir: workerDir, Log: quietLogger()}).Run(ctx)
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done; q.Close() })
	return &worker.Client{Q: q}
}

// checkDocumented validates a predict reply against the OpenAPI document.
func checkDocumented(t *testing.T, r reply) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	op := doc["paths"].(map[string]any)["/v1/models/{name}:predict"].(map[string]any)["post"].(map[string]any)
	resp, ok := op["responses"].(map[string]any)[fmt.Sprint(r.status)].(map[string]any)
	if !ok {
		t.Fatalf("status %d is not documented", r.status)
	}
	if ref, ok := resp["$ref"].(string); ok {
		resp = doc["components"].(map[string]any)["responses"].(map[string]any)[strings.TrimPrefix(ref, "#/components/responses/")].(map[string]any)
	}
	schema := resp["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	if err := validate(doc, schema, v, "body"); err != nil {
		t.Fatalf("%d: %v\n%s", r.status, err, r.body)
	}
}

// TestPredictRemote: with Remote set, :predict scores through the worker
// queue (embedded NATS, a worker in this process): the scores, p-values
// and decisions equal local scoring, no map is returned and map_note says
// why; refusals before the queue (unknown model, bad header) are as
// locally; an image the worker refuses is 422 unscorable, as is a model
// the server has but the workers lack.
func TestPredictRemote(t *testing.T) {
	dir, workerDir := t.TempDir(), t.TempDir()
	path := fitGate(t, dir, "m", 0.5, "")
	fitGate(t, dir, "other", 0.4, "")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(workerDir, "m.safetensors"), b, 0o644) // the workers lack "other"
	c := startQueue(t, workerDir)
	_, ts := startServer(t, Config{ModelsDir: dir, Remote: c})

	m, nb, bb, want := normalAndBad(t, path)

	rep := call(t, "POST", ts.URL+"/v1/models/m:predict?name=bad.png", bb, map[string]string{"Content-Type": "image/png"})
	checkDocumented(t, rep)
	p := decodePredict(t, rep)
	if len(p.Results) != 1 || p.Model != "m" || p.Method != gateMethod || p.Threshold != m.Calib.Threshold {
		t.Fatalf("response %+v", p)
	}
	r := p.Results[0]
	if r.Name != "bad.png" || r.Decision != "anomalous" || *r.Score != want[1].Score || *r.PValue != want[1].PValue ||
		r.Threshold != m.Calib.Threshold || r.Width != 32 || r.Height != 32 {
		t.Fatalf("result %+v (score %v p %v), pipeline score %v p %v", r, *r.Score, *r.PValue, want[1].Score, want[1].PValue)
	}
	if r.Map != nil || r.MapNote == "" || !bytes.Contains(rep.body, []byte(`"map":null`)) {
		t.Fatalf("map %+v, note %q", r.Map, r.MapNote)
	}

	// multipart: two images in order; map=none leaves out the note too
	body, ctype := twoFiles(nb, bb)
	rep = call(t, "POST", ts.URL+"/v1/models/m:predict?map=none", body, map[string]string{"Content-Type": ctype})
	checkDocumented(t, rep)
	p = decodePredict(t, rep)
	if len(p.Results) != 2 || p.Results[0].Name != "normal.png" || p.Results[0].Decision != "normal" || p.Results[1].Decision != "anomalous" ||
		*p.Results[0].Score != want[0].Score || *p.Results[1].Score != want[1].Score || p.Results[0].MapNote != "" {
		t.Fatalf("multipart results %+v", p.Results)
	}

	// refused before the queue, as locally
	wantError(t, call(t, "POST", ts.URL+"/v1/models/zz:predict", nb, nil), http.StatusNotFound, "unknown_model", "zz")
	wantError(t, call(t, "POST", ts.URL+"/v1/models/m:predict", []byte("junk"), nil), http.StatusBadRequest, "bad_image", "unknown or unsupported")
	// poison: a good header over broken pixel data reaches a worker, which
	// dead-letters it
	rep = call(t, "POST", ts.URL+"/v1/models/m:predict?name=cut.png", bb[:len(bb)/2], nil)
	checkDocumented(t, rep)
	wantError(t, rep, http.StatusUnprocessableEntity, "unscorable", "cut.png")
	// a model the server serves but the workers do not have
	rep = call(t, "POST", ts.URL+"/v1/models/other:predict", nb, nil)
	wantError(t, rep, http.StatusUnprocessableEntity, "unscorable", "unknown model")
	// and the queue still works after them
	p = decodePredict(t, call(t, "POST", ts.URL+"/v1/models/m:predict", nb, nil))
	if *p.Results[0].Score != want[0].Score {
		t.Fatalf("after poison: score %v, want %v", *p.Results[0].Score, want[0].Score)
	}
}

// blockingRemote holds every call until release is closed or the call's
// context ends; fail, when set, is returned instead.
type blockingRemote struct {
	entered chan struct{}
	release chan struct{}
	fail    error
}

func (b *blockingRemote) Score(ctx context.Context, model string, image []byte) (*worker.Result, error) {
	if b.fail != nil {
		return nil, b.fail
	}
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return &worker.Result{Model: model, Score: 1, PValue: 0.5, Decision: "normal"}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("job x: %w", ctx.Err())
	}
}

// TestRemoteLimits: through a remote scorer the pool still bounds the
// requests in flight (429 beyond workers+queue), the deadline still
// answers 504, and a queue that does not take the job answers 503.
func TestRemoteLimits(t *testing.T) {
	dir := t.TempDir()
	fitGate(t, dir, "m", 0.5, "")
	img := pngBytes(t, textureImage(rand.New(rand.NewPCG(1, 1)), 0.5))

	br := &blockingRemote{entered: make(chan struct{}, 8), release: make(chan struct{})}
	s, ts := startServer(t, Config{ModelsDir: dir, Remote: br, Workers: 1, Queue: 1})
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil).status
		}()
	}
	<-br.entered // one is with the remote scorer, the other waits for it
	waitFor(t, "two admitted", func() bool { return len(s.pool.admit) == 2 })
	rep := call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil)
	wantError(t, rep, http.StatusTooManyRequests, "overloaded", "capacity")
	if rep.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	close(br.release)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("held requests answered %v", codes)
	}

	br = &blockingRemote{entered: make(chan struct{}, 8), release: make(chan struct{})}
	_, ts = startServer(t, Config{ModelsDir: dir, Remote: br, Timeout: 100 * time.Millisecond})
	wantError(t, call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil), http.StatusGatewayTimeout, "deadline_exceeded", "100ms")

	_, ts = startServer(t, Config{ModelsDir: dir, Remote: &blockingRemote{fail: errors.New("nats: connection closed")}})
	rep = call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil)
	wantError(t, rep, http.StatusServiceUnavailable, "queue_unavailable", "retry")
	checkDocumented(t, rep)
}
