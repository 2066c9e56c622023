package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestRoundTripAndReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	want := bytes.Repeat([]byte{0, 1, 2, 250}, 10000)
	for _, data := range [][]byte{want, []byte("shorter replacement")} {
		if err := Write(path, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, wrote %d", len(got), len(data))
		}
		if n := names(t, dir); !slices.Equal(n, []string{"out.bin"}) {
			t.Fatalf("directory holds %v, want only out.bin", n)
		}
	}
}

func TestNoTempLeftOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("partial garbage"))
		return boom
	})
	if !errors.Is(err, boom) || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("want the fill error naming %s, got %v", path, err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("failed write changed the file to %q", got)
	}
	if n := names(t, dir); !slices.Equal(n, []string{"m.safetensors"}) {
		t.Fatalf("temp files left behind: %v", n)
	}
	// A rename that fails (the destination is a non-empty directory) also
	// cleans up.
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(sub, func(w io.Writer) error { _, err := w.Write([]byte("x")); return err }); err == nil {
		t.Fatal("renaming over a non-empty directory succeeded")
	}
	if n := names(t, dir); !slices.Equal(n, []string{"m.safetensors", "sub"}) {
		t.Fatalf("temp files left behind after failed rename: %v", n)
	}
	mu.Lock()
	left := len(pending)
	mu.Unlock()
	if left != 0 {
		t.Fatalf("%d temp paths still registered", left)
	}
}

func TestWriteIntoMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "f")
	err := Write(path, func(io.Writer) error { return nil })
	if err == nil || !errors.Is(err, os.ErrNotExist) || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("want a not-exist error naming %s, got %v", path, err)
	}
}

// RemoveTemps deletes the temporary file of a write that is still running,
// and that write then fails instead of renaming a file that is gone.
func TestRemoveTempsDuringWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	started, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- Write(path, func(w io.Writer) error {
			if _, err := w.Write([]byte("half a model")); err != nil {
				return err
			}
			close(started)
			<-release
			_, err := w.Write([]byte(" and the rest"))
			return err
		})
	}()
	<-started
	if n := names(t, dir); len(n) != 1 || n[0] == "model.safetensors" {
		t.Fatalf("while writing the directory holds %v, want one temporary file", n)
	}
	if n := RemoveTemps(); n != 1 {
		t.Fatalf("RemoveTemps removed %d files, want 1", n)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Fatalf("after RemoveTemps the directory holds %v", n)
	}
	close(release)
	if err := <-errc; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted write returned %v, want ErrInterrupted", err)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Fatalf("interrupted write left %v", n)
	}
	// Later writes are unaffected.
	if err := Write(path, func(w io.Writer) error { _, err := w.Write([]byte("ok")); return err }); err != nil {
		t.Fatal(err)
	}
	if RemoveTemps() != 0 {
		t.Fatal("RemoveTemps found a temp file with no write in progress")
	}
}
