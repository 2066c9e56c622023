package report

import (
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func TestTurboKnownValues(t *testing.T) {
	for _, tc := range []struct {
		v       float64
		r, g, b uint8
	}{
		{0, 48, 18, 59},     // table entry 0: (0.18995, 0.07176, 0.23217)
		{1, 122, 4, 3},      // table entry 255: (0.47960, 0.01583, 0.01055)
		{0.5, 163, 253, 60}, // between entries 127 and 128
		{-3, 48, 18, 59},    // clamped
		{7, 122, 4, 3},
		{math.NaN(), 48, 18, 59},
	} {
		c := Turbo(tc.v)
		if d := max(absDiff(c.R, tc.r), absDiff(c.G, tc.g), absDiff(c.B, tc.b)); d > 3 {
			t.Errorf("Turbo(%g) = (%d,%d,%d), want ≈(%d,%d,%d)", tc.v, c.R, c.G, c.B, tc.r, tc.g, tc.b)
		}
	}
	// The colormap is continuous: neighbouring inputs give close colours.
	prev := Turbo(0)
	for i := 1; i <= 1000; i++ {
		c := Turbo(float64(i) / 1000)
		if max(absDiff(c.R, prev.R), absDiff(c.G, prev.G), absDiff(c.B, prev.B)) > 4 {
			t.Fatalf("jump at %g: %v -> %v", float64(i)/1000, prev, c)
		}
		prev = c
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func square(h, w, y0, x0, s int) *imageio.Map {
	m := imageio.NewMap(h, w)
	for y := y0; y < y0+s; y++ {
		for x := x0; x < x0+s; x++ {
			m.Set(y, x, 1)
		}
	}
	return m
}

func TestContourOfSquareIsItsBorder(t *testing.T) {
	const h, w, y0, x0, s = 12, 15, 3, 4, 5
	c := Contour(square(h, w, y0, x0, s))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			inside := y >= y0 && y < y0+s && x >= x0 && x < x0+s
			border := inside && (y == y0 || y == y0+s-1 || x == x0 || x == x0+s-1)
			if c[y*w+x] != border {
				t.Errorf("(%d,%d): contour %v, want %v", y, x, c[y*w+x], border)
			}
		}
	}
	// A mask touching the image edge is outlined along the edge too.
	full := Contour(square(3, 3, 0, 0, 3))
	for i, v := range full {
		if v != (i != 4) {
			t.Errorf("full 3x3 mask: pixel %d contour %v", i, v)
		}
	}
}

func TestOverlayBlendsAndOutlines(t *testing.T) {
	img := imageio.New(1, 10, 10) // black
	m := imageio.NewMap(10, 10)
	m.Pix[0] = 1 // top-left at the top of the range, the rest at the bottom
	pred := square(10, 10, 4, 4, 3)
	o := Overlay(img, m, 0, 1, pred)
	hot, cold := Turbo(1), Turbo(0)
	if got := o.RGBAAt(0, 0); absDiff(got.R, hot.R/2) > 1 || absDiff(got.G, hot.G/2) > 1 {
		t.Errorf("hot pixel %v, want half of %v", got, hot)
	}
	if got := o.RGBAAt(9, 0); absDiff(got.B, cold.B/2) > 1 {
		t.Errorf("cold pixel %v, want half of %v", got, cold)
	}
	if got := o.RGBAAt(4, 4); got != contourColor {
		t.Errorf("contour pixel %v", got)
	}
	if got := o.RGBAAt(5, 5); got == contourColor {
		t.Error("mask interior drawn as contour")
	}
}

func TestTicksAreRoundAndInRange(t *testing.T) {
	got := ticks(0, 1)
	var labels []string
	for _, tk := range got {
		labels = append(labels, tk.label)
	}
	if want := []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("ticks(0,1) = %v, want %v", labels, want)
	}
	for _, tk := range ticks(-3.7, 123.4) {
		if tk.v < -3.7 || tk.v > 123.4 || math.Mod(tk.v, 20) != 0 {
			t.Errorf("tick %v out of range or not a multiple of 20", tk)
		}
	}
}

func TestHistogramFractions(t *testing.T) {
	hn, ha, lo, hi := histogram([]float64{0, 0, 1, 3}, []float64{3, math.NaN()}, 2)
	if lo != 0 || hi != 3 {
		t.Fatalf("range [%g,%g], want [0,3]", lo, hi)
	}
	if hn[0] != 0.5 || hn[10] != 0.25 || hn[histBins-1] != 0.25 {
		t.Errorf("normal fractions %v", hn)
	}
	if ha[histBins-1] != 1 {
		t.Errorf("anomalous fractions %v (NaN must be skipped)", ha)
	}
}

func tinyReport() Report {
	mk := func(v float32) *imageio.Image {
		img := imageio.New(3, 300, 200) // larger than a thumbnail
		for i := range img.Pix {
			img.Pix[i] = v
		}
		return img
	}
	amap := imageio.NewMap(300, 200)
	for i := range amap.Pix {
		amap.Pix[i] = float32(i%200) / 200
	}
	return Report{
		Title:           "bottle <test> & co",
		Metrics:         map[string]any{"image_auroc": 0.9375, "pixel_auroc": 0.8125, "aupro": 0.5, "note": "<b>x</b>"},
		MetricOrder:     []string{"image_auroc", "pixel_auroc"},
		ROC:             Curve{X: []float64{0, 0, 0.5, 1}, Y: []float64{0, 0.5, 1, 1}},
		PR:              Curve{X: []float64{0, 0.5, 1}, Y: []float64{1, 1, 0.66}},
		NormalScores:    []float64{0.1, 0.2, 0.3},
		AnomalousScores: []float64{0.25, 0.8},
		Threshold:       0.5,
		Rows: []Row{
			{Name: "good/000.png", Image: mk(0.2), Map: amap, Score: 0.1, Label: 0, PValue: 0.7},
			{Name: "crack/000.png", Image: mk(0.6), Mask: square(300, 200, 10, 10, 50), Map: amap, PredMask: square(300, 200, 5, 5, 60), Score: 0.8, Label: 1, Decision: true, PValue: 0.01},
			{Name: "../evil name?.png", Score: math.NaN(), Label: 1, PValue: math.NaN()},
		},
	}
}

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

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	r := tinyReport()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{"image_auroc", "0.9375", "pixel_auroc", "0.8125", "aupro", "0.5000",
		"bottle &lt;test&gt; &amp; co", "&lt;b&gt;x&lt;/b&gt;", "crack/000.png", "anomalous", "n/a"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if n := strings.Count(html, `class="wrong"`); n != 1 {
		t.Errorf("%d rows marked wrong, want 1 (the missed anomaly)", n)
	}
	if strings.Contains(html, "<b>x</b>") {
		t.Error("metric text not escaped")
	}
	if strings.Index(html, "image_auroc") > strings.Index(html, "aupro") {
		t.Error("MetricOrder not respected")
	}
	srcs := regexp.MustCompile(`src="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(srcs) != 3+2+1+2 { // plots, two images, one mask, two overlays
		t.Errorf("%d pictures referenced, want 8: %v", len(srcs), srcs)
	}
	for _, s := range srcs {
		p := filepath.Join(dir, filepath.FromSlash(s[1]))
		if rel, err := filepath.Rel(dir, p); err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("picture %q escapes the report directory", s[1])
		}
		img := decodePNG(t, p)
		if b := img.Bounds(); strings.HasPrefix(s[1], "img/") && (b.Dx() > thumbMax || b.Dy() > thumbMax) {
			t.Errorf("%s is %v, larger than a thumbnail", s[1], b)
		}
	}
	if b := decodePNG(t, filepath.Join(dir, "img/crack_000_overlay.png")).Bounds(); b.Dx() != 170 || b.Dy() != 256 {
		t.Errorf("overlay thumbnail %v, want 170x256 (aspect kept)", b)
	}
	// metrics.json round-trips.
	s, err := ReadSummary(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Title != r.Title || !reflect.DeepEqual(s.Metrics, r.Metrics) || !reflect.DeepEqual(s.MetricOrder, r.MetricOrder) ||
		!reflect.DeepEqual(s.ROC, r.ROC) || !reflect.DeepEqual(s.PR, r.PR) || float64(s.Threshold) != r.Threshold {
		t.Errorf("summary differs: %+v", s)
	}
	if len(s.Rows) != 3 || s.Rows[1].Name != "crack/000.png" || float64(s.Rows[1].Score) != 0.8 || !s.Rows[1].Decision ||
		float64(s.Rows[1].PValue) != 0.01 || s.Rows[1].Mask == "" || !math.IsNaN(float64(s.Rows[2].Score)) {
		t.Errorf("rows differ: %+v", s.Rows)
	}
	if float64(s.MapRange[0]) != 0 || float64(s.MapRange[1]) != float64(float32(199)/200) {
		t.Errorf("map range %v, want global min/max [0, 0.995]", s.MapRange)
	}
	b, _ := json.Marshal(s)
	var again Summary
	if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(again.Rows[1], s.Rows[1]) {
		t.Errorf("summary does not re-encode identically: %v", err)
	}
	// No temporary files are left behind.
	left, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp*"))
	left2, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left)+len(left2) > 0 {
		t.Errorf("temporary files left: %v %v", left, left2)
	}
}

func TestWriteRefusesInconsistentImage(t *testing.T) {
	r := Report{Title: "x", Rows: []Row{{Name: "bad", Image: &imageio.Image{C: 3, H: 4, W: 4, Pix: make([]float32, 5)}}}}
	if err := Write(t.TempDir(), r); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("err %v, want one naming the row", err)
	}
}

func TestWritePredictions(t *testing.T) {
	dir := t.TempDir()
	img := imageio.New(3, 40, 30)
	m := imageio.NewMap(20, 15) // lower resolution than the image
	m.Pix[0] = 2
	items := []Prediction{
		{Name: "a/x.png", Image: img, Map: m, PredMask: square(40, 30, 0, 0, 5), Score: 2, PValue: 0.001, Decision: true},
		{Name: "b/x.png", Image: img, Score: 0.1, PValue: math.NaN()},
		{Name: "a/x.png", Image: img, Score: 0.2, PValue: 0.5},
	}
	if err := WritePredictions(dir, items); err != nil {
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
	seen := map[string]bool{}
	for i, r := range res {
		if r.Name != items[i].Name || float64(r.Score) != items[i].Score || r.Decision != items[i].Decision {
			t.Errorf("result %d: %+v", i, r)
		}
		if seen[r.Overlay] || strings.ContainsAny(r.Overlay, "/\\") {
			t.Errorf("overlay name %q repeated or not a plain file name", r.Overlay)
		}
		seen[r.Overlay] = true
		if bb := decodePNG(t, filepath.Join(dir, r.Overlay)).Bounds(); bb.Dx() != 30 || bb.Dy() != 40 {
			t.Errorf("overlay %s is %v, want the image's 30x40", r.Overlay, bb)
		}
	}
	if !math.IsNaN(float64(res[1].PValue)) {
		t.Errorf("NaN p-value read back as %v", res[1].PValue)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"bottle/test/crack/000.png": "bottle_test_crack_000",
		"../../etc/passwd":          "_.._etc_passwd",
		"":                          "image",
		"a b?c.jpg":                 "a_b_c",
	} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := uniqueStems([]string{"x.png", "X.png", "x.jpg"}); !reflect.DeepEqual(got, []string{"x", "X-2", "x-3"}) {
		t.Errorf("uniqueStems = %v", got)
	}
}
