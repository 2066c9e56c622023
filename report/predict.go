package report

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/vigil-ad/vigil/imageio"
)

// Prediction is one image's outcome from `vigil predict`.
type Prediction struct {
	// Path is the image's path as given (relative to the working
	// directory or data root); results.json records it and the output
	// files are named after it ("sub/a.png" -> "sub_a_overlay.png").
	Path     string
	Name     string // used in place of Path when Path is empty
	Image    *imageio.Image
	Map      *imageio.Map // may be nil
	PredMask *imageio.Map // binary predicted mask, may be nil
	Score    float64
	PValue   float64
	Decision bool
	// Error, when not empty, marks an image that failed (not readable,
	// not scorable): no pictures, decision "error".
	Error string
	// Index is the image's position in the input; results.json lists
	// entries by Index (ties in the order Add was called).
	Index int
}

// PredictionResult is one entry of results.json. Overlay and Mask are
// file names inside the output directory.
type PredictionResult struct {
	Path      string `json:"path"`
	Score     Number `json:"score"`
	PValue    Number `json:"p_value"`
	Decision  string `json:"decision"` // "anomalous", "normal" or "error"
	Threshold Number `json:"threshold"`
	Overlay   string `json:"overlay,omitempty"`
	Mask      string `json:"mask,omitempty"`
	Error     string `json:"error,omitempty"`

	index, seq int
}

// PredictionWriter streams prediction outputs into a directory: Add
// writes an image's overlay and mask PNGs at once and keeps a small
// entry; Close writes results.json.
//
// Add may be called from several goroutines at once. Close and Abort must
// be called once every Add has returned.
type PredictionWriter struct {
	dir string
	opt Options

	out outputs[PredictionResult]
}

// NewPredictionWriter starts writing predictions into dir (created if
// needed).
func NewPredictionWriter(dir string, opt Options) (*PredictionWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("predictions: %w", err)
	}
	return &PredictionWriter{dir: dir, opt: opt, out: outputs[PredictionResult]{dir: dir}}, nil
}

// Add writes <stem>_overlay.png (the image at full resolution with the
// heatmap in the Options' fixed colour range, the predicted region's
// contour and a colour bar strip below) and, when p has a predicted mask,
// <stem>_mask.png (0/255, resampled to the image's size). A failed image
// (Error set), or one with a NaN score, gets no files and decision
// "error".
func (pw *PredictionWriter) Add(p Prediction) (PredictionResult, error) {
	name := p.Path
	if name == "" {
		name = p.Name
	}
	if err := checkRow(name, p.Image, p.Map, p.PredMask); err != nil {
		return PredictionResult{}, fmt.Errorf("predictions: %w", err)
	}
	r := PredictionResult{
		Path: name, Score: Number(p.Score), PValue: Number(p.PValue), Error: p.Error,
		Threshold: Number(math.NaN()), index: p.Index,
	}
	if pw.opt.ImageThreshold != nil {
		r.Threshold = Number(*pw.opt.ImageThreshold)
	}
	if r.Error == "" && math.IsNaN(p.Score) {
		r.Error = "score is not a number" // never let NaN read as "normal"
	}
	if r.Error == "" && p.Image == nil {
		r.Error = "no image"
	}
	switch {
	case r.Error != "":
		// A failed image's numbers mean nothing: null in results.json.
		r.Decision = "error"
		r.Score, r.PValue = Number(math.NaN()), Number(math.NaN())
	case p.Decision:
		r.Decision = "anomalous"
	default:
		r.Decision = "normal"
	}
	// a failed image gets no files, so no stem
	stem, seq, ok := pw.out.begin(name, r.Error == "")
	if !ok {
		return PredictionResult{}, fmt.Errorf("predictions: Add on a closed writer (%q)", name)
	}
	r.seq = seq

	var err error
	var written []string
	if r.Error == "" {
		lo, hi := pw.opt.mapRange(p.Map)
		ov := WithColorBar(Overlay(p.Image, p.Map, lo, hi, p.PredMask), lo, hi, pw.opt.PixelThreshold, !pw.opt.fixedRange())
		r.Overlay = stem + "_overlay.png"
		if err = savePNG(filepath.Join(pw.dir, r.Overlay), ov); err == nil {
			written = append(written, r.Overlay)
			if p.PredMask != nil {
				m := p.PredMask
				if m.H != p.Image.H || m.W != p.Image.W {
					m = coverage(imageio.ResizeMap(m, p.Image.H, p.Image.W))
				}
				r.Mask = stem + "_mask.png"
				if err = savePNG(filepath.Join(pw.dir, r.Mask), m.ToGoImage()); err == nil {
					written = append(written, r.Mask)
				}
			}
		}
		if err != nil {
			err = fmt.Errorf("predictions: %q: %w", name, err)
		}
	}
	if !pw.out.finish(written, r, err == nil) {
		return PredictionResult{}, fmt.Errorf("predictions: %q: writer aborted", name)
	}
	if err != nil {
		return PredictionResult{}, err
	}
	return r, nil
}

// Close writes results.json atomically: one entry per added image, by
// Index.
func (pw *PredictionWriter) Close() error {
	res, ok := pw.out.close()
	if !ok {
		return errors.New("predictions: Close on a closed writer")
	}
	if res == nil {
		res = []PredictionResult{}
	}
	if err := writeJSON(filepath.Join(pw.dir, "results.json"), res); err != nil {
		return fmt.Errorf("predictions: %w", err)
	}
	return nil
}

// Abort removes the files written so far. After a successful Close it
// does nothing, so `defer pw.Abort()` is safe.
func (pw *PredictionWriter) Abort() { pw.out.abort() }
