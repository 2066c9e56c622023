package pipeline

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-ad/vigil/dataset"
)

// PredictOptions configure Predict.
type PredictOptions struct {
	Model       string // model file (or Loaded)
	Loaded      *Model
	BackboneDir string
	// Paths are image files or folders (walked recursively, image files
	// recognised by extension).
	Paths     []string
	MaxPixels int
	Batch     int
	Progress  Progress
	// OnImage, when set, is called for every image in order while its
	// pictures are in memory (overlays, masks).
	OnImage func(*ImageResult) error
}

// PredictResult lists every image's outcome in input order.
type PredictResult struct {
	Method     string  `json:"method"`
	Threshold  float64 `json:"threshold"`
	N          int     `json:"n"`
	NAnomalous int     `json:"n_anomalous"`
	NErrors    int     `json:"n_errors"`
	Seconds    float64 `json:"seconds"`
	Rows       []Row   `json:"rows"`
}

// ExpandPaths turns files and folders into samples in a stable order: a
// file as given, a folder's image files recursively in lexical order,
// named by their path as given. A path that does not exist is an
// *OptionError.
func ExpandPaths(paths []string) ([]dataset.Sample, error) {
	if len(paths) == 0 {
		return nil, optErr("images", "give at least one image or folder")
	}
	var out []dataset.Sample
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, optErr("images", "%s does not exist", p)
		}
		if !st.IsDir() {
			out = append(out, dataset.Sample{Path: p, Name: p, Label: -1})
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && d.Name()[0] == '.' {
				return filepath.SkipDir
			}
			if !d.IsDir() && dataset.IsImageFile(d.Name()) {
				out = append(out, dataset.Sample{Path: path, Name: path, Label: -1})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading folder %s: %w", p, err)
		}
	}
	if len(out) == 0 {
		return nil, optErr("images", "no image files in %v", paths)
	}
	return out, nil
}

// Predict scores images with a fitted model. An image that fails is
// reported in its row (Verdict "error") and the others still run.
func Predict(ctx context.Context, o PredictOptions) (*PredictResult, error) {
	if o.MaxPixels < 0 {
		return nil, optErr("max-pixels", "must be positive")
	}
	samples, err := ExpandPaths(o.Paths)
	if err != nil {
		return nil, err
	}
	m := o.Loaded
	if m == nil {
		if m, err = LoadModel(o.Model, o.BackboneDir); err != nil {
			return nil, err
		}
	}
	calib := m.Calib
	out := &PredictResult{Method: m.Detector.Method(), Threshold: calib.Threshold, N: len(samples)}
	t0 := time.Now()
	err = stream(ctx, m.Detector, samples, streamOptions{batch: o.Batch, maxPixels: o.MaxPixels, calib: &calib,
		progress: o.Progress, step: "scoring", predMask: o.OnImage != nil}, func(r *ImageResult) error {
		row := Row{Name: r.Name, Path: r.Path, Label: -1, Score: r.Score, PValue: r.PValue, Verdict: r.Verdict()}
		switch {
		case r.Err != nil:
			row.Error = r.Err.Error()
			out.NErrors++
		case r.Anomalous:
			out.NAnomalous++
		}
		out.Rows = append(out.Rows, row)
		if o.OnImage != nil {
			return o.OnImage(r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Seconds = time.Since(t0).Seconds()
	return out, nil
}
