package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServeUsage(t *testing.T) {
	code, out, stderr := vigil(t, "serve", "--help")
	if code != 0 || !strings.Contains(out, "Usage: vigil serve") || stderr != "" {
		t.Errorf("serve --help: exit %d, %q, %q", code, out, stderr)
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve"}, // no --models
		{"serve", "--models", filepath.Join(dir, "missing")},
		{"serve", "--models", dir, "--workers", "0"},
		{"serve", "--models", dir, "--tls-cert", "c.pem"},
		{"serve", "--models", dir, "--token-file", filepath.Join(dir, "nope")},
		{"serve", "--models", dir, "--timeout", "-1s"},
		{"bench", "serve", "--models", dir},
	} {
		if code, _, stderr := vigil(t, args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
}

// TestServeDrainsOnSIGTERM runs the binary: SIGTERM makes vigil serve
// drain and exit 0 (the temporary-file cleanup handler would re-raise the
// signal: exit 143) after answering the predictions it took.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "vigil")
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
	img, err := os.ReadFile(filepath.Join(data, "weave", "test", "good", "000.png"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--models", models, "--addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (stderr %s)", err, stderr.String())
	}
	f := strings.Fields(line)
	if len(f) < 3 || !strings.HasPrefix(f[2], "http://") {
		t.Fatalf("address line %q", line)
	}
	base := f[2]
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v (stderr %s)", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := http.Post(base+"/v1/models/weave:predict", "image/png", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"decision"`)) {
		t.Fatalf("predict: %d %s", res.StatusCode, body)
	}
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
	if !strings.Contains(stderr.String(), "drained") {
		t.Fatalf("no drain logged: %s", stderr.String())
	}
}
