package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/detector/students"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/metrics"
	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/safetensors"
)

// variantScorer is a students model whose Score runs ScoreVariants: it
// hands the pipeline the model's own map (multi/<score>, what Score
// returns) and keeps every variant's results of an image until the
// pipeline reports it (OnImage, in order, with its label and mask).
type variantScorer struct {
	*students.Detector
	main    int // index of multi/<score> in the variants
	mu      sync.Mutex
	pending map[*imageio.Image][]detector.Result // per variant
	vs      []students.Variant
	scoring time.Duration
}

func (w *variantScorer) Score(ctx context.Context, imgs []*imageio.Image) ([]detector.Result, error) {
	t0 := time.Now()
	vs, rs, err := w.ScoreVariants(ctx, imgs)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.scoring += time.Since(t0)
	if err != nil {
		return nil, err
	}
	for j, img := range imgs {
		per := make([]detector.Result, len(vs))
		for i := range vs {
			per[i] = rs[i][j]
		}
		w.pending[img] = per
	}
	return rs[w.main], nil
}

// take returns and forgets the variants' results of img.
func (w *variantScorer) take(img *imageio.Image) []detector.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	per := w.pending[img]
	delete(w.pending, img)
	return per
}

// variantAcc accumulates one variant's metrics as pipeline.Evaluate does:
// image scores of the images that scored, and the bounded-memory pixel
// ROC and PRO of those with a ground-truth mask.
type variantAcc struct {
	scores []float64
	labels []int
	roc    *metrics.PixelROC
	pro    *metrics.PRO
	masks  int
}

// TestStudentsAblation is issue 11's ablation of Uninformed Students
// (skipped unless VIGIL_STUDENTS_ABLATION=MODEL,DATADIR): it scores the
// test set of the MVTec-layout DATADIR once with the fitted MODEL through
// pipeline.Evaluate (the model loaded, the stored split applied and maps
// matched to masks as `vigil test` does) and logs, for every variant of
// students.Detector.ScoreVariants (each receptive field alone and their
// average, each with the map ev, e or v), image AUROC, pixel AUROC and
// AUPRO@0.3 from the same accumulators `vigil test` uses. The
// multi/<score> row must equal Evaluate's own metrics, which the test
// checks. Run with -v -timeout 0 (a full test set takes as long as
// `vigil test`: minutes); VIGIL_BACKBONE_DIR plays --backbone-dir.
func TestStudentsAblation(t *testing.T) {
	arg := os.Getenv("VIGIL_STUDENTS_ABLATION")
	if arg == "" {
		t.Skip("set VIGIL_STUDENTS_ABLATION=MODEL,DATADIR (absolute paths of a students model and its MVTec-layout data set) to run the ablation")
	}
	model, data, ok := strings.Cut(arg, ",")
	if !ok || !filepath.IsAbs(model) || !filepath.IsAbs(data) {
		t.Fatalf("VIGIL_STUDENTS_ABLATION=%q: want MODEL,DATADIR as absolute paths (go test runs in bench/)", arg)
	}
	studentsAblation(t, model, data)
}

// ablationRow is one variant's metrics (nil: not computable).
type ablationRow struct {
	variant                string
	imageAUROC, pixelAUROC *float64
	aupro                  *float64
}

// studentsAblation runs and logs the ablation of TestStudentsAblation and
// returns its rows, failing t if the model's own variant differs from
// pipeline.Evaluate.
func studentsAblation(t *testing.T, model, data string) []ablationRow {
	t.Helper()
	m, err := pipeline.LoadModel(model, os.Getenv("VIGIL_BACKBONE_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	det, ok := m.Detector.(*students.Detector)
	if !ok {
		t.Fatalf("%s is a %s model, not students", model, m.Detector.Method())
	}
	w := &variantScorer{Detector: det, pending: map[*imageio.Image][]detector.Result{}, vs: det.Variants()}
	score := det.Config().(students.Config).Score
	w.main = -1
	for i, v := range w.vs {
		if v.P == 0 && v.Score == score {
			w.main = i
		}
	}
	if w.main < 0 {
		t.Fatalf("no variant multi/%s among %v", score, w.vs)
	}
	accs := make([]*variantAcc, len(w.vs))
	for i := range accs {
		accs[i] = &variantAcc{roc: metrics.NewPixelROC(metrics.DefaultBins), pro: metrics.NewPRO(metrics.DefaultBins)}
	}
	wrapped := *m
	wrapped.Detector = w
	t0 := time.Now()
	res, err := pipeline.Evaluate(context.Background(), pipeline.EvalOptions{
		Loaded: &wrapped, Data: dataset.Source{Dir: data},
		OnImage: func(r *pipeline.ImageResult) error {
			per := w.take(r.Image)
			if r.Err != nil { // failed images take no part, as in Evaluate
				return nil
			}
			if per == nil {
				return fmt.Errorf("%s: scored without ScoreVariants", r.Name)
			}
			for i, a := range accs {
				if s := per[i].Score; math.IsNaN(s) || math.IsInf(s, 0) {
					return fmt.Errorf("%s: variant %s: score %v", r.Name, w.vs[i], s)
				}
				a.scores, a.labels = append(a.scores, per[i].Score), append(a.labels, r.Label)
				if r.Mask == nil {
					continue
				}
				a.masks++
				if err := a.roc.Add(per[i].Map, r.Mask); err != nil {
					return fmt.Errorf("%s: variant %s: %w", r.Name, w.vs[i], err)
				}
				if err := a.pro.Add(per[i].Map, r.Mask); err != nil {
					return fmt.Errorf("%s: variant %s: %w", r.Name, w.vs[i], err)
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(t0)
	if res.NErrors > 0 {
		t.Errorf("%d test images failed: %v", res.NErrors, res.Failures())
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%s on %s: %d normal, %d anomalous test images; scoring %.1f s (%.0f ms/image), wall %.1f s, load average %s",
		model, data, res.NNormal, res.NAnomalous, w.scoring.Seconds(), 1000*w.scoring.Seconds()/float64(len(res.Rows)),
		wall.Seconds(), strings.Join(strings.Fields(string(load))[:3], " "))
	t.Logf("%-10s %11s %11s %9s", "variant", "image AUROC", "pixel AUROC", "AUPRO@0.3")
	num := func(v float64, err error) *float64 {
		if err != nil {
			return nil
		}
		return &v
	}
	var rows []ablationRow
	for i, a := range accs {
		var img, pix, pro *float64
		if rep, err := metrics.ImageMetrics(a.scores, a.labels); err == nil {
			img = &rep.AUROC
		}
		if a.masks > 0 && res.PixelAUROC != nil {
			pix = num(a.roc.AUROC())
			pro = num(a.pro.AUPRO(0.3))
		}
		t.Logf("%-10s %11s %11s %9s", w.vs[i], showMetric(img), showMetric(pix), showMetric(pro))
		rows = append(rows, ablationRow{w.vs[i].String(), img, pix, pro})
		if i != w.main {
			continue
		}
		// The model's own variant is what `vigil test` prints.
		for _, c := range []struct {
			name      string
			got, want *float64
		}{{"image AUROC", img, res.ImageAUROC}, {"pixel AUROC", pix, res.PixelAUROC}, {"AUPRO", pro, res.AUPRO}} {
			if (c.got == nil) != (c.want == nil) || (c.got != nil && *c.got != *c.want) {
				t.Errorf("%s %s: %s here, %s from pipeline.Evaluate (vigil test)", w.vs[i], c.name, showMetric(c.got), showMetric(c.want))
			}
		}
	}
	return rows
}

// showMetric prints a metric to 4 decimals, or n/a.
func showMetric(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", *p)
}

// TestStudentsAblationTiny runs the harness on a tiny generated MVTec
// data set (textures, dark squares with masks) and a tiny two-scale
// model fitted by pipeline.Fit: besides the harness's own check of
// multi/ev against pipeline.Evaluate, the p17/e row must equal
// pipeline.Evaluate of the model restored with p = 17 alone and score e.
func TestStudentsAblationTiny(t *testing.T) {
	dir := t.TempDir()
	save := func(path string, img image.Image) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := imageio.SavePNG(path, img); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 16 {
		save(filepath.Join(dir, "train", "good", fmt.Sprintf("%03d.png", i)), detectortest.Texture(uint64(i), 32, 32).ToGoImage())
	}
	for i := range 4 {
		save(filepath.Join(dir, "test", "good", fmt.Sprintf("%03d.png", i)), detectortest.Texture(uint64(100+i), 32, 32).ToGoImage())
		img, mask := detectortest.Plant(detectortest.Texture(uint64(200+i), 32, 32), 4+5*i, 20-4*i, 7)
		save(filepath.Join(dir, "test", "square", fmt.Sprintf("%03d.png", i)), img.ToGoImage())
		save(filepath.Join(dir, "ground_truth", "square", fmt.Sprintf("%03d_mask.png", i)), mask.ToGoImage())
	}
	model := filepath.Join(t.TempDir(), "model.safetensors")
	cfg := `{"teacher":"triplet","patch_sizes":[17,33],"size":32,"students":3,"dim":8,"width":0.06,"teacher_steps":10,` +
		`"teacher_batch":8,"teacher_pool":128,"student_steps":10,"student_batch":2,"student_crop":16,"sigma":1,"seed":2}`
	if _, err := pipeline.Fit(context.Background(), pipeline.FitOptions{Method: "students", Config: json.RawMessage(cfg),
		Data: dataset.Source{Dir: dir}, DataOptions: dataset.Options{Seed: 1, ValFraction: 0.35}, Alpha: 0.2, Out: model}); err != nil {
		t.Fatal(err)
	}
	rows := studentsAblation(t, model, dir)
	var names []string
	got := map[string]ablationRow{}
	for _, r := range rows {
		names = append(names, r.variant)
		got[r.variant] = r
	}
	if s := strings.Join(names, " "); s != "p17/ev p17/e p17/v p33/ev p33/e p33/v multi/ev multi/e multi/v" {
		t.Fatalf("rows %s", s)
	}
	// The p = 17, score e model, restored from the fitted tensors.
	m, err := pipeline.LoadModel(model, "")
	if err != nil {
		t.Fatal(err)
	}
	c := m.Detector.Config().(students.Config)
	c.PatchSizes, c.Score = []int{17}, "e"
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]safetensors.Tensor{}
	for _, x := range m.Detector.Tensors() {
		if strings.HasPrefix(x.Name, "p17.") {
			ts[x.Name] = x
		}
	}
	one := new(students.Detector)
	if err := one.Restore(raw, ts); err != nil {
		t.Fatal(err)
	}
	m.Detector = one
	res, err := pipeline.Evaluate(context.Background(), pipeline.EvalOptions{Loaded: m, Data: dataset.Source{Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	r := got["p17/e"]
	for _, c := range []struct {
		name      string
		got, want *float64
	}{{"image AUROC", r.imageAUROC, res.ImageAUROC}, {"pixel AUROC", r.pixelAUROC, res.PixelAUROC}, {"AUPRO", r.aupro, res.AUPRO}} {
		if c.got == nil || c.want == nil || *c.got != *c.want {
			t.Errorf("p17/e %s: %s from the ablation, %s from Evaluate of the p = 17, score e model", c.name, showMetric(c.got), showMetric(c.want))
		}
	}
	if *got["p17/e"].pixelAUROC == *got["p33/e"].pixelAUROC || *got["p17/e"].pixelAUROC == *got["p17/v"].pixelAUROC {
		t.Errorf("variants coincide: pixel AUROC p17/e %v, p33/e %v, p17/v %v", *got["p17/e"].pixelAUROC, *got["p33/e"].pixelAUROC, *got["p17/v"].pixelAUROC)
	}
}
