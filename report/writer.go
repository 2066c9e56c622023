package report

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/vigil-ad/vigil/imageio"
)

// Options set how pictures are drawn; shared by Writer and
// PredictionWriter.
type Options struct {
	// MapRange, when MapRange[1] > MapRange[0], is the heatmaps' colour
	// scale: values at or below MapRange[0] are dark blue, at or above
	// MapRange[1] dark red. It should come from the model's calibration
	// (for example [lowest normal value, 2·pixel threshold] puts the
	// threshold mid-scale). Unset, each map is scaled to its own minimum
	// and maximum, and the legend says so.
	MapRange [2]float64
	// PixelThreshold, when not nil, is marked on the colour bars.
	PixelThreshold *float64
	// ImageThreshold, when not nil, is recorded in results.json.
	ImageThreshold *float64
	// ThumbSize is the long side of the report's thumbnails in pixels
	// (default 256, at least 192); smaller images are enlarged.
	ThumbSize int
}

const (
	defaultThumb = 256
	minThumb     = 192
)

func (o Options) fixedRange() bool { return o.MapRange[1] > o.MapRange[0] }

// mapRange returns the colour scale for m: the fixed range, or m's own
// finite range (0..1 when it has none).
func (o Options) mapRange(m *imageio.Map) (lo, hi float64) {
	if o.fixedRange() {
		return o.MapRange[0], o.MapRange[1]
	}
	if m == nil {
		return 0, 1
	}
	lo, hi = finiteRange(m.Pix)
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	return lo, hi
}

func (o Options) thumbSide() int {
	if o.ThumbSize == 0 {
		return defaultThumb
	}
	return max(o.ThumbSize, minThumb)
}

// Writer streams an evaluation report into a directory: Add renders one
// row's thumbnails to PNG files at once and keeps only its metadata (a
// few hundred bytes); Close writes metrics.json, the plots and index.html.
//
// Add may be called from several goroutines at once. Close and Abort must
// be called once every Add has returned.
type Writer struct {
	dir        string
	opt        Options
	createdDir bool
	out        outputs[RowSummary]
}

// NewWriter starts a report in dir, creating it if needed. An index.html
// already there (an earlier report) is removed first, so no page ever
// refers to pictures of two different runs.
func NewWriter(dir string, opt Options) (*Writer, error) {
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(filepath.Join(dir, "img"), 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, "index.html")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("report: removing the earlier page: %w", err)
	}
	return &Writer{dir: dir, opt: opt, createdDir: created, out: outputs[RowSummary]{dir: dir}}, nil
}

// outcome classifies a row for the page's filters and order.
func outcome(r *RowSummary) string {
	switch {
	case r.Error != "":
		return "error"
	case r.Label == 0 && r.Decision:
		return "false_positive"
	case r.Label == 1 && !r.Decision:
		return "miss"
	case r.Label == 1:
		return "true_positive"
	case r.Label == 0:
		return "true_negative"
	case r.Decision:
		return "anomalous"
	}
	return "normal"
}

// Add renders row's thumbnails (input image, heatmap overlay with the
// predicted region's contour, ground truth when the row has one) into
// dir/img and records the row. A row with Error set, or a NaN score, is an
// error row: no pictures. The images are not kept.
func (w *Writer) Add(row Row) error {
	name := row.Name
	if name == "" {
		name = row.Path
	}
	if err := checkRow(name, row.Image, row.Mask, row.Map, row.PredMask); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	rs := RowSummary{
		Name: name, Path: row.Path, Defect: row.Defect, Error: row.Error,
		Score: Number(row.Score), Label: row.Label, Decision: row.Decision, PValue: Number(row.PValue),
		index: row.Index,
	}
	if rs.Error == "" && math.IsNaN(row.Score) {
		// A NaN score would otherwise show as a confident "normal".
		rs.Error = "score is not a number"
	}
	if rs.Error != "" {
		// A failed image's numbers mean nothing: shown as n/a, null in JSON.
		rs.Decision = false
		rs.Score, rs.PValue = Number(math.NaN()), Number(math.NaN())
	}
	rs.Outcome = outcome(&rs)
	stemName := row.Path
	if stemName == "" {
		stemName = name
	}
	stem, seq, ok := w.out.begin(stemName, true)
	if !ok {
		return fmt.Errorf("report: Add on a closed writer (%q)", name)
	}
	rs.seq = seq

	var pics []struct {
		file string
		img  image.Image
	}
	add := func(file string, img image.Image) {
		pics = append(pics, struct {
			file string
			img  image.Image
		}{file, img})
	}
	if rs.Error == "" && row.Image != nil {
		th := thumbImage(row.Image, w.opt.thumbSide())
		rs.Image = "img/" + stem + "_image.png"
		add(rs.Image, th.ToGoImage())
		if row.Mask != nil {
			rs.Mask = "img/" + stem + "_gt.png"
			gt := Overlay(th, nil, 0, 1, nil)
			drawOutline(gt, row.Mask, gtColor)
			add(rs.Mask, gt)
		}
		var m *imageio.Map
		if row.Map != nil {
			m = imageio.ResizeMap(row.Map, th.H, th.W)
		}
		lo, hi := w.opt.mapRange(row.Map)
		if !w.opt.fixedRange() && row.Map != nil {
			rs.MapRange = &[2]Number{Number(lo), Number(hi)}
		}
		rs.Overlay = "img/" + stem + "_overlay.png"
		add(rs.Overlay, Overlay(th, m, lo, hi, row.PredMask))
	}
	var err error
	written := make([]string, 0, len(pics))
	for _, p := range pics {
		if err = savePNG(filepath.Join(w.dir, filepath.FromSlash(p.file)), p.img); err != nil {
			err = fmt.Errorf("report: %q: %w", name, err)
			break
		}
		written = append(written, p.file)
	}
	if !w.out.finish(written, rs, err == nil) {
		return fmt.Errorf("report: %q: writer aborted", name)
	}
	return err
}

// thumbImage scales img so its long side is side pixels.
func thumbImage(img *imageio.Image, side int) *imageio.Image {
	h, w := img.H, img.W
	m := max(h, w)
	th, tw := max(1, (h*side+m/2)/m), max(1, (w*side+m/2)/m)
	if th == h && tw == w {
		return img
	}
	return imageio.Resize(img, th, tw)
}

// rankOutcome orders the page by default: errors, false positives and
// misses first.
func rankOutcome(o string) int {
	switch o {
	case "error":
		return 0
	case "false_positive":
		return 1
	case "miss":
		return 2
	}
	return 3
}

// Close writes the plots, colorbar.png, metrics.json and, last,
// index.html (each atomically): the page appears complete or not at all.
// s carries the evaluation's results; see Summary for the fields Close
// fills.
func (w *Writer) Close(s Summary) error {
	rows, ok := w.out.close()
	if !ok {
		return errors.New("report: Close on a closed writer")
	}
	s.Rows = rows
	s.Metrics = sanitize(s.Metrics)
	s.PixelThreshold = Number(math.NaN())
	if w.opt.PixelThreshold != nil {
		s.PixelThreshold = Number(*w.opt.PixelThreshold)
	}
	if w.opt.fixedRange() {
		s.MapRange = [2]Number{Number(w.opt.MapRange[0]), Number(w.opt.MapRange[1])}
		s.MapRangeSource = "calibration"
	} else {
		s.MapRange = [2]Number{Number(math.NaN()), Number(math.NaN())}
		s.MapRangeSource = "per_image"
	}
	s.PerDefect = defectCounts(rows, s.PerDefect)
	if s.NormalScores == nil {
		s.NormalScores = []Number{}
	}
	if s.AnomalousScores == nil {
		s.AnomalousScores = []Number{}
	}

	page, figs, err := renderPage(&s, w.opt)
	if err != nil {
		return w.fail(err)
	}
	for _, f := range figs {
		if err := savePNG(filepath.Join(w.dir, f.file), f.img); err != nil {
			return w.fail(err)
		}
		w.out.wrote(f.file)
	}
	if err := writeJSON(filepath.Join(w.dir, "metrics.json"), s); err != nil {
		return w.fail(err)
	}
	if err := atomicWrite(filepath.Join(w.dir, "index.html"), func(f io.Writer) error {
		_, err := f.Write(page)
		return err
	}); err != nil {
		return w.fail(err)
	}
	return nil
}

// fail reports a Close error after removing what was written: a failed
// Close leaves no page, so its pictures are of no use.
func (w *Writer) fail(err error) error {
	w.remove()
	return fmt.Errorf("report: %w", err)
}

// defectCounts counts rows per defect type and attaches the caller's
// per-defect metrics (matched by Defect). Types appear sorted, "good"
// first; a caller's type with no rows is kept with zero counts.
func defectCounts(rows []RowSummary, given []DefectSummary) []DefectSummary {
	by := map[string]*DefectSummary{}
	var order []string
	get := func(d string) *DefectSummary {
		if by[d] == nil {
			by[d] = &DefectSummary{Defect: d}
			order = append(order, d)
		}
		return by[d]
	}
	for _, r := range rows {
		if r.Defect == "" {
			continue
		}
		d := get(r.Defect)
		d.Images++
		if r.Error != "" {
			d.Errors++
		} else if r.Decision {
			d.Flagged++
		}
	}
	for _, g := range given {
		get(g.Defect).Metrics = sanitize(g.Metrics)
	}
	sort.Slice(order, func(i, j int) bool {
		if (order[i] == "good") != (order[j] == "good") {
			return order[i] == "good"
		}
		return order[i] < order[j]
	})
	out := make([]DefectSummary, len(order))
	for i, d := range order {
		out[i] = *by[d]
	}
	return out
}

// Abort removes what the writer wrote (and dir itself when NewWriter
// created it and it is left empty). After a successful Close it does
// nothing, so `defer w.Abort()` is safe.
func (w *Writer) Abort() {
	if w.out.abort("metrics.json", "index.html") {
		w.removeDirs()
	}
}

// remove takes back a failed Close: everything written, then the folders.
func (w *Writer) remove() {
	w.out.remove("metrics.json", "index.html")
	w.removeDirs()
}

// removeDirs removes img/ and, when NewWriter created it, dir: each only
// when empty.
func (w *Writer) removeDirs() {
	os.Remove(filepath.Join(w.dir, "img"))
	if w.createdDir {
		os.Remove(w.dir)
	}
}
