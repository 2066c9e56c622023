package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/pipeline"
)

// ModelInfo describes a served model (GET /v1/models).
type ModelInfo struct {
	Name           string      `json:"name"`
	Method         string      `json:"method"`
	Backbone       string      `json:"backbone"`
	Threshold      float64     `json:"threshold"`
	Alpha          float64     `json:"alpha"`
	Rule           string      `json:"rule"`
	PixelThreshold *float64    `json:"pixel_threshold"`
	MapRange       *[2]float64 `json:"map_range"` // fixed heatmap scale from the calibration; null: per image
	Created        time.Time   `json:"created"`   // the model file's modification time (saves are atomic renames)
	VigilVersion   string      `json:"vigil_version"`
	Loaded         time.Time   `json:"loaded"`
	// ReloadError is set while a changed file could not be loaded (the
	// previous version keeps serving).
	ReloadError string `json:"reload_error,omitempty"`
}

// entry is one loaded model version; it is never modified after it is
// published, so a request that holds it finishes on it even when a
// reload swaps in a new version.
type entry struct {
	info  ModelInfo
	model *pipeline.Model
	stamp fileStamp
}

// fileStamp identifies a version of a model file.
type fileStamp struct {
	size int64
	mod  time.Time
}

// registry holds the models found in one folder: DIR/NAME.safetensors,
// or DIR/NAME/model.safetensors (the layout 'vigil demo' writes).
type registry struct {
	dir, backboneDir string
	log              *slog.Logger
	metrics          *metrics

	mu       sync.RWMutex
	models   map[string]*entry
	failed   map[string]fileStamp // versions that failed to load: not retried until the file changes
	errs     map[string]string    // names whose file fails to load
	ready    atomic.Bool          // the first scan is complete
	scanMu   sync.Mutex           // one scan at a time
	warmup   bool                 // score one image at load (initialises lazy state single-threaded)
	loadHook func(name string)    // tests: called before a file is loaded
}

func newRegistry(dir, backboneDir string, log *slog.Logger, m *metrics) (*registry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("models folder %s does not exist", dir)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("models folder %s is not a folder", dir)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return &registry{dir: abs, backboneDir: backboneDir, log: log, metrics: m,
		models: map[string]*entry{}, failed: map[string]fileStamp{}, errs: map[string]string{}, warmup: true}, nil
}

// get returns the current version of a model.
func (r *registry) get(name string) (*entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.models[name]
	return e, ok
}

// list returns every model's info, sorted by name.
func (r *registry) list() []ModelInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]ModelInfo, 0, len(r.models))
	for name, e := range r.models {
		info := e.info
		info.ReloadError = r.errs[name]
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// candidates lists the model files in the folder by name
// (pipeline.ModelFiles: the rule the workers use too), logging the entries
// it skips.
func (r *registry) candidates() map[string]string {
	out, skipped, err := pipeline.ModelFiles(r.dir)
	if err != nil {
		r.log.Error("reading models folder", "dir", r.dir, "err", err)
		return map[string]string{}
	}
	for _, sk := range skipped {
		r.log.Warn("model file skipped", "path", sk.Path, "reason", sk.Reason)
	}
	return out
}

// scan loads new and changed model files and drops removed ones. A file
// that fails to load leaves the previous version serving.
func (r *registry) scan(ctx context.Context) {
	r.scanMu.Lock()
	defer r.scanMu.Unlock()
	found := r.candidates()
	for name, path := range found {
		if ctx.Err() != nil {
			return
		}
		st, err := os.Stat(path)
		if err != nil {
			continue
		}
		stamp := fileStamp{st.Size(), st.ModTime()}
		r.mu.RLock()
		cur, have := r.models[name]
		failedStamp, failed := r.failed[name]
		r.mu.RUnlock()
		if (have && cur.stamp == stamp) || (failed && failedStamp == stamp) {
			continue
		}
		if r.loadHook != nil {
			r.loadHook(name)
		}
		e, err := r.load(name, path, stamp)
		r.mu.Lock()
		if err != nil {
			r.failed[name] = stamp
			r.errs[name] = err.Error()
			r.mu.Unlock()
			r.metrics.reloads.WithLabelValues(name, "failed").Inc()
			if have {
				r.log.Error("model file changed but does not load; the previous version keeps serving", "model", name, "err", err)
			} else {
				r.log.Error("model file does not load", "model", name, "err", err)
			}
			continue
		}
		r.models[name] = e
		delete(r.failed, name)
		delete(r.errs, name)
		r.mu.Unlock()
		r.metrics.reloads.WithLabelValues(name, "loaded").Inc()
		r.log.Info("model loaded", "model", name, "method", e.info.Method, "path", path, "reload", have)
	}
	r.mu.Lock()
	for name := range r.models {
		if _, ok := found[name]; !ok {
			delete(r.models, name)
			r.log.Info("model file removed; model no longer served", "model", name)
		}
	}
	for name := range r.errs {
		if _, ok := found[name]; !ok {
			delete(r.errs, name)
			delete(r.failed, name)
		}
	}
	r.metrics.modelsLoaded.Set(float64(len(r.models)))
	r.mu.Unlock()
	r.ready.Store(true)
}

// load reads one model file and, with warm-up on, scores one image so
// that lazily built state (a backbone) exists before requests share it.
func (r *registry) load(name, path string, stamp fileStamp) (*entry, error) {
	m, err := pipeline.LoadModel(path, r.backboneDir)
	if err != nil {
		return nil, err
	}
	if r.warmup {
		img := imageio.New(3, 64, 64)
		for i := range img.Pix {
			img.Pix[i] = 0.5
		}
		rs, err := m.ScoreImages(context.Background(), []*imageio.Image{img}, false)
		if err != nil {
			return nil, fmt.Errorf("model %s: warm-up scoring: %w", path, err)
		}
		if rs[0].Err != nil && !errors.Is(rs[0].Err, context.Canceled) {
			// a flat gray image may be outside what a model accepts; the
			// model still loads, real images decide
			r.log.Warn("warm-up image failed", "model", name, "err", rs[0].Err)
		}
	}
	info := ModelInfo{Name: name, Method: m.Detector.Method(), Backbone: m.Backbone(), Threshold: m.Calib.Threshold,
		Alpha: m.Calib.Alpha, Rule: m.Calib.Method, PixelThreshold: m.Calib.PixelThreshold,
		Created: stamp.mod.UTC(), VigilVersion: m.Meta.Version, Loaded: time.Now().UTC()}
	if lo, hi, ok := m.Calib.MapRange(); ok {
		info.MapRange = &[2]float64{lo, hi}
	}
	return &entry{info: info, model: m, stamp: stamp}, nil
}

// watch rescans the folder every interval until ctx ends.
func (r *registry) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.scan(ctx)
		}
	}
}

// errorOf is the last load error of a model file ("" when it loads).
func (r *registry) errorOf(name string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.errs[name]
}
