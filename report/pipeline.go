package report

import (
	"html/template"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/pipeline"
)

// This file connects the pipeline to the report writers: an evaluation's
// images stream into a Writer through OnImage, and its metrics become the
// page's Summary.

// OptionsFor draws pictures on the model's colour scale (threshold-
// relative, from its calibration), so an image looks the same whatever
// else is in the run.
func OptionsFor(c decision.Calibration) Options {
	var o Options
	if lo, hi, ok := c.MapRange(); ok {
		o.MapRange = [2]float64{lo, hi}
	}
	o.PixelThreshold = c.PixelThreshold
	t := c.Threshold
	o.ImageThreshold = &t
	return o
}

// workers draws pictures on GOMAXPROCS goroutines while the pipeline
// goes on scoring: PNG encoding is slow next to scoring. At most that many
// images wait, so memory stays bounded; the writers order rows by Index.
type workers struct {
	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func newWorkers() *workers { return &workers{sem: make(chan struct{}, runtime.GOMAXPROCS(0))} }

// do runs fn in the background; the first error is returned by do's next
// calls and by wait.
func (w *workers) do(fn func() error) error {
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	w.sem <- struct{}{}
	w.wg.Add(1)
	go func() {
		defer func() { <-w.sem; w.wg.Done() }()
		if err := fn(); err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
	}()
	return nil
}

func (w *workers) wait() error {
	w.wg.Wait()
	return w.err
}

// EvalReport streams an evaluation into an HTML report.
type EvalReport struct {
	w     *Writer
	dir   string
	title string
	bg    *workers
}

// NewEvalReport starts a report of model m's evaluation in dir.
func NewEvalReport(dir, title string, m *pipeline.Model) (*EvalReport, error) {
	w, err := NewWriter(dir, OptionsFor(m.Calib))
	if err != nil {
		return nil, err
	}
	return &EvalReport{w: w, dir: dir, title: title, bg: newWorkers()}, nil
}

// OnImage adds one scored test image (pipeline.EvalOptions.OnImage).
func (r *EvalReport) OnImage(ir *pipeline.ImageResult) error {
	return r.w.Add(Row{Name: ir.Name, Path: ir.Name, Defect: ir.Defect, Error: errString(ir.Err), Image: ir.Image,
		Mask: ir.Mask, Map: ir.Map, PredMask: ir.PredMask, Score: ir.Score, Label: ir.Label,
		Decision: ir.Anomalous, PValue: ir.PValue, Index: ir.Index})
}

// Finish writes the page with the evaluation's metrics.
func (r *EvalReport) Finish(res *pipeline.EvalResult) error {
	return r.w.Close(EvalSummary(r.title, res))
}

// Abort removes what was written.
func (r *EvalReport) Abort() { r.w.Abort() }

// Index is the absolute path of the report's page.
func (r *EvalReport) Index() string {
	p := filepath.Join(r.dir, "index.html")
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// EvalReportSink is the demo's per-family report (pipeline.DemoOptions.Report).
func EvalReportSink(dir, title string, m *pipeline.Model) (func(*pipeline.ImageResult) error, func(*pipeline.EvalResult) error, error) {
	r, err := NewEvalReport(dir, title, m)
	if err != nil {
		return nil, nil, err
	}
	return r.OnImage, r.Finish, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func numPtr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// metricOrder is the order of the report's metrics table.
var metricOrder = []string{"image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_auroc_error_bound", "aupro", "aupro_error_bound", "auspro",
	"test_fpr", "test_tpr", "test_precision", "n_normal", "n_anomalous", "n_errors", "method", "seconds", "ms_per_image"}

// EvalSummary turns an evaluation's results into the report's summary.
func EvalSummary(title string, res *pipeline.EvalResult) Summary {
	s := Summary{
		Title: title, MetricOrder: metricOrder,
		Metrics: map[string]any{
			"method": res.Method, "image_auroc": numPtr(res.ImageAUROC), "image_ap": numPtr(res.ImageAP),
			"image_f1_max": numPtr(res.ImageF1Max), "pixel_auroc": numPtr(res.PixelAUROC),
			"pixel_auroc_error_bound": numPtr(res.PixelAUROCBound), "aupro": numPtr(res.AUPRO),
			"aupro_error_bound": numPtr(res.AUPROBound), "test_fpr": numPtr(res.TestFPR), "test_tpr": numPtr(res.TestTPR),
			"test_precision": numPtr(res.Precision), "n_normal": res.NNormal, "n_anomalous": res.NAnomalous,
			"n_errors": res.NErrors, "seconds": res.Seconds, "ms_per_image": res.MsPerImage,
		},
		Threshold: Number(res.Threshold), ThresholdRule: res.Rule, TargetFPR: Number(res.TargetFPR),
		Warnings: res.Warnings,
	}
	if res.AUsPRO != nil {
		s.Metrics["auspro"] = *res.AUsPRO
	}
	if res.PixelNote != "" {
		s.Warnings = append(s.Warnings, "pixel metrics not available: "+res.PixelNote)
	}
	for _, r := range res.Rows {
		if r.Error != "" {
			continue
		}
		if r.Label == 1 {
			s.AnomalousScores = append(s.AnomalousScores, Number(r.Score))
		} else {
			s.NormalScores = append(s.NormalScores, Number(r.Score))
		}
	}
	s.ROC, s.PR = Curve{X: res.ROC.X, Y: res.ROC.Y}, Curve{X: res.PR.X, Y: res.PR.Y}
	for d, m := range res.PerDefect {
		s.PerDefect = append(s.PerDefect, DefectSummary{Defect: d, Metrics: map[string]any{"image_auroc": numPtr(m.AUROC)}})
	}
	return s
}

// PredictOutput streams predictions into overlays, masks and results.json.
type PredictOutput struct {
	pw *PredictionWriter
	bg *workers
}

// NewPredictOutput starts writing predictions of model m into dir.
func NewPredictOutput(dir string, m *pipeline.Model) (*PredictOutput, error) {
	pw, err := NewPredictionWriter(dir, OptionsFor(m.Calib))
	if err != nil {
		return nil, err
	}
	return &PredictOutput{pw: pw, bg: newWorkers()}, nil
}

// OnImage writes one image's outputs (pipeline.PredictOptions.OnImage).
func (p *PredictOutput) OnImage(ir *pipeline.ImageResult) error {
	score := ir.Score
	if ir.Err != nil {
		score = math.NaN()
	}
	pr := Prediction{Path: ir.Name, Image: ir.Image, Map: ir.Map, PredMask: ir.PredMask, Score: score,
		PValue: ir.PValue, Decision: ir.Anomalous, Error: errString(ir.Err), Index: ir.Index}
	return p.bg.do(func() error {
		_, err := p.pw.Add(pr)
		return err
	})
}

// Finish writes results.json.
func (p *PredictOutput) Finish(*pipeline.PredictResult) error {
	if err := p.bg.wait(); err != nil {
		p.pw.Abort()
		return err
	}
	return p.pw.Close()
}

// Abort removes what was written.
func (p *PredictOutput) Abort() {
	p.bg.wait()
	p.pw.Abort()
}

var demoIndexTmpl = template.Must(template.New("index").Funcs(template.FuncMap{"f": func(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return formatFloat(*p)
}}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Vigil demo</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child{text-align:left}</style>
</head><body><h1>Vigil demo</h1>
<p>Generated textures with planted defects (scratches, spots, holes, colour drift) and exact masks; each family fitted on its normal images, calibrated on held-out normals and tested.</p>
<table><tr><th>family</th><th>Image AUROC</th><th>Image AP</th><th>Pixel AUROC</th><th>AUPRO (FPR ≤ 0.3)</th><th>False-positive rate</th><th>True-positive rate</th><th>report</th></tr>
{{range .}}<tr><td>{{.Family}}</td><td>{{f .Result.ImageAUROC}}</td><td>{{f .Result.ImageAP}}</td><td>{{f .Result.PixelAUROC}}</td><td>{{f .Result.AUPRO}}</td><td>{{f .Result.TestFPR}}</td><td>{{f .Result.TestTPR}}</td><td><a href="{{.Family}}/index.html">{{.Family}}</a></td></tr>
{{end}}</table></body></html>
`))

// WriteDemoIndex writes the demo's overview page linking each family's
// report.
func WriteDemoIndex(path string, fams []pipeline.DemoFamily) error {
	return atomicWrite(path, func(w io.Writer) error { return demoIndexTmpl.Execute(w, fams) })
}
