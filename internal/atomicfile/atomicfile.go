// Package atomicfile writes files so that a reader, or the next run after a
// crash, sees either the old file or the complete new one, never a torn
// write.
//
// Write fills a temporary file in the destination's directory, fsyncs it,
// renames it over the destination and fsyncs the directory so the rename
// itself is durable. The temporary file is created with mode 0666 less the
// process umask, exactly like os.Create, so the final file's permissions
// follow the umask without reading it (syscall.Umask can only be read by
// setting it, which races with other goroutines creating files).
//
// Temporary files of writes in progress are tracked so that an interrupted
// program can delete them. A program that handles SIGINT/SIGTERM itself
// calls RemoveTemps from its handler before exiting; one that does not can
// call CleanupOnSignal once at start-up:
//
//	stop := atomicfile.CleanupOnSignal()
//	defer stop()
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrInterrupted is returned by a Write whose temporary file RemoveTemps
// deleted before it was renamed into place.
var ErrInterrupted = errors.New("atomicfile: write interrupted, temporary file removed")

// pending maps the temporary paths of writes in progress to whether
// RemoveTemps has deleted them. mu also orders RemoveTemps against the
// rename, so a temp file is either renamed or removed, never both.
var (
	mu      sync.Mutex
	pending = map[string]bool{}
	seq     atomic.Uint64
)

// Write creates or replaces path with what fill writes. fill's error (or any
// error creating, syncing or renaming the file) is returned wrapped with
// the path, and leaves an existing file at path untouched and no temporary
// file behind.
func Write(path string, fill func(io.Writer) error) (err error) {
	f, tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	done := false
	defer func() {
		if done {
			return
		}
		f.Close()
		mu.Lock()
		if !pending[tmp] {
			os.Remove(tmp)
		}
		delete(pending, tmp)
		mu.Unlock()
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: syncing: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	mu.Lock()
	if pending[tmp] {
		delete(pending, tmp)
		mu.Unlock()
		done = true
		return fmt.Errorf("writing %s: %w", path, ErrInterrupted)
	}
	err = os.Rename(tmp, path)
	if err == nil {
		delete(pending, tmp)
		done = true
	}
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("writing %s: syncing directory: %w", path, err)
	}
	return nil
}

// createTemp opens a new file next to path with mode 0666 (less umask),
// which os.CreateTemp cannot do (it always uses 0600), and registers it.
func createTemp(path string) (*os.File, string, error) {
	dir, base := filepath.Split(path)
	prefix := filepath.Join(dir, "."+base+".tmp"+strconv.Itoa(os.Getpid())+"-")
	for range 10000 {
		tmp := prefix + strconv.FormatUint(seq.Add(1), 10)
		// Register before creating so RemoveTemps never misses a file that
		// exists; a name that turns out to be taken is unregistered.
		mu.Lock()
		pending[tmp] = false
		mu.Unlock()
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			return f, tmp, nil
		}
		mu.Lock()
		delete(pending, tmp)
		mu.Unlock()
		if !errors.Is(err, os.ErrExist) {
			return nil, "", err
		}
	}
	return nil, "", fmt.Errorf("no free temporary name %s*", prefix)
}

// syncDir makes a rename in dir durable. Windows cannot open a directory
// for syncing and some file systems refuse it; there is nothing more to do
// on those.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// RemoveTemps deletes the temporary files of all writes in progress and
// returns how many it deleted. Those writes then fail with ErrInterrupted
// instead of renaming. It is safe to call from a signal handler goroutine
// while writes run.
func RemoveTemps() int {
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for tmp, removed := range pending {
		if removed {
			continue
		}
		if err := os.Remove(tmp); err == nil {
			n++
		}
		pending[tmp] = true
	}
	return n
}

// CleanupOnSignal installs a handler for SIGINT and SIGTERM that removes
// the temporary files of writes in progress and then lets the signal
// terminate the process as it would have without the handler. stop
// uninstalls the handler. Programs that handle these signals themselves
// call RemoveTemps from their own handler instead.
func CleanupOnSignal() (stop func()) {
	ch := make(chan os.Signal, 1)
	quit := make(chan struct{})
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			RemoveTemps()
			signal.Stop(ch)
			signal.Reset(sig)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Signal(sig)
			}
			// Where a process cannot signal itself (Windows), exit with the
			// shell's code for a signal death.
			time.Sleep(time.Second)
			code := 130
			if sig == syscall.SIGTERM {
				code = 143
			}
			os.Exit(code)
		case <-quit:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(quit)
		})
	}
}
