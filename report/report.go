// Package report writes evaluation results as a self-contained HTML page
// with PNG figures (ROC and PR curves, score histogram, per-image
// thumbnails, ground truth and heatmap overlays) plus metrics.json, and
// the per-image outputs of prediction (overlay PNGs and results.json).
//
// Heatmaps use the Turbo colormap. In an evaluation report every map is
// normalised with one global range (Report.MapRange if set, otherwise the
// minimum and maximum over all rows' maps) so colours are comparable
// across images.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"image"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
)

// Curve is a sampled curve: for ROC, X is the FPR and Y the TPR; for PR,
// X is the recall and Y the precision.
type Curve struct {
	X []float64 `json:"x"`
	Y []float64 `json:"y"`
}

// Row is one test image.
type Row struct {
	Name     string
	Image    *imageio.Image // may be nil: the row then has no pictures
	Mask     *imageio.Map   // ground truth, may be nil
	Map      *imageio.Map   // anomaly map, may be nil
	PredMask *imageio.Map   // binary predicted mask, may be nil
	Score    float64
	Label    int  // 0 normal, 1 anomalous, -1 unknown
	Decision bool // predicted anomalous
	PValue   float64
}

// Report is everything an evaluation page shows.
type Report struct {
	Title string
	// Metrics are shown in MetricOrder first, then the remaining keys
	// sorted. Values are numbers, strings, bools or anything JSON can hold.
	Metrics     map[string]any
	MetricOrder []string
	ROC, PR     Curve
	// NormalScores and AnomalousScores feed the score histogram.
	NormalScores, AnomalousScores []float64
	// Threshold is the image-level decision threshold; NaN hides it.
	Threshold float64
	// MapRange, when MapRange[1] > MapRange[0], fixes the heatmap
	// normalisation instead of the global min/max of the rows' maps.
	MapRange [2]float64
	Rows     []Row
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

func numbers(v []float64) []Number {
	out := make([]Number, len(v))
	for i, x := range v {
		out[i] = Number(x)
	}
	return out
}

// RowSummary is a row as recorded in metrics.json; the file names are
// relative to the report directory and empty when there is no picture.
type RowSummary struct {
	Name     string `json:"name"`
	Score    Number `json:"score"`
	Label    int    `json:"label"`
	Decision bool   `json:"decision"`
	PValue   Number `json:"p_value"`
	Image    string `json:"image,omitempty"`
	Mask     string `json:"mask,omitempty"`
	Overlay  string `json:"overlay,omitempty"`
}

// Summary is the content of metrics.json.
type Summary struct {
	Title           string         `json:"title"`
	Metrics         map[string]any `json:"metrics"`
	MetricOrder     []string       `json:"metric_order,omitempty"`
	Threshold       Number         `json:"threshold"`
	MapRange        [2]Number      `json:"map_range"`
	ROC             Curve          `json:"roc"`
	PR              Curve          `json:"pr"`
	NormalScores    []Number       `json:"normal_scores"`
	AnomalousScores []Number       `json:"anomalous_scores"`
	Rows            []RowSummary   `json:"rows"`
}

// ReadSummary reads a metrics.json written by Write.
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

// thumbMax is the largest side of a picture in the report.
const thumbMax = 256

// thumbSize returns h×w scaled to fit thumbMax, keeping the aspect ratio.
func thumbSize(h, w int) (int, int) {
	if m := max(h, w); m > thumbMax {
		return max(1, h*thumbMax/m), max(1, w*thumbMax/m)
	}
	return h, w
}

// safeName turns an image name into a file-name stem: letters, digits,
// '-', '_' and '.' are kept, everything else becomes '_'; length is bounded
// and a leading '.' avoided (no hidden files, no path traversal).
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

// uniqueStems gives each name a distinct safe stem, suffixing repeats.
func uniqueStems(names []string) []string {
	seen := map[string]int{}
	out := make([]string, len(names))
	for i, n := range names {
		s := safeName(n)
		base := s
		for seen[strings.ToLower(s)] > 0 {
			seen[strings.ToLower(base)]++
			s = base + "-" + strconv.Itoa(seen[strings.ToLower(base)])
		}
		seen[strings.ToLower(s)]++
		out[i] = s
	}
	return out
}

// mapRange returns the min and max over all non-NaN map values.
func mapRange(maps []*imageio.Map) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, m := range maps {
		if m == nil {
			continue
		}
		for _, v := range m.Pix {
			f := float64(v)
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				lo, hi = min(lo, f), max(hi, f)
			}
		}
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	return lo, hi
}

// forEach runs fn(i) for i in [0,n) on up to GOMAXPROCS goroutines and
// returns the first error by index.
func forEach(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(n, runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func thumbImage(img *imageio.Image) *imageio.Image {
	h, w := thumbSize(img.H, img.W)
	if h == img.H && w == img.W {
		return img
	}
	return imageio.Resize(img, h, w)
}

// thumbMask resamples a 0/1 mask to h×w and re-binarises it.
func thumbMask(m *imageio.Map, h, w int) *imageio.Map {
	if m.H == h && m.W == w {
		return m
	}
	r := imageio.ResizeMap(m, h, w)
	for i, v := range r.Pix {
		if v >= 0.5 {
			r.Pix[i] = 1
		} else {
			r.Pix[i] = 0
		}
	}
	return r
}

func checkRow(i int, name string, img *imageio.Image, maps ...*imageio.Map) error {
	if img == nil {
		return nil
	}
	if img.C < 1 || img.H < 1 || img.W < 1 || len(img.Pix) != img.C*img.H*img.W {
		return fmt.Errorf("row %d (%q): inconsistent image %dx%dx%d with %d values", i, name, img.C, img.H, img.W, len(img.Pix))
	}
	for _, m := range maps {
		if m != nil && (m.H < 1 || m.W < 1 || len(m.Pix) != m.H*m.W) {
			return fmt.Errorf("row %d (%q): inconsistent map %dx%d with %d values", i, name, m.H, m.W, len(m.Pix))
		}
	}
	return nil
}

// Write renders r into dir (created if needed): index.html, metrics.json,
// roc.png, pr.png, hist.png and img/<name>_{image,mask,overlay}.png. Every
// file is written atomically; index.html comes last, so a page never
// references a missing picture.
func Write(dir string, r Report) error {
	for i, row := range r.Rows {
		if err := checkRow(i, row.Name, row.Image, row.Mask, row.Map, row.PredMask); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "img"), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	lo, hi := r.MapRange[0], r.MapRange[1]
	if !(hi > lo) {
		maps := make([]*imageio.Map, len(r.Rows))
		for i, row := range r.Rows {
			maps[i] = row.Map
		}
		lo, hi = mapRange(maps)
	}
	hasThr := !math.IsNaN(r.Threshold) && !math.IsInf(r.Threshold, 0)
	figs := []struct {
		file string
		img  func() image.Image
	}{
		{"roc.png", func() image.Image { return rocPlot(r.ROC) }},
		{"pr.png", func() image.Image { return prPlot(r.PR) }},
		{"hist.png", func() image.Image { return histPlot(r.NormalScores, r.AnomalousScores, r.Threshold, hasThr) }},
	}
	names := make([]string, len(r.Rows))
	for i, row := range r.Rows {
		names[i] = row.Name
	}
	stems := uniqueStems(names)
	rows := make([]RowSummary, len(r.Rows))
	for i, row := range r.Rows {
		rows[i] = RowSummary{Name: row.Name, Score: Number(row.Score), Label: row.Label, Decision: row.Decision, PValue: Number(row.PValue)}
		if row.Image != nil {
			rows[i].Image = "img/" + stems[i] + "_image.png"
			rows[i].Overlay = "img/" + stems[i] + "_overlay.png"
			if row.Mask != nil {
				rows[i].Mask = "img/" + stems[i] + "_mask.png"
			}
		}
	}
	err := forEach(len(figs)+len(r.Rows), func(j int) error {
		if j < len(figs) {
			return imageio.SavePNG(filepath.Join(dir, figs[j].file), figs[j].img())
		}
		i := j - len(figs)
		row := r.Rows[i]
		if row.Image == nil {
			return nil
		}
		th := thumbImage(row.Image)
		if err := imageio.SavePNG(filepath.Join(dir, rows[i].Image), th.ToGoImage()); err != nil {
			return err
		}
		if row.Mask != nil {
			if err := imageio.SavePNG(filepath.Join(dir, rows[i].Mask), thumbMask(row.Mask, th.H, th.W).ToGoImage()); err != nil {
				return err
			}
		}
		var m, pred *imageio.Map
		if row.Map != nil {
			m = imageio.ResizeMap(row.Map, th.H, th.W)
		}
		if row.PredMask != nil {
			pred = thumbMask(row.PredMask, th.H, th.W)
		}
		return imageio.SavePNG(filepath.Join(dir, rows[i].Overlay), Overlay(th, m, lo, hi, pred))
	})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	sum := Summary{
		Title: r.Title, Metrics: sanitize(r.Metrics), MetricOrder: r.MetricOrder,
		Threshold: Number(r.Threshold), MapRange: [2]Number{Number(lo), Number(hi)},
		ROC: r.ROC, PR: r.PR,
		NormalScores: numbers(r.NormalScores), AnomalousScores: numbers(r.AnomalousScores),
		Rows: rows,
	}
	if err := writeJSON(filepath.Join(dir, "metrics.json"), sum); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var page bytes.Buffer
	if err := pageTmpl.Execute(&page, pageData{Summary: sum, Table: metricTable(r.Metrics, r.MetricOrder), HasThreshold: hasThr}); err != nil {
		return fmt.Errorf("report: rendering index.html: %w", err)
	}
	if err := safetensors.AtomicWrite(filepath.Join(dir, "index.html"), func(w io.Writer) error {
		_, err := w.Write(page.Bytes())
		return err
	}); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	return safetensors.AtomicWrite(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
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

// metricRow is one line of the metrics table.
type metricRow struct{ Name, Value string }

// metricTable orders the metrics (MetricOrder first, then sorted keys) and
// formats their values.
func metricTable(m map[string]any, order []string) []metricRow {
	done := map[string]bool{}
	var rows []metricRow
	add := func(k string) {
		if v, ok := m[k]; ok && !done[k] {
			done[k] = true
			rows = append(rows, metricRow{k, formatValue(v)})
		}
	}
	for _, k := range order {
		add(k)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k)
	}
	return rows
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "n/a"
	case float64:
		return formatFloat(x)
	case float32:
		return formatFloat(float64(x))
	case string:
		return x
	}
	if b, err := json.Marshal(sanitizeValue(v)); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	if f != 0 && (math.Abs(f) < 1e-3 || math.Abs(f) >= 1e6) {
		return strconv.FormatFloat(f, 'e', 3, 64)
	}
	return strconv.FormatFloat(f, 'f', 4, 64)
}

type pageData struct {
	Summary
	Table        []metricRow
	HasThreshold bool
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"num": func(n Number) string { return formatFloat(float64(n)) },
	// wrong marks rows whose decision disagrees with a known label.
	"wrong": func(r RowSummary) bool { return (r.Label == 0 || r.Label == 1) && r.Decision != (r.Label == 1) },
	"label": func(l int) string {
		switch l {
		case 0:
			return "normal"
		case 1:
			return "anomalous"
		}
		return "unknown"
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: middle; }
th { background: #f2f2f2; }
td.num { text-align: right; font-family: monospace; }
.figs img { margin-right: 1em; }
tr.wrong { background: #fff0f0; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<h2>Metrics</h2>
<table id="metrics">
<tr><th>metric</th><th>value</th></tr>
{{range .Table}}<tr><td>{{.Name}}</td><td class="num">{{.Value}}</td></tr>
{{end}}{{if .HasThreshold}}<tr><td>decision threshold</td><td class="num">{{num .Threshold}}</td></tr>
{{end}}</table>
<div class="figs">
<img src="roc.png" alt="ROC curve"><img src="pr.png" alt="precision-recall curve"><img src="hist.png" alt="score histogram">
</div>
<h2>Images</h2>
<p>Heatmaps: Turbo colormap over the map range [{{num (index .MapRange 0)}}, {{num (index .MapRange 1)}}] shared by all images; magenta outlines the predicted anomalous region; rows whose decision disagrees with the label are shaded.</p>
<table id="images">
<tr><th>image</th><th>picture</th><th>ground truth</th><th>heatmap</th><th>score</th><th>label</th><th>decision</th><th>p-value</th></tr>
{{range .Rows}}<tr{{if wrong .}} class="wrong"{{end}}>
<td>{{.Name}}</td>
<td>{{if .Image}}<img src="{{.Image}}" alt="image">{{end}}</td>
<td>{{if .Mask}}<img src="{{.Mask}}" alt="ground truth">{{else}}—{{end}}</td>
<td>{{if .Overlay}}<img src="{{.Overlay}}" alt="heatmap">{{end}}</td>
<td class="num">{{num .Score}}</td>
<td>{{label .Label}}</td>
<td>{{if .Decision}}anomalous{{else}}normal{{end}}</td>
<td class="num">{{num .PValue}}</td>
</tr>
{{end}}</table>
</body>
</html>
`))

// Prediction is one image's outcome from `vigil predict`.
type Prediction struct {
	Name     string
	Image    *imageio.Image
	Map      *imageio.Map // may be nil
	PredMask *imageio.Map // may be nil
	Score    float64
	PValue   float64
	Decision bool
}

// PredictionResult is one entry of results.json.
type PredictionResult struct {
	Name     string `json:"name"`
	Score    Number `json:"score"`
	PValue   Number `json:"p_value"`
	Decision bool   `json:"decision"`
	Overlay  string `json:"overlay,omitempty"`
}

// WritePredictions writes, into dir, an overlay PNG per image (at the
// image's full resolution; maps normalised by the min/max over all items)
// and results.json listing them in order.
func WritePredictions(dir string, items []Prediction) error {
	maps := make([]*imageio.Map, len(items))
	for i, it := range items {
		maps[i] = it.Map
	}
	lo, hi := mapRange(maps)
	return WritePredictionsRange(dir, items, lo, hi)
}

// WritePredictionsRange is WritePredictions with a fixed heatmap range
// [lo, hi], so overlays from different runs share one colour scale (for
// example [0, 2·threshold] puts the decision threshold mid-scale).
func WritePredictionsRange(dir string, items []Prediction, lo, hi float64) error {
	for i, it := range items {
		if err := checkRow(i, it.Name, it.Image, it.Map, it.PredMask); err != nil {
			return fmt.Errorf("predictions: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("predictions: %w", err)
	}
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.Name
	}
	stems := uniqueStems(names)
	res := make([]PredictionResult, len(items))
	err := forEach(len(items), func(i int) error {
		it := items[i]
		res[i] = PredictionResult{Name: it.Name, Score: Number(it.Score), PValue: Number(it.PValue), Decision: it.Decision}
		if it.Image == nil {
			return nil
		}
		res[i].Overlay = stems[i] + "_overlay.png"
		return imageio.SavePNG(filepath.Join(dir, res[i].Overlay), Overlay(it.Image, it.Map, lo, hi, it.PredMask))
	})
	if err != nil {
		return fmt.Errorf("predictions: %w", err)
	}
	if err := writeJSON(filepath.Join(dir, "results.json"), res); err != nil {
		return fmt.Errorf("predictions: %w", err)
	}
	return nil
}
