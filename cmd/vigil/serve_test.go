package main

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
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
	bin, models, _, img := serveFixture(t)
	cmd, base, stderr := startServe(t, bin, "--models", models)
	res, err := http.Post(base+"/v1/models/weave:predict", "image/png", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"decision"`)) {
		t.Fatalf("predict: %d %s", res.StatusCode, body)
	}
	stopServe(t, cmd, stderr)
	if !strings.Contains(stderr.String(), "drained") {
		t.Fatalf("no drain logged: %s", stderr.String())
	}
}
