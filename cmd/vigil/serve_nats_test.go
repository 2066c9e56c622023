package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/server"
)

// serveFixture builds the binary, a demo weave model in models and the
// demo's test images; img (read from imgPath) is a good one. It skips
// with -short.
func serveFixture(t *testing.T) (bin, models, imgPath string, img []byte) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	bin = filepath.Join(t.TempDir(), "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	models, data := t.TempDir(), t.TempDir()
	if out, err := exec.Command(bin, "demo", "--family", "weave", "--image-size", "48", "--report", models, "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "demo", "--family", "weave", "--image-size", "48", "--write", data).CombinedOutput(); err != nil {
		t.Fatalf("demo --write: %v\n%s", err, out)
	}
	imgPath = filepath.Join(data, "weave", "test", "good", "000.png")
	img, err := os.ReadFile(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	return bin, models, imgPath, img
}

// startServe runs 'vigil serve --addr 127.0.0.1:0 ARGS' and returns once
// /readyz answers 200, with the base URL it printed; the process is
// killed at the end of the test if still running.
func startServe(t *testing.T, bin string, args ...string) (cmd *exec.Cmd, base string, stderr *bytes.Buffer) {
	t.Helper()
	cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (stderr %s)", err, stderr.String())
	}
	f := strings.Fields(line)
	if len(f) < 3 || !strings.HasPrefix(f[2], "http://") {
		t.Fatalf("address line %q", line)
	}
	base = f[2]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return cmd, base, stderr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v (stderr %s)", err, stderr.String())
		}
	}
}

// stopServe sends SIGTERM and wants exit status 0 within 30 s.
func stopServe(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v (stderr %s)", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("vigil serve did not exit after SIGTERM")
	}
}

// TestServeNATS runs the binary: vigil serve --nats embedded queues the
// image to a vigil worker process joined on --nats-listen, and answers
// the score, p-value and decision of local scoring, with no map and a
// map_note; an unknown model is still 404 and SIGTERM still drains.
func TestServeNATS(t *testing.T) {
	bin, models, imgPath, img := serveFixture(t)
	// a free port for the embedded NATS server, which the worker joins
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := l.Addr().String()
	l.Close()

	serve, base, serveErr := startServe(t, bin, "--models", models, "--nats", "embedded", "--nats-listen", natsAddr, "--data-dir", t.TempDir())
	work := exec.Command(bin, "worker", "--nats", "nats://"+natsAddr, "--models", models)
	var workErr bytes.Buffer
	work.Stdout, work.Stderr = &workErr, &workErr
	if err := work.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		work.Process.Signal(syscall.SIGTERM)
		work.Wait()
		if t.Failed() {
			t.Logf("worker:\n%s\nserve:\n%s", workErr.String(), serveErr.String())
		}
	}()

	post := func(model string) (int, []byte) {
		res, err := http.Post(base+"/v1/models/"+model+":predict", "image/png", bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	code, body := post("weave")
	if code != 200 {
		t.Fatalf("predict: %d %s", code, body)
	}
	var p server.PredictResponse
	if err := json.Unmarshal(body, &p); err != nil || len(p.Results) != 1 {
		t.Fatalf("predict body %s: %v", body, err)
	}
	r := p.Results[0]

	matches, _ := filepath.Glob(filepath.Join(models, "weave*.safetensors"))
	if len(matches) == 0 {
		matches, _ = filepath.Glob(filepath.Join(models, "weave", "model.safetensors"))
	}
	if len(matches) != 1 {
		t.Fatalf("model file of weave in %s: %v", models, matches)
	}
	m, err := pipeline.LoadModel(matches[0], "")
	if err != nil {
		t.Fatal(err)
	}
	dec, err := imageio.Decode(bytes.NewReader(img), imgPath, imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.ScoreImages(context.Background(), []*imageio.Image{dec}, false)
	if err != nil || want[0].Err != nil {
		t.Fatal(err, want[0].Err)
	}
	if r.Score == nil || *r.Score != want[0].Score || *r.PValue != want[0].PValue || r.Decision != want[0].Verdict() {
		t.Fatalf("through the queue %s, local score %v p %v %s", body, want[0].Score, want[0].PValue, want[0].Verdict())
	}
	if r.Map != nil || r.MapNote == "" {
		t.Fatalf("map %+v, map_note %q", r.Map, r.MapNote)
	}
	if code, body := post("nosuch"); code != 404 || !bytes.Contains(body, []byte(`"unknown_model"`)) {
		t.Fatalf("unknown model: %d %s", code, body)
	}

	stopServe(t, serve, serveErr)
}

// TestServeNATSUsage: the NATS flags without --nats, and --nats embedded
// without --data-dir, are usage errors.
func TestServeNATSUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve", "--models", dir, "--data-dir", dir},
		{"serve", "--models", dir, "--ack-wait", "5s"},
		{"serve", "--models", dir, "--nats", "embedded"},
	} {
		if code, _, stderr := vigil(t, args...); code != 2 || !strings.Contains(stderr, "nats") {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
}
