package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/metrics"
)

// EvalOptions configure Evaluate.
type EvalOptions struct {
	Model       string // model file (or Loaded)
	Loaded      *Model
	BackboneDir string // searched first for the model's backbone
	// Data selects the test set; Dataset, when set, is used instead. The
	// split stored in the model (seed, fractions, normal class) is used,
	// so the normal test images are never training images.
	Data      dataset.Source
	Dataset   *dataset.Dataset
	MaxPixels int
	Batch     int
	Progress  Progress
	// OnImage, when set, is called for every test image in order while its
	// pictures are in memory (e.g. to write report thumbnails).
	OnImage func(*ImageResult) error
}

// Row is one test image's outcome, without pictures.
type Row struct {
	Name    string  `json:"name"`
	Path    string  `json:"path,omitempty"`
	Defect  string  `json:"defect"`
	Label   int     `json:"label"`
	Score   float64 `json:"score"`
	PValue  float64 `json:"p_value"`
	Verdict string  `json:"decision"` // anomalous, normal, error
	Error   string  `json:"error,omitempty"`
}

// DefectResult is the evaluation of one defect type against the normal
// test images.
type DefectResult struct {
	N     int      `json:"n"`
	AUROC *float64 `json:"auroc"`
	// Detected is the share of this type's images decided anomalous.
	Detected float64 `json:"detected"`
}

// EvalResult is every metric of an evaluation. Pointers are null when a
// metric cannot be computed; the matching note says why.
type EvalResult struct {
	Method     string   `json:"method"`
	Data       string   `json:"data"`
	Layout     string   `json:"layout,omitempty"`
	ImageAUROC *float64 `json:"image_auroc"`
	ImageAP    *float64 `json:"image_ap"`
	ImageF1Max *float64 `json:"image_f1_max"`
	PixelAUROC *float64 `json:"pixel_auroc"`
	// PixelAUROCBound and AUPROBound bound the error of the bounded-memory
	// pixel metrics.
	PixelAUROCBound *float64 `json:"pixel_auroc_error_bound"`
	AUPRO           *float64 `json:"aupro"`
	AUPROBound      *float64 `json:"aupro_error_bound"`
	// AUsPRO is MVTec LOCO's saturated per-region overlap integrated up to
	// FPR 0.05 (LOCO datasets only).
	AUsPRO     *float64                `json:"auspro,omitempty"`
	PixelNote  string                  `json:"pixel_metrics_note,omitempty"`
	Threshold  float64                 `json:"threshold"`
	Rule       string                  `json:"rule"`
	TargetFPR  float64                 `json:"target_fpr"`
	TestFPR    *float64                `json:"test_fpr"`
	TestTPR    *float64                `json:"test_tpr"`
	Precision  *float64                `json:"test_precision"`
	Confusion  metrics.Counts          `json:"confusion"`
	NNormal    int                     `json:"n_normal"`
	NAnomalous int                     `json:"n_anomalous"`
	NErrors    int                     `json:"n_errors"`
	PerDefect  map[string]DefectResult `json:"per_defect,omitempty"`
	Seconds    float64                 `json:"seconds"`
	MsPerImage float64                 `json:"ms_per_image"`
	Warnings   []string                `json:"warnings,omitempty"`
	Rows       []Row                   `json:"rows"`
	// ROC and PR are the image-level curves (empty without both classes),
	// for plots; not part of the JSON summary.
	ROC, PR metrics.Curve `json:"-"`
}

func fptr(v float64) *float64 { return &v }

// evalSplit gives the dataset options that reproduce the model's split.
func evalSplit(m *Model, src *dataset.Source, maxPixels int) (dataset.Options, []string, error) {
	opt := dataset.Options{MaxPixels: maxPixels, SkipTrain: true}
	var warn []string
	if m.Prov == nil {
		warn = append(warn, "the model records no training split (fitted by an older Vigil): normal test images cannot be checked against the training images")
		if src.IDX != "" && !src.NormalClassSet {
			return opt, nil, optErr("normal-class", "is required: the model does not record the class it was fitted on")
		}
		return opt, warn, nil
	}
	sp := m.Prov.Split
	if src.IDX != "" && sp.NormalClass != nil && src.NormalClassSet && src.NormalClass != *sp.NormalClass {
		return opt, nil, optErr("normal-class", "the model was fitted with normal class %d, not %d", *sp.NormalClass, src.NormalClass)
	}
	*src, opt = sp.Apply(*src, opt)
	return opt, warn, nil
}

// Evaluate scores the test split of a dataset with a fitted model and
// computes every metric. Images that fail (undecodable, non-finite score
// or map) are counted in NErrors and listed in Rows; they take no part in
// the metrics. A test image that was used to fit or calibrate the model
// (same SHA-256) makes Evaluate fail, naming it.
func Evaluate(ctx context.Context, o EvalOptions) (*EvalResult, error) {
	if o.Dataset == nil {
		if err := checkSource(o.Data); err != nil {
			return nil, err
		}
	}
	if o.MaxPixels < 0 {
		return nil, optErr("max-pixels", "must be positive")
	}
	m := o.Loaded
	if m == nil {
		var err error
		if m, err = LoadModel(o.Model, o.BackboneDir); err != nil {
			return nil, err
		}
	}
	ds := o.Dataset
	var warns []string
	if ds == nil {
		src := o.Data
		opt, w, err := evalSplit(m, &src, o.MaxPixels)
		if err != nil {
			return nil, err
		}
		warns = w
		if ds, err = dataset.Load(src, opt); err != nil {
			return nil, err
		}
	}
	if len(ds.Test) == 0 {
		return nil, fmt.Errorf("dataset %s has no test images", ds.Name)
	}
	calib := m.Calib
	out := &EvalResult{Method: m.Detector.Method(), Data: ds.Name, Layout: ds.Layout, Threshold: calib.Threshold,
		Rule: calib.Method, TargetFPR: calib.Alpha}
	out.Warnings = append(warns, ds.Warnings...)
	if calib.Warning != "" {
		out.Warnings = append(out.Warnings, "calibration: "+calib.Warning)
	}

	fitted := map[string]bool{}
	if m.Prov != nil {
		for _, h := range m.Prov.Fitted {
			fitted[h] = true
		}
	}
	var leaked []string
	pixels := ds.HasMasks
	var acc *pixelAcc
	if pixels {
		acc = newPixelAcc(ds.Layout == dataset.LayoutLOCO, o.MaxPixels)
	}
	noMap := 0
	t0 := time.Now()
	err := stream(ctx, m.Detector, ds.Test, streamOptions{batch: o.Batch, maxPixels: o.MaxPixels, calib: &calib,
		progress: o.Progress, step: "scoring", keepMask: pixels, predMask: o.OnImage != nil}, func(r *ImageResult) error {
		if r.SHA256 != "" && fitted[r.SHA256] {
			leaked = append(leaked, r.Name)
		}
		if r.Err == nil && pixels {
			switch {
			case r.Map == nil:
				noMap++
			case r.Mask != nil:
				acc.add(len(out.Rows), r)
			}
		}
		row := Row{Name: r.Name, Path: r.Path, Defect: r.Defect, Label: r.Label, Score: r.Score, PValue: r.PValue, Verdict: r.Verdict()}
		if r.Err != nil {
			row.Error = r.Err.Error()
		}
		out.Rows = append(out.Rows, row)
		if o.OnImage != nil {
			return o.OnImage(r)
		}
		return nil
	})
	var roc *metrics.PixelROC
	var pro *metrics.PRO
	var spro *metrics.SPRO
	if acc != nil {
		var errs map[int]error
		roc, pro, spro, errs = acc.finish()
		for i, e := range errs {
			out.Rows[i].Error, out.Rows[i].Verdict = e.Error(), "error"
		}
	}
	if err != nil {
		return nil, err
	}
	if len(leaked) > 0 {
		return nil, fmt.Errorf("%d test image(s) were used to fit or calibrate the model (same SHA-256): %s; evaluate on images the model has not seen",
			len(leaked), joinNames(leaked, 10))
	}
	out.Seconds = time.Since(t0).Seconds()
	out.MsPerImage = 1000 * out.Seconds / float64(len(ds.Test))
	imageMetrics(out)
	switch {
	case !ds.HasMasks && len(ds.NoMask) > 0:
		out.PixelNote = fmt.Sprintf("no ground-truth mask for %d anomalous test image(s): %s", len(ds.NoMask), joinNames(ds.NoMask, 5))
	case !ds.HasMasks:
		out.PixelNote = "the dataset has no ground-truth masks"
	case noMap > 0:
		out.PixelNote = fmt.Sprintf("method %s gives no anomaly map", out.Method)
	case out.NAnomalous == 0:
		out.PixelNote = "no anomalous test images"
	default:
		if v, err := roc.AUROC(); err == nil {
			out.PixelAUROC, out.PixelAUROCBound = fptr(v), fptr(roc.ErrorBound())
		} else {
			out.PixelNote = err.Error()
		}
		if v, err := pro.AUPRO(0.3); err == nil {
			out.AUPRO, out.AUPROBound = fptr(v), fptr(pro.ErrorBound(0.3))
		} else if out.PixelNote == "" {
			out.PixelNote = err.Error()
		}
	}
	if spro != nil && out.PixelAUROC != nil {
		if v, err := spro.AUsPRO(metrics.DefaultSPROLimit); err == nil {
			out.AUsPRO = fptr(v)
		}
	}
	return out, nil
}

// imageMetrics fills the image-level metrics from the rows that scored.
func imageMetrics(out *EvalResult) {
	var scores []float64
	var labels []int
	var defects []string
	for _, r := range out.Rows {
		if r.Error != "" {
			out.NErrors++
			continue
		}
		scores, labels, defects = append(scores, r.Score), append(labels, r.Label), append(defects, r.Defect)
		if r.Label == 1 {
			out.NAnomalous++
		} else {
			out.NNormal++
		}
	}
	c := metrics.Confusion(scores, labels, out.Threshold)
	out.Confusion = c
	if c.Negatives() > 0 {
		out.TestFPR = fptr(c.FPR())
	}
	if c.Positives() > 0 {
		out.TestTPR = fptr(c.TPR())
	}
	if c.TP+c.FP > 0 {
		out.Precision = fptr(c.Precision())
	}
	if out.NNormal == 0 || out.NAnomalous == 0 {
		return
	}
	if rep, err := metrics.ImageMetrics(scores, labels); err == nil {
		out.ImageAUROC, out.ImageAP, out.ImageF1Max = fptr(rep.AUROC), fptr(rep.AP), fptr(rep.F1Max)
	}
	out.ROC, out.PR = metrics.ROC(scores, labels), metrics.PR(scores, labels)
	out.PerDefect = map[string]DefectResult{}
	for d, auc := range metrics.PerDefectAUROC(scores, labels, defects) {
		out.PerDefect[d] = DefectResult{AUROC: fptr(auc)}
	}
	for i, d := range defects {
		if labels[i] != 1 {
			continue
		}
		r := out.PerDefect[d]
		r.N++
		if scores[i] >= out.Threshold {
			r.Detected++
		}
		out.PerDefect[d] = r
	}
	for d, r := range out.PerDefect {
		if r.N > 0 {
			r.Detected /= float64(r.N)
		}
		out.PerDefect[d] = r
	}
}

// Failures lists the rows that failed, errors first in the order met.
func (r *EvalResult) Failures() []Row {
	return slices.DeleteFunc(slices.Clone(r.Rows), func(x Row) bool { return x.Error == "" })
}
