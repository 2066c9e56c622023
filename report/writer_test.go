package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func rgbaAt(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

func flat(c, h, w int, v float32) *imageio.Image {
	img := imageio.New(c, h, w)
	for i := range img.Pix {
		img.Pix[i] = v
	}
	return img
}

// ramp is a map rising left to right from lo to hi.
func ramp(h, w int, lo, hi float32) *imageio.Map {
	m := imageio.NewMap(h, w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(y, x, lo+(hi-lo)*float32(x)/float32(w-1))
		}
	}
	return m
}

// testRows covers every outcome: a correct normal, a false positive, a
// miss, a detection with ground truth, a failed image and a NaN score.
func testRows() []Row {
	return []Row{
		{Path: "good/000.png", Defect: "good", Image: flat(3, 60, 40, 0.3), Map: ramp(30, 20, 0, 1), Score: 0.1, Label: 0, PValue: 0.7},
		{Path: "good/001.png", Defect: "good", Image: flat(3, 60, 40, 0.3), Map: ramp(30, 20, 0, 3), PredMask: square(60, 40, 10, 10, 20), Score: 0.9, Label: 0, Decision: true, PValue: 0.01},
		{Path: "crack/000.png", Defect: "crack", Image: flat(3, 60, 40, 0.5), Mask: square(60, 40, 5, 5, 10), Map: ramp(30, 20, 0, 0.5), Score: 0.2, Label: 1, PValue: 0.6},
		{Path: "crack/001.png", Defect: "crack", Image: flat(1, 60, 40, 0.5), Mask: square(60, 40, 5, 5, 10), Map: ramp(30, 20, 0, 2), PredMask: square(60, 40, 4, 4, 12), Score: 0.8, Label: 1, Decision: true, PValue: 0.02},
		{Path: "crack/002.png", Defect: "crack", Error: "crack/002.png: unexpected EOF", Score: math.NaN(), Label: 1, PValue: math.NaN()},
		{Path: "hole/<b>x</b>.png", Defect: "hole", Image: flat(3, 60, 40, 0.5), Map: ramp(30, 20, 0, 1), Score: math.NaN(), Label: 1, PValue: math.NaN()},
	}
}

func testSummary() Summary {
	return Summary{
		Title:           "bottle <test> & co",
		Metrics:         map[string]any{"image_auroc": 0.9375, "pixel_auroc": 0.8125, "aupro": 0.5, "test_fpr": 0.5, "threshold": 0.5, "target_fpr": 0.01, "note": "<b>x</b>", "bad": math.NaN()},
		MetricOrder:     []string{"image_auroc", "pixel_auroc"},
		Threshold:       0.5,
		ThresholdRule:   "conformal",
		TargetFPR:       0.01,
		ROC:             Curve{X: []float64{0, 0, 0.5, 1}, Y: []float64{0, 0.5, 1, 1}},
		PR:              Curve{X: []float64{0, 0.5, 1}, Y: []float64{1, 1, 0.66}},
		NormalScores:    []Number{0.1, 0.9},
		AnomalousScores: []Number{0.2, 0.8},
		PerDefect:       []DefectSummary{{Defect: "crack", Metrics: map[string]any{"image_auroc": 0.75}}},
		Warnings:        []string{"only 3 normal validation images: the threshold is uncertain"},
	}
}

func writeTestReport(t *testing.T, dir string, opt Options) {
	t.Helper()
	w, err := NewWriter(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	rows := testRows()
	// Added in reverse from several goroutines: metrics.json must still
	// list them by Index.
	var wg sync.WaitGroup
	errs := make([]error, len(rows))
	for i := len(rows) - 1; i >= 0; i-- {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := rows[i]
			r.Index = i
			errs[i] = w.Add(r)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(testSummary()); err != nil {
		t.Fatal(err)
	}
}

func TestWriterReport(t *testing.T) {
	dir := t.TempDir()
	thr := 1.0
	writeTestReport(t, dir, Options{MapRange: [2]float64{0, 2}, PixelThreshold: &thr})
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{"Image AUROC", "0.9375", "Pixel AUROC", "AUPRO (FPR ≤ 0.3)",
		"False-positive rate on normal test images", "image_auroc", "aupro", "test_fpr",
		"bottle &lt;test&gt; &amp; co", "&lt;b&gt;x&lt;/b&gt;", "rule: conformal", "target false-positive rate: 0.0100",
		"only 3 normal validation images", "colorbar.png", `<option value="false_positive">`, `<option value="miss">`,
		`<option value="error">`, `<select id="defect">`, "<option>crack</option>", "unexpected EOF", "score is not a number"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if strings.Contains(html, "<b>x</b>") {
		t.Error("text not escaped")
	}
	// One threshold row: the metric keys about the threshold are folded
	// into it, not repeated as metrics.
	if n := strings.Count(html, "Decision threshold"); n != 1 {
		t.Errorf("%d threshold rows, want 1", n)
	}
	if strings.Contains(html, `<td class="key">target_fpr</td>`) || strings.Contains(html, `<td class="key">threshold</td>`) {
		t.Error("threshold keys repeated as metric rows")
	}
	// Default order: errors, false positives, misses, then the rest by
	// score; each row carries what the filters and sorting need.
	trs := regexp.MustCompile(`<tr class="(\w+)" data-order="(\d+)" data-name="([^"]*)" data-defect="(\w*)" data-score="([^"]*)"`).FindAllStringSubmatch(html, -1)
	var got []string
	for i, m := range trs {
		got = append(got, m[1]+" "+m[3])
		if m[2] != fmt.Sprint(i) {
			t.Errorf("row %d has data-order %s", i, m[2])
		}
	}
	want := []string{"error crack/002.png", "error hole/&lt;b&gt;x&lt;/b&gt;.png", "false_positive good/001.png",
		"miss crack/000.png", "true_positive crack/001.png", "true_negative good/000.png"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows in order\n%q\nwant\n%q", got, want)
	}
	// Pictures: two per row without ground truth, three with; none for
	// the two error rows; every reference resolves inside dir.
	srcs := regexp.MustCompile(`src="([^"]+)"`).FindAllStringSubmatch(html, -1)
	var thumbs, gts int
	for _, s := range srcs {
		p := filepath.Join(dir, filepath.FromSlash(s[1]))
		if rel, err := filepath.Rel(dir, p); err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("picture %q escapes the report directory", s[1])
		}
		img := decodePNG(t, p)
		if strings.HasPrefix(s[1], "img/") {
			thumbs++
			if b := img.Bounds(); max(b.Dx(), b.Dy()) != 256 || min(b.Dx(), b.Dy()) != 171 {
				t.Errorf("%s is %v, want 171x256 (enlarged to the thumbnail size, aspect kept)", s[1], b)
			}
		}
		if strings.HasSuffix(s[1], "_gt.png") {
			gts++
		}
	}
	if thumbs != 4*2+2 || gts != 2 {
		t.Errorf("%d thumbnails with %d ground truths, want 10 with 2: %v", thumbs, gts, srcs)
	}
	if len(srcs) != thumbs+4 { // roc, pr, histogram, colour bar
		t.Errorf("%d pictures, want %d", len(srcs), thumbs+4)
	}

	s, err := ReadSummary(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := testSummary()
	wantMetrics := sanitize(sum.Metrics)
	if s.Title != sum.Title || !reflect.DeepEqual(s.Metrics, wantMetrics) || s.Metrics["bad"] != nil ||
		!reflect.DeepEqual(s.ROC, sum.ROC) || !reflect.DeepEqual(s.PR, sum.PR) || s.Threshold != 0.5 ||
		s.ThresholdRule != "conformal" || s.TargetFPR != 0.01 || !reflect.DeepEqual(s.Warnings, sum.Warnings) ||
		!reflect.DeepEqual(s.AnomalousScores, sum.AnomalousScores) {
		t.Errorf("summary differs: %+v", s)
	}
	if s.MapRange != [2]Number{0, 2} || s.MapRangeSource != "calibration" || s.PixelThreshold != 1 {
		t.Errorf("colour scale recorded as %v %q %v", s.MapRange, s.MapRangeSource, s.PixelThreshold)
	}
	rows := testRows()
	if len(s.Rows) != len(rows) {
		t.Fatalf("%d rows", len(s.Rows))
	}
	for i, r := range s.Rows {
		if r.Path != rows[i].Path || r.Defect != rows[i].Defect || r.Label != rows[i].Label {
			t.Errorf("row %d is %+v, want %s (input order)", i, r, rows[i].Path)
		}
		if (r.Outcome == "error") != (i >= 4) || (r.Image == "") != (i >= 4) || (r.Mask != "") != (rows[i].Mask != nil && i < 4) {
			t.Errorf("row %d: outcome %q, image %q, mask %q", i, r.Outcome, r.Image, r.Mask)
		}
	}
	if s.Rows[5].Error != "score is not a number" || !math.IsNaN(float64(s.Rows[5].Score)) {
		t.Errorf("NaN-score row %+v, want an error", s.Rows[5])
	}
	wantDefects := []DefectSummary{
		{Defect: "good", Images: 2, Flagged: 1},
		{Defect: "crack", Images: 3, Flagged: 1, Errors: 1, Metrics: map[string]any{"image_auroc": 0.75}},
		{Defect: "hole", Images: 1, Errors: 1},
	}
	if !reflect.DeepEqual(s.PerDefect, wantDefects) {
		t.Errorf("per defect %+v, want %+v", s.PerDefect, wantDefects)
	}
	// Re-encoding what was read gives the same file.
	b, _ := json.MarshalIndent(s, "", "  ")
	orig, _ := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if !bytes.Equal(append(b, '\n'), orig) {
		t.Error("metrics.json does not round-trip byte for byte")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp*"))
	left2, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left)+len(left2) > 0 {
		t.Errorf("temporary files left: %v %v", left, left2)
	}
}

// TestColourScaleIndependentOfOtherRows: an image's overlay is the same
// bytes whether it is written alone or among images with other ranges,
// with a fixed range and with the per-image fallback.
func TestColourScaleIndependentOfOtherRows(t *testing.T) {
	target := Row{Path: "a/x.png", Image: flat(3, 50, 50, 0.4), Map: ramp(50, 50, 0.2, 0.9), PredMask: square(50, 50, 20, 20, 10), Score: 1}
	others := []Row{
		{Path: "b/y.png", Image: flat(3, 50, 50, 0.4), Map: ramp(50, 50, -5, 40), Score: 2},
		{Path: "c/z.png", Image: flat(3, 50, 50, 0.4), Map: ramp(50, 50, 3, 4), Score: 3},
	}
	for _, opt := range []Options{{MapRange: [2]float64{0, 1}}, {}} {
		overlay := func(rows []Row) []byte {
			dir := t.TempDir()
			w, err := NewWriter(dir, opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if err := w.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(Summary{Title: "t", Threshold: Number(math.NaN())}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "img", "a_x_overlay.png"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		alone, mixed := overlay([]Row{target}), overlay(append(others, target))
		if !bytes.Equal(alone, mixed) {
			t.Errorf("options %+v: overlay differs when other images are in the report", opt)
		}
		predict := func(items []Prediction) []byte {
			dir := t.TempDir()
			pw, err := NewPredictionWriter(dir, opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if _, err := pw.Add(it); err != nil {
					t.Fatal(err)
				}
			}
			if err := pw.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "a_x_overlay.png"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		asPred := func(r Row) Prediction {
			return Prediction{Path: r.Path, Image: r.Image, Map: r.Map, PredMask: r.PredMask, Score: r.Score}
		}
		if !bytes.Equal(predict([]Prediction{asPred(target)}), predict([]Prediction{asPred(others[0]), asPred(target), asPred(others[1])})) {
			t.Errorf("options %+v: prediction overlay differs when other images are predicted", opt)
		}
	}
}

// TestThumbnailContourDrawn: the predicted mask's outline appears in the
// overlay thumbnail where the mask is, at the thumbnail's scale.
func TestThumbnailContourDrawn(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, Options{MapRange: [2]float64{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	// 64x64 enlarged 4x: the mask's rows and columns [16,32) cover
	// [64,128) in the thumbnail (bilinear resampling rounds the corners,
	// so the check stays a few pixels away from them).
	err = w.Add(Row{Path: "p.png", Image: flat(3, 64, 64, 0.5), Map: imageio.NewMap(64, 64), PredMask: square(64, 64, 16, 16, 16), Score: 1, Label: -1, Decision: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(Summary{Threshold: 0.5}); err != nil {
		t.Fatal(err)
	}
	ov := decodePNG(t, filepath.Join(dir, "img", "p_overlay.png"))
	mag := [3]uint8{contourColor.R, contourColor.G, contourColor.B}
	dark := [3]uint8{outlineColor.R, outlineColor.G, outlineColor.B}
	for x := 68; x < 124; x++ {
		if got := rgbaAt(ov, x, 64); got != mag {
			t.Fatalf("(%d,64) = %v, want the contour colour", x, got)
		}
		if got := rgbaAt(ov, x, 63); got != dark {
			t.Fatalf("(%d,63) = %v, want the dark outline", x, got)
		}
	}
	if got := rgbaAt(ov, 96, 96); got == mag || got == dark {
		t.Error("mask interior drawn over")
	}
	if _, err := os.Stat(filepath.Join(dir, "img", "p_gt.png")); !os.IsNotExist(err) {
		t.Errorf("ground-truth picture written for a row without one: %v", err)
	}
}

func TestColorBar(t *testing.T) {
	thr := 0.75
	bar := ColorBar(300, 0, 1, &thr, false)
	if b := bar.Bounds(); b.Dx() != 300 || b.Dy() != barH {
		t.Fatalf("bar is %v", b)
	}
	y := barTop + barBand/2
	if got := bar.RGBAAt(barPad, y); got != Turbo(0) {
		t.Errorf("left end %v, want Turbo(0)", got)
	}
	if got := bar.RGBAAt(300-barPad-1, y); got != Turbo(1) {
		t.Errorf("right end %v, want Turbo(1)", got)
	}
	tx := barPad + int(math.Round(0.75*float64(300-2*barPad-1)))
	if got := bar.RGBAAt(tx, y); got != black {
		t.Errorf("threshold marker at x=%d is %v, want black", tx, got)
	}
	// The threshold's label is drawn: some dark text pixels under it.
	var ink int
	for yy := barTop + barBand + 2; yy < barH; yy++ {
		for xx := tx - 20; xx <= tx+20; xx++ {
			if c := bar.RGBAAt(xx, yy); c.R < 100 {
				ink++
			}
		}
	}
	if ink < 20 {
		t.Errorf("%d text pixels near the threshold marker", ink)
	}
	// Without a threshold there is no marker.
	if got := ColorBar(300, 0, 1, nil, false).RGBAAt(tx, y); got == black {
		t.Error("marker drawn without a threshold")
	}
}

func TestPredictionWriter(t *testing.T) {
	dir := t.TempDir()
	thr, pthr := 0.5, 1.0
	pw, err := NewPredictionWriter(dir, Options{MapRange: [2]float64{0, 2}, PixelThreshold: &pthr, ImageThreshold: &thr})
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Abort()
	img := flat(3, 40, 30, 0.5)
	m := imageio.NewMap(20, 15) // lower resolution than the image
	m.Pix[0] = 2
	items := []Prediction{
		{Path: "sub/a.png", Image: img, Map: m, PredMask: square(20, 15, 0, 0, 5), Score: 2, PValue: 0.001, Decision: true},
		{Path: "other/a.png", Image: img, Map: m, Score: 0.1, PValue: math.NaN()},
		{Path: "bad.png", Error: "bad.png: not a PNG"}, // zero score and p-value: still null
		{Path: "nan.png", Image: img, Map: m, Score: math.NaN(), PValue: math.NaN()},
		{Path: "sub/a.jpg", Image: img, Score: 0.2, PValue: 0.5},
	}
	var wg sync.WaitGroup
	for i := range items {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			it := items[i]
			it.Index = i
			if _, err := pw.Add(it); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if _, err := os.Stat(filepath.Join(dir, "results.json")); !os.IsNotExist(err) {
		t.Errorf("results.json exists before Close: %v", err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res []PredictionResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	json.Unmarshal(b, &raw)
	wantDecision := []string{"anomalous", "normal", "error", "error", "normal"}
	seen := map[string]bool{}
	for i, r := range res {
		if r.Path != items[i].Path || r.Decision != wantDecision[i] || r.Threshold != 0.5 {
			t.Errorf("entry %d: %+v", i, r)
		}
		if _, ok := raw[i]["p_value"]; !ok {
			t.Errorf("entry %d lacks p_value: %v", i, raw[i])
		}
		if r.Decision == "error" {
			if raw[i]["score"] != nil || raw[i]["p_value"] != nil {
				t.Errorf("error entry %d has numbers: %v", i, raw[i])
			}
			if r.Error == "" || r.Overlay != "" || r.Mask != "" {
				t.Errorf("error entry %d: %+v", i, r)
			}
			continue
		}
		if seen[r.Overlay] || strings.ContainsAny(r.Overlay, "/\\") {
			t.Errorf("overlay name %q repeated or not a plain file name", r.Overlay)
		}
		seen[r.Overlay] = true
		ov := decodePNG(t, filepath.Join(dir, r.Overlay))
		if bb := ov.Bounds(); bb.Dy() != 40+barH || bb.Dx() != barMinW {
			t.Errorf("overlay %s is %v, want the image's 30x40 above a %dx%d colour bar", r.Overlay, bb, barMinW, barH)
		}
		// Below the image: the colour bar's gradient.
		if got := rgbaAt(ov, barPad, 40+barTop+1); got != [3]uint8{Turbo(0).R, Turbo(0).G, Turbo(0).B} {
			t.Errorf("%s: colour bar start %v", r.Overlay, got)
		}
	}
	if res[2].Error != "bad.png: not a PNG" || res[3].Error != "score is not a number" {
		t.Errorf("errors %q, %q", res[2].Error, res[3].Error)
	}
	// Stems come from the relative path; which of two paths differing only
	// in extension gets the suffix depends on the order of the
	// concurrent Adds.
	stems := []string{res[0].Overlay, res[4].Overlay}
	if res[1].Overlay != "other_a_overlay.png" || (!reflect.DeepEqual(stems, []string{"sub_a_overlay.png", "sub_a-2_overlay.png"}) &&
		!reflect.DeepEqual(stems, []string{"sub_a-2_overlay.png", "sub_a_overlay.png"})) {
		t.Errorf("stems %q %q %q", res[0].Overlay, res[1].Overlay, res[4].Overlay)
	}
	// The mask is written at the image's size, 255 inside the predicted
	// region (the 5x5 square at map scale is 10x10 at image scale).
	if res[0].Mask != strings.Replace(res[0].Overlay, "overlay", "mask", 1) || res[1].Mask != "" {
		t.Fatalf("masks %q %q", res[0].Mask, res[1].Mask)
	}
	mask := decodePNG(t, filepath.Join(dir, res[0].Mask))
	if bb := mask.Bounds(); bb.Dx() != 30 || bb.Dy() != 40 {
		t.Errorf("mask is %v", bb)
	}
	for _, tc := range []struct {
		x, y int
		v    uint8
	}{{0, 0, 255}, {8, 8, 255}, {11, 11, 0}, {29, 39, 0}} {
		if got := rgbaAt(mask, tc.x, tc.y)[0]; got != tc.v {
			t.Errorf("mask (%d,%d) = %d, want %d", tc.x, tc.y, got, tc.v)
		}
	}
	if !math.IsNaN(float64(res[1].PValue)) {
		t.Errorf("NaN p-value read back as %v", res[1].PValue)
	}
}

func TestWriterCloseIsAtomic(t *testing.T) {
	dir := t.TempDir()
	// An earlier report's page goes at once: it must not show the new
	// run's pictures under the old run's numbers.
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("old"), 0o644)
	w, err := NewWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(testRows()[0]); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "metrics.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s exists before Close: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "img", "good_000_overlay.png")); err != nil {
		t.Errorf("thumbnail not written by Add: %v", err)
	}
	if err := w.Close(Summary{Title: "t", Threshold: Number(math.NaN())}); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil || !strings.HasSuffix(string(page), "</html>\n") {
		t.Errorf("index.html after Close: %v", err)
	}
	// Per-image fallback is announced on the page.
	if !strings.Contains(string(page), "each heatmap is scaled to its own minimum") || !strings.Contains(string(page), "range 0 to 1") {
		t.Error("page does not say the colour scale is per image")
	}
	w.Abort() // after Close: nothing happens
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Errorf("Abort after Close removed the report: %v", err)
	}
	if err := w.Add(testRows()[0]); err == nil {
		t.Error("Add after Close succeeded")
	}
}

func TestWriterAbortCleansUp(t *testing.T) {
	parent := t.TempDir()
	keep := filepath.Join(parent, "keep.txt")
	os.WriteFile(keep, []byte("x"), 0o644)
	// A directory the writer creates goes entirely.
	dir := filepath.Join(parent, "new", "report")
	w, err := NewWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range testRows() {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Abort()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		ents, _ := os.ReadDir(filepath.Join(dir, "img"))
		t.Errorf("report directory left after Abort (%v): %v", err, ents)
	}
	// In an existing directory only the writer's files go.
	w, err = NewWriter(parent, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(testRows()[0]); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	ents, _ := os.ReadDir(parent)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"keep.txt", "new"}) {
		t.Errorf("after Abort %s holds %v, want keep.txt and the (empty) new", parent, names)
	}
	// The prediction writer too.
	pdir := t.TempDir()
	pw, err := NewPredictionWriter(pdir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Add(Prediction{Path: "a.png", Image: flat(3, 8, 8, 0), PredMask: square(8, 8, 0, 0, 2), Score: 1}); err != nil {
		t.Fatal(err)
	}
	pw.Abort()
	if ents, _ := os.ReadDir(pdir); len(ents) != 0 {
		t.Errorf("prediction files left after Abort: %v", ents)
	}
}

func TestWriterRefusesInconsistentImage(t *testing.T) {
	w, err := NewWriter(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	err = w.Add(Row{Path: "bad/one.png", Image: &imageio.Image{C: 3, H: 4, W: 4, Pix: make([]float32, 5)}})
	if err == nil || !strings.Contains(err.Error(), "bad/one.png") {
		t.Errorf("err %v, want one naming the row", err)
	}
}
