package report

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/imageio"
)

// demoReport writes a report shaped like a real evaluation: textured
// images with a planted bright blob, maps peaking on it, every outcome.
func demoReport(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	const h, w = 96, 128
	mk := func(defect bool, cy, cx int) (*imageio.Image, *imageio.Map, *imageio.Map) {
		img := imageio.New(3, h, w)
		m := imageio.NewMap(h, w)
		gt := imageio.NewMap(h, w)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := 0.45 + 0.1*math.Sin(float64(x)/5)*math.Cos(float64(y)/7) + 0.05*rng.Float64()
				d := math.Hypot(float64(y-cy), float64(x-cx))
				mv := 0.2 * rng.Float64()
				if defect && d < 12 {
					v, mv = 0.85, 2.2-d/12
					gt.Set(y, x, 1)
				}
				for c := 0; c < 3; c++ {
					img.Set(c, y, x, float32(v*(0.8+0.1*float64(c))))
				}
				m.Set(y, x, float32(mv))
			}
		}
		return img, imageio.GaussianSmooth(m, 2), gt
	}
	thr := 1.0
	wr, err := NewWriter(dir, Options{MapRange: [2]float64{0, 2}, PixelThreshold: &thr})
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Abort()
	add := func(r Row) {
		if err := wr.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range []struct {
		defect          string
		planted, decide bool
		score           float64
	}{
		{"good", false, false, 0.31}, {"good", false, true, 0.72}, {"good", false, false, 0.28},
		{"crack", true, true, 0.93}, {"crack", true, false, 0.44}, {"scratch", true, true, 0.88},
	} {
		img, m, gt := mk(d.planted, 30+7*i, 40+9*i)
		r := Row{Index: i, Path: d.defect + "/00" + string(rune('0'+i)) + ".png", Defect: d.defect, Image: img, Map: m,
			Score: d.score, Decision: d.decide, PValue: 1 - d.score}
		if d.planted {
			r.Label, r.Mask = 1, gt
		}
		if d.decide {
			pm := imageio.NewMap(h, w)
			for j, v := range m.Pix {
				if float64(v) >= thr {
					pm.Pix[j] = 1
				}
			}
			r.PredMask = pm
		}
		add(r)
	}
	add(Row{Index: 6, Path: "scratch/007.png", Defect: "scratch", Label: 1, Error: "scratch/007.png: png: invalid format: not a PNG file", Score: math.NaN(), PValue: math.NaN()})
	err = wr.Close(Summary{
		Title: "Vigil padim on bottle", Threshold: 0.5, ThresholdRule: "conformal", TargetFPR: 0.05,
		Metrics: map[string]any{"method": "padim", "image_auroc": 0.9375, "image_ap": 0.95, "pixel_auroc": 0.97, "aupro": 0.91,
			"test_fpr": 0.333, "test_tpr": 0.667, "n_normal": 3, "n_anomalous": 4, "threshold": 0.5, "target_fpr": 0.05, "seconds": 1.2},
		ROC:          Curve{X: []float64{0, 0, 0.33, 1}, Y: []float64{0, 0.67, 1, 1}},
		PR:           Curve{X: []float64{0, 0.67, 1}, Y: []float64{1, 1, 0.75}},
		NormalScores: []Number{0.31, 0.72, 0.28}, AnomalousScores: []Number{0.93, 0.44, 0.88},
		PerDefect: []DefectSummary{{Defect: "crack", Metrics: map[string]any{"image_auroc": 0.83}}, {Defect: "scratch", Metrics: map[string]any{"image_auroc": 1.0}}},
		Warnings:  []string{"1 test image could not be read", "only 20 normal validation images: the threshold's FPR is uncertain by ±0.05"},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPageInBrowser renders the report in headless Chromium when it is
// installed: the page must load from file:// and produce a non-blank
// screenshot. Set VIGIL_REPORT_DIR to keep the report and screenshot.
func TestPageInBrowser(t *testing.T) {
	bin := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium on PATH: the page is not rendered (the other tests check its content)")
	}
	dir := os.Getenv("VIGIL_REPORT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	demoReport(t, dir)
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(abs, "screenshot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--screenshot="+shot, "--window-size=1400,1600", "file://"+filepath.Join(abs, "index.html"))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no profile in the user's home
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("chromium could not run here (%v): %s", err, out)
	}
	img := decodePNG(t, shot)
	// Non-blank: some pixels far from white (text, thumbnails).
	b := img.Bounds()
	dark := 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			if c := rgbaAt(img, x, y); int(c[0])+int(c[1])+int(c[2]) < 300 {
				dark++
			}
		}
	}
	if dark < 500 {
		t.Errorf("screenshot %s is nearly blank (%d dark samples)", shot, dark)
	}
}
