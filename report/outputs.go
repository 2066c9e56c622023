package report

import (
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// entry is what a writer keeps per Add, listed by the caller's Index with
// ties in Add order.
type entry interface{ order() (index, seq int) }

func (r RowSummary) order() (int, int)       { return r.index, r.seq }
func (r PredictionResult) order() (int, int) { return r.index, r.seq }

// outputs is the bookkeeping Writer and PredictionWriter share: each Add's
// file stem and sequence number, the entries kept, the files written so
// far (slash paths relative to dir) so that Abort can remove them, and
// whether the writer is closed or aborted. Adds may run concurrently.
type outputs[T entry] struct {
	dir     string
	mu      sync.Mutex
	stems   stemSet
	entries []T
	files   []string
	seq     int
	done    bool // closed or aborted
	aborted bool
}

// begin reserves one Add: its sequence number and, when files, a file stem
// for stemName that no earlier Add got. ok is false on a closed writer.
func (o *outputs[T]) begin(stemName string, files bool) (stem string, seq int, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return "", 0, false
	}
	if o.stems == nil {
		o.stems = stemSet{}
	}
	if files {
		stem = o.stems.next(stemName)
	}
	seq = o.seq
	o.seq++
	return stem, seq, true
}

// finish records the files one Add wrote and, when keep, its entry. When
// Abort ran while the Add was drawing, it removes those files instead and
// returns false: an aborted writer leaves nothing behind.
func (o *outputs[T]) finish(written []string, e T, keep bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.aborted {
		o.removeFiles(written)
		return false
	}
	o.files = append(o.files, written...)
	if keep {
		o.entries = append(o.entries, e)
	}
	return true
}

// wrote records a file Close wrote, for a later removal.
func (o *outputs[T]) wrote(file string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.files = append(o.files, file)
}

// close marks the writer closed and returns the entries by Index, ties in
// Add order; ok is false when it was already closed or aborted.
func (o *outputs[T]) close() (es []T, ok bool) {
	o.mu.Lock()
	if o.done {
		o.mu.Unlock()
		return nil, false
	}
	o.done = true
	es = o.entries
	o.mu.Unlock()
	sort.SliceStable(es, func(i, j int) bool {
		ii, si := es[i].order()
		ij, sj := es[j].order()
		if ii != ij {
			return ii < ij
		}
		return si < sj
	})
	return es, true
}

// abort removes everything written, plus extra, unless the writer was
// closed successfully (then it does nothing and returns false).
func (o *outputs[T]) abort(extra ...string) bool {
	o.mu.Lock()
	closed := o.done && !o.aborted
	o.mu.Unlock()
	if closed {
		return false
	}
	o.remove(extra...)
	return true
}

// remove marks the writer aborted and removes the files written so far
// and extra (slash paths relative to dir).
func (o *outputs[T]) remove(extra ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done, o.aborted = true, true
	o.removeFiles(o.files)
	o.removeFiles(extra)
	o.files = nil
}

func (o *outputs[T]) removeFiles(files []string) {
	for _, f := range files {
		os.Remove(filepath.Join(o.dir, filepath.FromSlash(f)))
	}
}
