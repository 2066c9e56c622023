// Package report writes evaluation results as a self-contained HTML page
// with PNG figures (ROC and PR curves, score histogram, per-image
// thumbnails, ground truth and heatmap overlays) plus metrics.json, and
// the per-image outputs of prediction (overlay and mask PNGs and
// results.json).
//
// Both writers stream: Writer.Add and PredictionWriter.Add render and
// encode one image's pictures at once and keep only its metadata, so
// memory does not grow with the images' size. The page and the JSON files
// are written at Close, atomically, so a reader never sees a half-written
// page.
//
// Heatmaps use the Turbo colormap over a range fixed by the caller
// (Options.MapRange, normally from the model's calibration), never over
// the other images of the run, so one image looks the same whatever else
// is in the report. Without a range each map is scaled to its own minimum
// and maximum, and the legend says so.
package report

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/atomicfile"
)

// Curve is a sampled curve: for ROC, X is the FPR and Y the TPR; for PR,
// X is the recall and Y the precision.
type Curve struct {
	X []float64 `json:"x"`
	Y []float64 `json:"y"`
}

// Row is one test image.
type Row struct {
	Name     string         // shown on the page; Path when empty
	Path     string         // path relative to the data root; names the picture files
	Defect   string         // defect type ("good" for normal images), "" when unknown
	Error    string         // non-empty: the image failed; it has no pictures
	Image    *imageio.Image // may be nil: the row then has no pictures
	Mask     *imageio.Map   // ground truth, may be nil
	Map      *imageio.Map   // anomaly map, may be nil
	PredMask *imageio.Map   // binary predicted mask, may be nil
	Score    float64
	Label    int  // 0 normal, 1 anomalous, -1 unknown
	Decision bool // predicted anomalous
	PValue   float64
	// Index is the row's position in the input; metrics.json lists rows
	// by Index (ties in the order Add was called), so a run that adds rows
	// from a goroutine pool still writes them in input order.
	Index int
}

// Number is a float64 whose JSON form is null when it is NaN or infinite
// (JSON has no such values); null reads back as NaN.
type Number float64

// MarshalJSON implements json.Marshaler.
func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Number(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Number(f)
	return nil
}

// RowSummary is a row as recorded in metrics.json; the file names are
// relative to the report directory and empty when there is no picture.
type RowSummary struct {
	Name     string `json:"name"`
	Path     string `json:"path,omitempty"`
	Defect   string `json:"defect,omitempty"`
	Error    string `json:"error,omitempty"`
	Score    Number `json:"score"`
	Label    int    `json:"label"`
	Decision bool   `json:"decision"`
	PValue   Number `json:"p_value"`
	// Outcome is "error", "false_positive", "miss", "true_positive",
	// "true_negative", or "anomalous"/"normal" (the decision) when the
	// label is unknown.
	Outcome string `json:"outcome"`
	Image   string `json:"image,omitempty"`
	Mask    string `json:"mask,omitempty"`
	Overlay string `json:"overlay,omitempty"`
	// MapRange is the range this row's heatmap was scaled to when the
	// report has no fixed range (each map then uses its own).
	MapRange *[2]Number `json:"map_range,omitempty"`

	index, seq int // ordering: input position, then Add order
}

// DefectSummary is one line of the per-defect-type table. Images,
// Flagged and Errors are counted by the Writer from its rows; Metrics are
// the caller's (for example this type's image AUROC against the normal
// images), shown in words like the main metrics.
type DefectSummary struct {
	Defect  string         `json:"defect"`
	Images  int            `json:"images"`
	Flagged int            `json:"flagged_anomalous"`
	Errors  int            `json:"errors"`
	Metrics map[string]any `json:"metrics,omitempty"`
}

// Summary is the content of metrics.json. For Writer.Close the caller
// fills the evaluation's results; MapRange, MapRangeSource,
// PixelThreshold, Rows and the counts of PerDefect are filled by the
// Writer.
type Summary struct {
	Title string `json:"title"`
	// Metrics are shown in MetricOrder first, then the remaining keys
	// sorted, each under its name in words; the keys "threshold",
	// "threshold_rule", "rule" and "target_fpr" are shown in the one
	// threshold row instead (they stay in metrics.json).
	Metrics     map[string]any `json:"metrics"`
	MetricOrder []string       `json:"metric_order,omitempty"`
	// Threshold is the image-score decision threshold (NaN: none), chosen
	// by ThresholdRule for the false-positive rate TargetFPR (0 or NaN:
	// the rule has no target).
	Threshold     Number `json:"threshold"`
	ThresholdRule string `json:"threshold_rule,omitempty"`
	TargetFPR     Number `json:"target_fpr"`
	// MapRange is the heatmaps' colour scale; MapRangeSource is
	// "calibration" (fixed by the caller) or "per_image".
	MapRange       [2]Number `json:"map_range"`
	MapRangeSource string    `json:"map_range_source,omitempty"`
	PixelThreshold Number    `json:"pixel_threshold"`
	ROC            Curve     `json:"roc"`
	PR             Curve     `json:"pr"`
	// NormalScores and AnomalousScores feed the score histogram.
	NormalScores    []Number        `json:"normal_scores"`
	AnomalousScores []Number        `json:"anomalous_scores"`
	PerDefect       []DefectSummary `json:"per_defect,omitempty"`
	// Warnings are shown at the top of the page (data and calibration
	// warnings).
	Warnings []string     `json:"warnings,omitempty"`
	Rows     []RowSummary `json:"rows"`
}

// ReadSummary reads a metrics.json written by Writer.Close.
func ReadSummary(path string) (*Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// finiteRange returns the min and max over the finite values of v
// (+Inf, -Inf when there are none).
func finiteRange(v []float32) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		f := float64(x)
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			lo, hi = min(lo, f), max(hi, f)
		}
	}
	return lo, hi
}

// atomicWrite is the package's one way of creating a file: a temporary
// file renamed into place, so readers never see a partial file.
func atomicWrite(path string, fill func(io.Writer) error) error {
	return atomicfile.Write(path, fill)
}

// savePNG writes a picture plainly, without atomicWrite's temporary file
// and fsync (three fsyncs per row made a report of 512x512 images about
// 5x slower): pictures are only referenced by index.html and
// results.json, which are written atomically after them, and Abort
// removes a partial one.
var pngEncoder = png.Encoder{CompressionLevel: png.BestSpeed}

func savePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// BestSpeed: default compression spent 70% of a report's time in
	// deflate's match search (enlarged thumbnails repeat a lot), 7 s for
	// the 60 pictures of a demo family against under 1 s; files grow
	// about 2x, which reports can afford.
	if err := pngEncoder.Encode(f, img); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return atomicWrite(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// safeName turns an image name into a file-name stem: letters, digits,
// '-', '_' and '.' are kept, everything else (path separators included,
// so "sub/a.png" gives "sub_a") becomes '_'; length is bounded and a
// leading '.' avoided (no hidden files, no path traversal).
func safeName(name string) string {
	name = strings.TrimSuffix(name, path.Ext(name))
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), ".")
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	if s == "" {
		s = "image"
	}
	return s
}

// stemSet hands out distinct file-name stems, compared case-insensitively
// (case-insensitive file systems), suffixing repeats "-2", "-3", ...
type stemSet map[string]int

func (s stemSet) next(name string) string {
	base := safeName(name)
	st := base
	for s[strings.ToLower(st)] > 0 {
		s[strings.ToLower(base)]++
		st = base + "-" + strconv.Itoa(s[strings.ToLower(base)])
	}
	s[strings.ToLower(st)]++
	return st
}

// uniqueStems gives each name a distinct safe stem, suffixing repeats.
func uniqueStems(names []string) []string {
	set := stemSet{}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = set.next(n)
	}
	return out
}

func checkRow(name string, img *imageio.Image, maps ...*imageio.Map) error {
	if img != nil && (img.C < 1 || img.H < 1 || img.W < 1 || len(img.Pix) != img.C*img.H*img.W) {
		return fmt.Errorf("%q: inconsistent image %dx%dx%d with %d values", name, img.C, img.H, img.W, len(img.Pix))
	}
	for _, m := range maps {
		if m != nil && (m.H < 1 || m.W < 1 || len(m.Pix) != m.H*m.W) {
			return fmt.Errorf("%q: inconsistent map %dx%d with %d values", name, m.H, m.W, len(m.Pix))
		}
	}
	return nil
}

// sanitize replaces non-finite floats (which JSON cannot hold) by null,
// recursively through maps and slices.
func sanitize(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = sanitizeValue(v)
	}
	return out
}

func sanitizeValue(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
	case map[string]any:
		return sanitize(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sanitizeValue(e)
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sanitizeValue(e)
		}
		return out
	}
	return v
}
