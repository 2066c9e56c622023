package backbone

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// Downloads go through the system's curl (or wget) rather than net/http:
// linking Go's net package with cgo enabled makes `go build ./cmd/vigil`
// produce a dynamically linked binary, and Vigil ships as one static
// binary. Integrity does not depend on the tool: Pull checks the size and
// the pinned sha256 itself.

// fetchTools lists the download commands tried in order.
var fetchTools = []struct {
	name string
	args func(url string) []string
}{
	{"curl", func(u string) []string {
		return []string{"--fail", "--silent", "--show-error", "--location", "--proto", "=https,http", u}
	}},
	{"wget", func(u string) []string { return []string{"--quiet", "--output-document=-", u} }},
}

// fetch streams the body at url from the first available download tool.
// Closing the reader waits for the tool and reports its failure.
func fetch(ctx context.Context, url string) (io.ReadCloser, error) {
	for _, t := range fetchTools {
		path, err := exec.LookPath(t.name)
		if err != nil {
			continue
		}
		cmd := exec.CommandContext(ctx, path, t.args(url)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		return &toolReader{r: out, cmd: cmd, name: t.name, stderr: &stderr}, nil
	}
	names := make([]string, len(fetchTools))
	for i, t := range fetchTools {
		names[i] = t.name
	}
	return nil, fmt.Errorf("no download tool found (need one of %s); or download %s yourself into the backbone folder", strings.Join(names, ", "), url)
}

// toolReader is the stdout of a running download tool.
type toolReader struct {
	r      io.ReadCloser
	cmd    *exec.Cmd
	name   string
	stderr *bytes.Buffer
	closed bool
}

func (t *toolReader) Read(p []byte) (int, error) { return t.r.Read(p) }

// Close stops reading (a tool still writing gets a broken pipe and exits),
// waits for the tool and returns its failure with what it printed.
func (t *toolReader) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	t.r.Close()
	err := t.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s failed (%v): %s", t.name, ee, strings.TrimSpace(t.stderr.String()))
	}
	return err
}
