//go:build unix

package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The file gets 0666 less the umask, like os.Create, for several umasks.
func TestModeFollowsUmask(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ umask, want os.FileMode }{{0o022, 0o644}, {0o077, 0o600}, {0o027, 0o640}, {0o002, 0o664}} {
		old := syscall.Umask(int(tc.umask))
		path := filepath.Join(dir, "f")
		err := Write(path, func(w io.Writer) error { _, err := w.Write([]byte("x")); return err })
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != tc.want {
			t.Errorf("umask %#o: mode %#o, want %#o", tc.umask, got, tc.want)
		}
	}
}

// helperEnv makes the test binary act as a program that saves a file and
// is killed by a signal midway (see TestCleanupOnSignal).
const helperEnv = "ATOMICFILE_SIGNAL_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		CleanupOnSignal()
		Write(filepath.Join(dir, "model.safetensors"), func(w io.Writer) error {
			w.Write([]byte("partial"))
			os.Stdout.WriteString("writing\n")
			select {} // the parent's signal ends the process
		})
		os.Exit(3) // not reached unless the write returned
	}
	os.Exit(m.Run())
}

// A program interrupted during a save leaves no temporary file and still
// dies of the signal.
func TestCleanupOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "writing" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper did not start writing: %q %v", line, err)
		}
		if n := names(t, dir); len(n) != 1 {
			t.Fatalf("mid-write the directory holds %v, want one temporary file", n)
		}
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: helper still running 10 s after the signal", sig)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%v: helper exit: %v", sig, err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != sig {
			t.Errorf("%v: helper ended with %v, want death by the signal", sig, ee)
		}
		if n := names(t, dir); len(n) != 0 {
			t.Errorf("%v: interrupted save left %v", sig, n)
		}
	}
}
