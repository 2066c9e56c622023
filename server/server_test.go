package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/pipeline"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer builds a server on cfg, loads its models and serves it on a
// loopback port.
func startServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Logger = quietLogger()
	if cfg.Reload == 0 {
		cfg.Reload = -1 // tests rescan explicitly
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.Start(ctx)
	waitFor(t, "models loaded", s.Ready)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pngBytes(t *testing.T, img *imageio.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img.ToGoImage()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, method, url string, body []byte, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, b}
}

// wantError checks an error reply's status and stable code.
func wantError(t *testing.T, r reply, status int, code, mention string) {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("status %d: body is not a JSON error: %s", r.status, r.body)
	}
	if r.status != status || e.Error.Code != code {
		t.Fatalf("got %d %q (%s), want %d %q", r.status, e.Error.Code, e.Error.Message, status, code)
	}
	if !strings.Contains(e.Error.Message, mention) {
		t.Fatalf("message %q does not mention %q", e.Error.Message, mention)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("error content type %q", r.header.Get("Content-Type"))
	}
}

func decodePredict(t *testing.T, r reply) PredictResponse {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("predict: %d %s", r.status, r.body)
	}
	var p PredictResponse
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// normalAndBad encodes a seeded normal and defect image and scores them
// with the model at path in this process: the reference for the server.
func normalAndBad(t *testing.T, path string) (m *pipeline.Model, nb, bb []byte, want []pipeline.ImageResult) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 5))
	nb, bb = pngBytes(t, textureImage(rng, 0.5)), pngBytes(t, defectImage(rng))
	m, err := pipeline.LoadModel(path, "")
	if err != nil {
		t.Fatal(err)
	}
	dn, _ := imageio.Decode(bytes.NewReader(nb), "n", imageio.Options{})
	db, _ := imageio.Decode(bytes.NewReader(bb), "b", imageio.Options{})
	want, err = m.ScoreImages(context.Background(), []*imageio.Image{dn, db}, false)
	if err != nil {
		t.Fatal(err)
	}
	if want[0].Verdict() != "normal" || want[1].Verdict() != "anomalous" {
		t.Fatalf("test data: pipeline decides %s and %s", want[0].Verdict(), want[1].Verdict())
	}
	return m, nb, bb, want
}

// twoFiles is a multipart body of normal.png and bad.png, in that order.
func twoFiles(nb, bb []byte) (body []byte, contentType string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"normal.png", nb}, {"bad.png", bb}} {
		w, _ := mw.CreateFormFile("image", f.name)
		w.Write(f.b)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// TestPredict: raw and multipart bodies give the pipeline's own scores,
// p-values and decisions; the inline map decodes to the detector's map
// within the PNG's quantisation; the URL map serves the same PNG.
func TestPredict(t *testing.T) {
	dir := t.TempDir()
	path := fitGate(t, dir, "m", 0.5, "")
	_, ts := startServer(t, Config{ModelsDir: dir})
	m, nb, bb, want := normalAndBad(t, path)

	p := decodePredict(t, call(t, "POST", ts.URL+"/v1/models/m:predict?name=bad.png", bb, map[string]string{"Content-Type": "image/png"}))
	if len(p.Results) != 1 || p.Model != "m" || p.Method != gateMethod || p.Threshold != m.Calib.Threshold {
		t.Fatalf("response %+v", p)
	}
	r := p.Results[0]
	if r.Name != "bad.png" || r.Decision != "anomalous" || *r.Score != want[1].Score || *r.PValue != want[1].PValue ||
		r.Threshold != m.Calib.Threshold || r.Width != 32 || r.Height != 32 {
		t.Fatalf("result %+v, pipeline score %v p %v", r, want[1].Score, want[1].PValue)
	}
	if r.Map == nil || r.Map.PNG == "" || r.Map.Encoding != "png-gray16" {
		t.Fatalf("no inline map: %+v", r.Map)
	}
	raw, err := base64.StdEncoding.DecodeString(r.Map.PNG)
	if err != nil {
		t.Fatal(err)
	}
	g, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	g16, ok := g.(*image.Gray16)
	if !ok || g16.Rect.Dx() != 32 || g16.Rect.Dy() != 32 {
		t.Fatalf("map PNG is %T %v", g, g.Bounds())
	}
	lo, hi := r.Map.Range[0], r.Map.Range[1]
	step := (hi - lo) / 65535
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			v := lo + (hi-lo)*float64(g16.Gray16At(x, y).Y)/65535
			truth := min(hi, max(lo, float64(want[1].Map.At(y, x))))
			if math.Abs(v-truth) > step {
				t.Fatalf("map at %d,%d: %v, detector %v (step %v)", x, y, v, truth, step)
			}
		}
	}

	// multipart: two files in order, maps by URL
	body, ctype := twoFiles(nb, bb)
	p = decodePredict(t, call(t, "POST", ts.URL+"/v1/models/m:predict?map=url", body, map[string]string{"Content-Type": ctype}))
	if len(p.Results) != 2 || p.Results[0].Name != "normal.png" || p.Results[0].Decision != "normal" ||
		p.Results[1].Decision != "anomalous" || *p.Results[0].Score != want[0].Score {
		t.Fatalf("multipart results %+v", p.Results)
	}
	u := p.Results[1].Map
	if u == nil || u.URL == "" || u.PNG != "" || u.ExpiresAt == nil {
		t.Fatalf("map by URL: %+v", u)
	}
	got := call(t, "GET", ts.URL+u.URL, nil, nil)
	if got.status != 200 || got.header.Get("Content-Type") != "image/png" || !bytes.Equal(got.body, raw) {
		t.Fatalf("map URL: %d %s, %d bytes (inline %d)", got.status, got.header.Get("Content-Type"), len(got.body), len(raw))
	}
	wantError(t, call(t, "GET", ts.URL+"/v1/maps/0123456789abcdef", nil, nil), 404, "map_expired", "no such map")
	// map=none; curl --data-binary's form content type still means raw bytes
	p = decodePredict(t, call(t, "POST", ts.URL+"/v1/models/m:predict?map=none", nb, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}))
	if p.Results[0].Map != nil {
		t.Fatal("map=none returned a map")
	}
	// model info
	var info ModelInfo
	got = call(t, "GET", ts.URL+"/v1/models/m", nil, nil)
	if err := json.Unmarshal(got.body, &info); err != nil || info.Name != "m" || info.Method != gateMethod || info.Alpha != 0.1 {
		t.Fatalf("model info %d %s", got.status, got.body)
	}
}

// TestRefusals: every refusal is JSON with its stable code and a message
// naming the problem; an image over the pixel limit is refused from its
// header (the pixel data behind it is garbage and never decoded).
func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	fitGate(t, dir, "m", 0.5, "")
	_, ts := startServer(t, Config{ModelsDir: dir, MaxBytes: 4000, MaxPixels: 500, MaxImages: 2})
	rng := rand.New(rand.NewPCG(1, 1))
	small := imageio.New(1, 20, 20)
	for i := range small.Pix {
		small.Pix[i] = 0.5
	}
	ok := pngBytes(t, small)
	url := ts.URL + "/v1/models/m:predict"
	wantError(t, call(t, "POST", ts.URL+"/v1/models/nope:predict", ok, nil), 404, "unknown_model", `"nope"`)
	wantError(t, call(t, "POST", url, []byte("not an image at all"), map[string]string{"Content-Type": "image/gif"}), 400, "bad_image", `"body"`)
	wantError(t, call(t, "POST", url+"?name=x.png", []byte("hello"), nil), 400, "bad_image", `"x.png"`)
	wantError(t, call(t, "POST", url, nil, nil), 400, "bad_image", "empty")
	noise := imageio.New(3, 48, 48)
	for i := range noise.Pix {
		noise.Pix[i] = rng.Float32()
	}
	big := pngBytes(t, noise) // incompressible: over 4000 bytes
	if len(big) <= 4000 {
		t.Fatalf("test image is only %d bytes", len(big))
	}
	wantError(t, call(t, "POST", url, big, nil), 413, "too_large", "4000 bytes")
	// 32x32 = 1024 pixels > 500: keep the real header, garble the rest
	hdr := pngBytes(t, imageio.New(1, 32, 32))
	garbled := append(append([]byte{}, hdr[:33]...), bytes.Repeat([]byte{0xAB}, 200)...)
	wantError(t, call(t, "POST", url, garbled, nil), 413, "too_many_pixels", "32x32")
	wantError(t, call(t, "POST", url+"?map=svg", ok, nil), 400, "bad_request", "map")
	wantError(t, call(t, "POST", ts.URL+"/v1/models/m:explain", ok, nil), 404, "not_found", "explain")
	wantError(t, call(t, "GET", url, nil, nil), 405, "method_not_allowed", "POST")
	wantError(t, call(t, "DELETE", ts.URL+"/v1/models", nil, nil), 405, "method_not_allowed", "GET")
	wantError(t, call(t, "GET", ts.URL+"/v2/anything", nil, nil), 404, "not_found", "/v2/anything")
	wantError(t, call(t, "POST", url, []byte("a=b"), map[string]string{"Content-Type": "multipart/mixed; boundary=x"}), 415, "unsupported_media_type", "multipart")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := range 3 {
		w, _ := mw.CreateFormFile("image", "f"+string(rune('0'+i))+".png")
		w.Write(ok)
	}
	mw.Close()
	wantError(t, call(t, "POST", url, body.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()}), 413, "too_many_images", "2 images")
	// names cannot reach outside the folder
	for _, name := range []string{"..%2F..%2Fetc%2Fpasswd", "%2E%2E", "m%2F..%2Fm", ".hidden"} {
		r := call(t, "POST", ts.URL+"/v1/models/"+name+":predict", ok, nil)
		if r.status != 404 {
			t.Fatalf("model name %s: %d %s", name, r.status, r.body)
		}
	}
}

// TestModelsStayInsideDir: a symbolic link to a model outside the folder
// is not served; DIR/NAME/model.safetensors is served as NAME.
func TestModelsStayInsideDir(t *testing.T) {
	outside, dir := t.TempDir(), t.TempDir()
	ext := fitGate(t, outside, "secret", 0.5, "")
	if err := os.Symlink(ext, filepath.Join(dir, "link.safetensors")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	os.Mkdir(filepath.Join(dir, "family"), 0o755)
	fitGate(t, filepath.Join(dir, "family"), "model", 0.5, "")
	_, ts := startServer(t, Config{ModelsDir: dir})
	var list struct{ Models []ModelInfo }
	json.Unmarshal(call(t, "GET", ts.URL+"/v1/models", nil, nil).body, &list)
	if len(list.Models) != 1 || list.Models[0].Name != "family" {
		t.Fatalf("models %+v: want only 'family'", list.Models)
	}
}

func TestTokenAndCORS(t *testing.T) {
	dir := t.TempDir()
	fitGate(t, dir, "m", 0.5, "")
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte("s3cret-token\n"), 0o600)
	tok, err := ReadToken(tokFile)
	if err != nil || tok != "s3cret-token" {
		t.Fatalf("ReadToken: %q %v", tok, err)
	}
	os.WriteFile(tokFile, []byte(" \n"), 0o600)
	if _, err := ReadToken(tokFile); err == nil {
		t.Fatal("an empty token file was accepted")
	}
	_, ts := startServer(t, Config{ModelsDir: dir, Token: tok, CORS: "https://line.example"})
	for _, p := range []string{"/v1/models", "/metrics", "/openapi.json", "/v1/reports", "/v1/models/m"} {
		wantError(t, call(t, "GET", ts.URL+p, nil, nil), 401, "unauthorized", "bearer token")
		wantError(t, call(t, "GET", ts.URL+p, nil, map[string]string{"Authorization": "Bearer s3cret-tokeX"}), 401, "unauthorized", "token")
		if r := call(t, "GET", ts.URL+p, nil, map[string]string{"Authorization": "Bearer " + tok}); r.status != 200 {
			t.Fatalf("%s with the token: %d %s", p, r.status, r.body)
		}
	}
	if r := call(t, "GET", ts.URL+"/v1/models", nil, map[string]string{"Cookie": "vigil_token=s3cret-token"}); r.status != 200 {
		t.Fatalf("cookie token: %d", r.status)
	}
	for _, p := range []string{"/healthz", "/readyz", "/ui/"} {
		if r := call(t, "GET", ts.URL+p, nil, nil); r.status != 200 {
			t.Fatalf("%s without a token: %d", p, r.status)
		}
	}
	// CORS: the configured origin only
	r := call(t, "OPTIONS", ts.URL+"/v1/models/m:predict", nil, map[string]string{"Origin": "https://line.example", "Access-Control-Request-Method": "POST"})
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://line.example" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
	r = call(t, "GET", ts.URL+"/healthz", nil, map[string]string{"Origin": "https://evil.example"})
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header for another origin")
	}
	_, ts2 := startServer(t, Config{ModelsDir: dir})
	r = call(t, "GET", ts2.URL+"/healthz", nil, map[string]string{"Origin": "https://line.example"})
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header without --cors")
	}
}

// TestOverload: with one worker and a queue of one, a third request is
// refused at once with 429 and Retry-After; a request whose deadline
// passes gets 504; the metrics count both.
func TestOverload(t *testing.T) {
	dir := t.TempDir()
	fitGate(t, dir, "slow", 0.5, `{"block":true}`)
	s, ts := startServer(t, Config{ModelsDir: dir, Workers: 1, Queue: 1, Timeout: 5 * time.Second})
	img := pngBytes(t, textureImage(rand.New(rand.NewPCG(2, 2)), 0.5))
	url := ts.URL + "/v1/models/slow:predict?map=none"
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = call(t, "POST", url, img, nil).status
		}()
		if i == 0 {
			<-entered // the first one is scoring
		}
	}
	waitFor(t, "a queued request", func() bool { return len(s.pool.admit) == 2 })
	r := call(t, "POST", url, img, nil)
	wantError(t, r, 429, "overloaded", "capacity")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	gate <- struct{}{}
	<-entered
	gate <- struct{}{}
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("admitted requests answered %v", codes)
	}
	metrics := string(call(t, "GET", ts.URL+"/metrics", nil, nil).body)
	for _, want := range []string{`vigil_rejected_requests_total{reason="overloaded"} 1`,
		`vigil_request_duration_seconds_count{model="slow",route="predict",status="429"} 1`,
		`vigil_request_duration_seconds_count{model="slow",route="predict",status="200"} 2`,
		`vigil_images_total{model="slow"} 2`, `vigil_decisions_total{model="slow",outcome=`, "vigil_queue_depth 0", "vigil_in_flight_requests 1",
		`vigil_score_count{model="slow"} 2`, `vigil_p_value_count{model="slow"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	_, ts2 := startServer(t, Config{ModelsDir: dir, Workers: 1, Queue: 1, Timeout: 150 * time.Millisecond})
	wantError(t, call(t, "POST", ts2.URL+"/v1/models/slow:predict", img, nil), 504, "deadline_exceeded", "150ms")
	<-entered
}

// TestHotReload: a changed file is swapped in while a request in flight
// finishes on the old version; a corrupt new file is refused and the old
// version keeps serving; a removed file stops being served.
func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	fitGate(t, dir, "m", 0.5, `{"block":true}`)
	s, ts := startServer(t, Config{ModelsDir: dir})
	old, _ := s.reg.get("m")
	img := pngBytes(t, textureImage(rand.New(rand.NewPCG(3, 3)), 0.5))
	done := make(chan PredictResponse)
	go func() { done <- decodePredict(t, call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil)) }()
	<-entered
	// a new version, written the way vigil fit saves (temporary file, rename)
	tmp := t.TempDir()
	fitGate(t, tmp, "m", 0.3, `{"block":true}`)
	if err := os.Rename(filepath.Join(tmp, "m.safetensors"), filepath.Join(dir, "m.safetensors")); err != nil {
		t.Fatal(err)
	}
	s.Rescan(context.Background())
	cur, _ := s.reg.get("m")
	if cur == old || cur.info.Threshold == old.info.Threshold {
		t.Fatal("the changed file was not swapped in")
	}
	gate <- struct{}{}
	if p := <-done; p.Threshold != old.info.Threshold {
		t.Fatalf("in-flight request answered with threshold %v, want the old %v", p.Threshold, old.info.Threshold)
	}
	// corrupt file: refused, the current version keeps serving
	bad := filepath.Join(tmp, "bad")
	os.WriteFile(bad, []byte("not a safetensors file at all"), 0o644)
	os.Rename(bad, filepath.Join(dir, "m.safetensors"))
	s.Rescan(context.Background())
	if now, _ := s.reg.get("m"); now != cur {
		t.Fatal("a corrupt file replaced the served model")
	}
	var info ModelInfo
	json.Unmarshal(call(t, "GET", ts.URL+"/v1/models/m", nil, nil).body, &info)
	if info.ReloadError == "" || info.Threshold != cur.info.Threshold {
		t.Fatalf("after a corrupt file: %+v", info)
	}
	go func() { done <- decodePredict(t, call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil)) }()
	<-entered
	gate <- struct{}{}
	if p := <-done; p.Threshold != cur.info.Threshold {
		t.Fatal("the old version does not serve after a corrupt reload")
	}
	if !strings.Contains(string(call(t, "GET", ts.URL+"/metrics", nil, nil).body), `vigil_model_loads_total{model="m",result="failed"} 1`) {
		t.Error("failed load not counted")
	}
	os.Remove(filepath.Join(dir, "m.safetensors"))
	s.Rescan(context.Background())
	wantError(t, call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil), 404, "unknown_model", `"m"`)
}

// TestLoading: until the first load completes, /readyz and predictions
// answer 503 with Retry-After; /healthz answers 200.
func TestLoading(t *testing.T) {
	dir := t.TempDir()
	fitGate(t, dir, "m", 0.5, "")
	s, err := New(Config{ModelsDir: dir, Logger: quietLogger(), Reload: -1})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	s.reg.loadHook = func(string) { <-release }
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	img := pngBytes(t, textureImage(rand.New(rand.NewPCG(3, 3)), 0.5))
	r := call(t, "GET", ts.URL+"/readyz", nil, nil)
	wantError(t, r, 503, "loading", "loading")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	wantError(t, call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil), 503, "loading", "loading")
	if r := call(t, "GET", ts.URL+"/healthz", nil, nil); r.status != 200 {
		t.Fatalf("healthz while loading: %d", r.status)
	}
	close(release)
	waitFor(t, "ready", s.Ready)
	if r := call(t, "GET", ts.URL+"/readyz", nil, nil); r.status != 200 {
		t.Fatalf("readyz after loading: %d", r.status)
	}
	decodePredict(t, call(t, "POST", ts.URL+"/v1/models/m:predict", img, nil))
}

// TestDrain: when Run's context ends (SIGTERM in vigil serve), a request
// in flight still gets its 200, new connections are refused and Run
// returns nil.
func TestDrain(t *testing.T) {
	dir := t.TempDir()
	fitGate(t, dir, "m", 0.5, `{"block":true}`)
	s, err := New(Config{ModelsDir: dir, Logger: quietLogger(), Reload: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- s.Run(ctx, RunOptions{Listener: ln}) }()
	waitFor(t, "ready", s.Ready)
	img := pngBytes(t, textureImage(rand.New(rand.NewPCG(3, 3)), 0.5))
	got := make(chan int)
	go func() { got <- call(t, "POST", addr+"/v1/models/m:predict", img, nil).status }()
	<-entered
	stop()
	waitFor(t, "draining", s.draining.Load)
	select {
	case err := <-ran:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	gate <- struct{}{}
	if code := <-got; code != 200 {
		t.Fatalf("in-flight request during drain: %d", code)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get(addr + "/healthz"); err == nil {
		t.Fatal("a new connection was accepted after the drain")
	}
}

// TestPanicNoStack: a bug in a detector gives a JSON 500 without a stack
// trace, and the server goes on serving.
func TestPanicNoStack(t *testing.T) {
	dir := t.TempDir()
	fitGate(t, dir, "boom", 0.5, `{"panic":true}`)
	fitGate(t, dir, "fine", 0.5, "")
	_, ts := startServer(t, Config{ModelsDir: dir})
	img := pngBytes(t, textureImage(rand.New(rand.NewPCG(3, 3)), 0.5))
	r := call(t, "POST", ts.URL+"/v1/models/boom:predict", img, nil)
	wantError(t, r, 500, "internal", "internal error")
	if bytes.Contains(r.body, []byte("goroutine")) || bytes.Contains(r.body, []byte(".go:")) {
		t.Fatalf("stack trace in the response: %s", r.body)
	}
	decodePredict(t, call(t, "POST", ts.URL+"/v1/models/fine:predict", img, nil))
	// the pool's slots were given back: a panicking request does not leak them
	for range 12 {
		call(t, "POST", ts.URL+"/v1/models/boom:predict", img, nil)
	}
	decodePredict(t, call(t, "POST", ts.URL+"/v1/models/fine:predict", img, nil))
}

// TestReports: reports in the reports folder are listed and served;
// nothing outside it is.
func TestReports(t *testing.T) {
	models, reports := t.TempDir(), t.TempDir()
	fitGate(t, models, "m", 0.5, "")
	rep := filepath.Join(reports, "bottle", "report")
	os.MkdirAll(rep, 0o755)
	os.WriteFile(filepath.Join(rep, "index.html"), []byte("<html><body>bottle report</body></html>"), 0o644)
	os.WriteFile(filepath.Join(rep, "metrics.json"), []byte(`{"title":"Vigil padim on bottle","metrics":{"image_auroc":0.97}}`), 0o644)
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("secret"), 0o644)
	os.Symlink(secret, filepath.Join(rep, "leak.txt"))
	_, ts := startServer(t, Config{ModelsDir: models, ReportsDir: reports})
	var list struct{ Reports []ReportInfo }
	json.Unmarshal(call(t, "GET", ts.URL+"/v1/reports", nil, nil).body, &list)
	if len(list.Reports) != 1 || list.Reports[0].Title != "Vigil padim on bottle" || list.Reports[0].URL != "/reports/bottle/report/" ||
		list.Reports[0].Metrics["image_auroc"] != 0.97 {
		t.Fatalf("reports %+v", list.Reports)
	}
	if r := call(t, "GET", ts.URL+list.Reports[0].URL, nil, nil); r.status != 200 || !strings.Contains(string(r.body), "bottle report") {
		t.Fatalf("report page: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/reports/bottle/report/leak.txt", "/reports/..%2F..%2Fetc/passwd", "/reports/bottle/"} {
		r := call(t, "GET", ts.URL+p, nil, nil)
		if r.status != 404 || strings.Contains(string(r.body), "secret") {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
	}
}
