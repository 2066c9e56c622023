package server

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	_ "github.com/vigil-ad/vigil/detector/pcarecon"
	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/report"
)

// browser finds Chromium or Chrome on PATH.
func browser() string {
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	return ""
}

// TestUIInBrowser drives the web UI in headless Chromium: vigil serve on
// a demo model (fitted, calibrated and evaluated with its HTML report as
// 'vigil demo' does), an anomalous and a normal demo image uploaded
// through the file input; the decisions shown must be the pipeline's,
// the heatmap overlay must change the picture, the threshold and opacity
// sliders must redraw it in the browser, and the test report must open.
// VIGIL_UI_SHOTS=DIR keeps screenshots (docs/ui-*.png).
func TestUIInBrowser(t *testing.T) {
	bin := browser()
	if bin == "" {
		t.Skip("no chromium, chromium-browser or google-chrome on PATH: the web UI is not tested in a browser (.ci/run installs the Debian chromium package)")
	}
	const family, seed = "weave", 1
	size := 48 // small and quick; screenshots get larger pictures
	if os.Getenv("VIGIL_UI_SHOTS") != "" {
		size = 160
	}
	dir := t.TempDir()
	fams, err := pipeline.Demo(context.Background(), pipeline.DemoOptions{Families: []string{family}, Seed: seed, ImageSize: size,
		Alpha: 0.01, Dir: dir,
		Report: func(fam, d string, m *pipeline.Model) (func(*pipeline.ImageResult) error, func(*pipeline.EvalResult) error, error) {
			return report.EvalReportSink(d, "Vigil demo: "+m.Detector.Method()+" on "+fam, m)
		}})
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	folders, err := pipeline.WriteDemo(data, []string{family}, seed, size)
	if err != nil {
		t.Fatal(err)
	}
	// the pipeline's own decisions on the test images pick the two to upload
	pr, err := pipeline.Predict(context.Background(), pipeline.PredictOptions{Model: fams[0].Model, Paths: []string{filepath.Join(folders[0], "test")}})
	if err != nil {
		t.Fatal(err)
	}
	var anomPath, normPath string
	best, lowest := 0.0, 0.0
	for _, r := range pr.Rows {
		good := strings.Contains(filepath.ToSlash(r.Path), "/test/good/")
		if !good && r.Verdict == "anomalous" && (anomPath == "" || r.Score > best) {
			anomPath, best = r.Path, r.Score
		}
		if good && r.Verdict == "normal" && (normPath == "" || r.Score < lowest) {
			normPath, lowest = r.Path, r.Score
		}
	}
	if anomPath == "" || normPath == "" {
		t.Fatalf("demo data: no anomalous image decided anomalous (%q) or normal decided normal (%q)", anomPath, normPath)
	}
	// defect folders reuse file names: upload under names that say which is which
	up := t.TempDir()
	for _, f := range []struct {
		path *string
		name string
	}{{&anomPath, "anomalous-" + filepath.Base(filepath.Dir(anomPath)) + "-" + filepath.Base(anomPath)}, {&normPath, "normal-" + filepath.Base(normPath)}} {
		b, err := os.ReadFile(*f.path)
		if err != nil {
			t.Fatal(err)
		}
		*f.path = filepath.Join(up, f.name)
		if err := os.WriteFile(*f.path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	_, ts := startServer(t, Config{ModelsDir: dir})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Skipf("the browser at %s could not start here: %v", bin, err)
	}
	must := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, expr string, out any) {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := json.Unmarshal(v, out); err != nil {
			t.Fatalf("%s: %v (%s)", what, err, v)
		}
	}
	var nModels int
	must("model list", chromedp.Query(chromedp.CSS(`#models tbody tr`), chromedp.NodeVisible))
	eval("models", `document.querySelectorAll('#model option').length`, &nModels)
	if nModels != 1 {
		t.Fatalf("%d models in the picker, want 1", nModels)
	}
	must("upload", chromedp.SetUploadFiles(chromedp.CSS(`#files`), []string{anomPath, normPath}))
	waitJS := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			var ok bool
			eval(what, expr, &ok)
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitJS("two results", `document.querySelectorAll('.result[data-done="1"]').length === 2`)
	var cards []struct {
		Name, Decision, Shown, Err string
	}
	eval("read results", `[...document.querySelectorAll('.result')].map(e => ({
		name: e.dataset.name, decision: e.dataset.decision, shown: e.querySelector('.decision').textContent,
		err: e.querySelector('.err').textContent}))`, &cards)
	want := map[string]string{filepath.Base(anomPath): "anomalous", filepath.Base(normPath): "normal"}
	for _, c := range cards {
		if c.Err != "" {
			t.Errorf("%s: error shown: %s", c.Name, c.Err)
		}
		if w := want[c.Name]; c.Decision != w || c.Shown != w {
			t.Errorf("%s: decision %q shown %q, want %q", c.Name, c.Decision, c.Shown, w)
		}
	}
	// the overlay: pixels of the drawn canvas against the plain image
	const diffJS = `(() => {
		const out = {};
		for (const c of state.cards) {
			const w = c.canvas.width, h = c.canvas.height, t = document.createElement('canvas');
			t.width = w; t.height = h;
			const g = t.getContext('2d');
			g.drawImage(c.img, 0, 0, w, h);
			const a = g.getImageData(0, 0, w, h).data, b = c.canvas.getContext('2d').getImageData(0, 0, w, h).data;
			let n = 0, white = 0;
			for (let i = 0; i < a.length; i += 4) {
				if (Math.abs(a[i]-b[i]) + Math.abs(a[i+1]-b[i+1]) + Math.abs(a[i+2]-b[i+2]) > 12) n++;
				if (b[i] === 255 && b[i+1] === 255 && b[i+2] === 255) white++;
			}
			out[c.el.dataset.name] = {changed: n / (w*h), outline: white, pixels: w*h, hasMap: !!c.map};
		}
		return JSON.stringify(out);
	})()`
	type diff struct {
		Changed float64
		Outline int
		Pixels  int
		HasMap  bool
	}
	read := func() map[string]diff {
		var s string
		eval("pixels", diffJS, &s)
		m := map[string]diff{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	anom, norm := filepath.Base(anomPath), filepath.Base(normPath)
	d0 := read()
	t.Logf("overlay at the model's pixel threshold: %+v", d0)
	if !d0[anom].HasMap || d0[anom].Changed < 0.2 || d0[norm].Changed < 0.2 {
		t.Fatalf("the overlay is not drawn: %+v", d0)
	}
	if d0[anom].Outline == 0 {
		t.Errorf("no predicted region outlined on the anomalous image: %+v", d0[anom])
	}
	shot := func(name string) {
		out := os.Getenv("VIGIL_UI_SHOTS")
		if out == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()) // the viewport, as PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("ui-score.png")
	setRange := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => { const e = document.querySelector('`+sel+`'); e.value = '`+v+`';
			e.dispatchEvent(new Event('input')); return true; })()`)(ctx, tg)
			return err
		})
	}
	// the threshold slider recolours the region in the browser: at the
	// bottom of the scale every pixel is in it, at the top none
	must("threshold low", setRange("#thr", "0"))
	dLow := read()
	must("threshold high", setRange("#thr", "1000"))
	dHigh := read()
	if !(dLow[anom].Outline > 0 && dHigh[anom].Outline < d0[anom].Outline) || dLow[anom].Changed == dHigh[anom].Changed {
		t.Errorf("threshold slider: outline %d at 0, %d at the model's threshold, %d at the top", dLow[anom].Outline, d0[anom].Outline, dHigh[anom].Outline)
	}
	must("opacity 0", setRange("#thr", "1000"), setRange("#opacity", "0"))
	dClear := read()
	// at opacity 0 only the outline of the region (map at the top of the
	// scale, saturated pixels) may differ from the plain image
	if c := dClear[anom]; c.Changed*float64(c.Pixels) > float64(c.Outline)+0.002*float64(c.Pixels) {
		t.Errorf("opacity 0 changes %.0f pixels, more than the %d of the outline", c.Changed*float64(c.Pixels), c.Outline)
	}
	must("restore", setRange("#opacity", "55"), setRange("#thr", "500"))

	// the test report opens from the UI's list
	var href string
	must("report link", chromedp.Query(chromedp.CSS(`#reports a`), chromedp.NodeVisible))
	eval("report link", `document.querySelector('#reports a').href`, &href)
	if !strings.HasSuffix(href, "/reports/"+family+"/") {
		t.Fatalf("report link %s", href)
	}
	var body string
	must("open report", chromedp.Navigate(href), chromedp.Query(chromedp.CSS("body"), chromedp.NodeReady))
	eval("report text", `document.body.innerText`, &body)
	if !strings.Contains(body, "AUROC") {
		t.Fatalf("report page does not show metrics: %.300s", body)
	}
	var broken int
	eval("report pictures", `[...document.images].filter(i => i.complete && i.naturalWidth === 0).length`, &broken)
	if broken > 0 {
		t.Errorf("%d pictures of the report do not load", broken)
	}
	shot("ui-report.png")
}
