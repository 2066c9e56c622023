package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/metrics"
)

// evalResult is what `vigil test --json` prints. Pointers are null when a
// metric cannot be computed (e.g. pixel metrics without masks).
type evalResult struct {
	Method       string             `json:"method"`
	ImageAUROC   *float64           `json:"image_auroc"`
	ImageAP      *float64           `json:"image_ap"`
	ImageF1Max   *float64           `json:"image_f1_max"`
	PixelAUROC   *float64           `json:"pixel_auroc"`
	AUPRO        *float64           `json:"aupro"`
	Threshold    float64            `json:"threshold"`
	TargetFPR    float64            `json:"target_fpr"`
	TestFPR      *float64           `json:"test_fpr"`
	TestTPR      *float64           `json:"test_tpr"`
	Precision    *float64           `json:"test_precision"`
	NNormal      int                `json:"n_normal"`
	NAnomalous   int                `json:"n_anomalous"`
	PerDefect    map[string]float64 `json:"per_defect_auroc,omitempty"`
	Seconds      float64            `json:"seconds"`
	MsPerImage   float64            `json:"ms_per_image"`
	PixelAUROCEB *float64           `json:"pixel_auroc_error_bound,omitempty"`
	Warning      string             `json:"warning,omitempty"`
}

// scored is one test image with its result and decision.
type scored struct {
	sample   dataset.Sample
	res      detector.Result
	decision bool
	pvalue   float64
}

func fptr(v float64) *float64 { return &v }

// evaluate scores the test split and computes every metric.
func evaluate(ctx context.Context, det detector.Detector, calib decision.Calibration, test []dataset.Sample, hasMasks, quiet bool) (evalResult, []scored, error) {
	if len(test) == 0 {
		return evalResult{}, nil, fmt.Errorf("no test images")
	}
	t0 := time.Now()
	res, err := scoreAll(ctx, det, imagesOf(test), quiet, "scoring")
	if err != nil {
		return evalResult{}, nil, err
	}
	sec := time.Since(t0).Seconds()
	out := evalResult{Method: det.Method(), Threshold: calib.Threshold, TargetFPR: calib.Alpha, Warning: calib.Warning,
		Seconds: sec, MsPerImage: 1000 * sec / float64(len(test))}
	scores := make([]float64, len(test))
	labels := make([]int, len(test))
	rows := make([]scored, len(test))
	for i, s := range test {
		scores[i], labels[i] = res[i].Score, s.Label
		if math.IsNaN(scores[i]) {
			return evalResult{}, nil, fmt.Errorf("%s scored NaN on %s", det.Method(), s.Name)
		}
		rows[i] = scored{sample: s, res: res[i], decision: calib.Decide(res[i].Score), pvalue: calib.PValue(res[i].Score)}
		if s.Label == 1 {
			out.NAnomalous++
		} else {
			out.NNormal++
		}
	}
	// Decisions at the stored threshold.
	var fp, tn, tp, fn int
	for _, r := range rows {
		switch {
		case r.sample.Label == 1 && r.decision:
			tp++
		case r.sample.Label == 1:
			fn++
		case r.decision:
			fp++
		default:
			tn++
		}
	}
	if fp+tn > 0 {
		out.TestFPR = fptr(float64(fp) / float64(fp+tn))
	}
	if tp+fn > 0 {
		out.TestTPR = fptr(float64(tp) / float64(tp+fn))
	}
	if tp+fp > 0 {
		out.Precision = fptr(float64(tp) / float64(tp+fp))
	}
	if out.NNormal > 0 && out.NAnomalous > 0 {
		rep, err := metrics.ImageMetrics(scores, labels)
		if err != nil {
			return evalResult{}, nil, err
		}
		out.ImageAUROC, out.ImageAP, out.ImageF1Max = fptr(rep.AUROC), fptr(rep.AP), fptr(rep.F1Max)
		out.PerDefect = perDefectAUROC(test, scores)
	}
	if hasMasks && out.NAnomalous > 0 {
		roc := metrics.NewPixelROC(metrics.DefaultBins)
		pro := metrics.NewPRO(metrics.DefaultBins)
		ok := true
		for i, s := range test {
			if res[i].Map == nil || s.Mask == nil {
				ok = false
				break
			}
			if err := roc.Add(res[i].Map, s.Mask); err != nil {
				return evalResult{}, nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			if err := pro.Add(res[i].Map, s.Mask); err != nil {
				return evalResult{}, nil, fmt.Errorf("%s: %w", s.Name, err)
			}
		}
		if ok {
			if v, err := roc.AUROC(); err == nil {
				out.PixelAUROC = fptr(v)
				out.PixelAUROCEB = fptr(roc.ErrorBound())
			}
			if v, err := pro.AUPRO(0.3); err == nil {
				out.AUPRO = fptr(v)
			}
		}
	}
	return out, rows, nil
}

// perDefectAUROC is each defect type against the normal test images.
func perDefectAUROC(test []dataset.Sample, scores []float64) map[string]float64 {
	kinds := map[string]bool{}
	for _, s := range test {
		if s.Label == 1 {
			kinds[s.Defect] = true
		}
	}
	if len(kinds) < 2 {
		return nil
	}
	out := map[string]float64{}
	for k := range kinds {
		var sc []float64
		var lb []int
		for i, s := range test {
			if s.Label == 0 || s.Defect == k {
				sc = append(sc, scores[i])
				lb = append(lb, s.Label)
			}
		}
		if v, err := metrics.AUROC(sc, lb); err == nil {
			out[k] = v
		}
	}
	return out
}

func cmdTest(args []string, stdout io.Writer) error {
	fs := newFlags("test", "test --model MODEL (--data DIR | --normal DIR --abnormal DIR | --idx DIR --normal-class K) [--json] [--report DIR]", stdout)
	var df dataFlags
	df.register(fs)
	model := fs.String("model", "", "model file written by 'vigil fit'")
	asJSON := fs.Bool("json", false, "print the metrics as one JSON object")
	reportDir := fs.String("report", "", "write an HTML report (index.html, metrics.json, PNGs) into this folder")
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("--model MODEL is required")
	}
	det, calib, err := loadModel(*model)
	if err != nil {
		return err
	}
	ds, err := df.load(testSplits)
	if err != nil {
		return err
	}
	res, rows, err := evaluate(context.Background(), det, calib, ds.Test, ds.HasMasks, *quiet)
	if err != nil {
		return err
	}
	if *reportDir != "" {
		if err := writeReport(*reportDir, fmt.Sprintf("Vigil %s on %s", det.Method(), ds.Name), res, rows, calib, *quiet); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	printResult(stdout, res)
	if *reportDir != "" {
		fmt.Fprintf(stdout, "report: %s\n", reportIndex(*reportDir))
	}
	return nil
}

// loadModel reads a model file and the calibration stored with it.
func loadModel(path string) (detector.Detector, decision.Calibration, error) {
	det, meta, err := detector.Load(path)
	if err != nil {
		return nil, decision.Calibration{}, err
	}
	calib, err := decodeCalibration(meta)
	if err != nil {
		return nil, decision.Calibration{}, fmt.Errorf("model %s: %w", path, err)
	}
	return det, calib, nil
}

func decodeCalibration(meta detector.Meta) (decision.Calibration, error) {
	var c decision.Calibration
	if len(meta.Calibration) == 0 {
		return c, fmt.Errorf("no calibration stored (fit with 'vigil fit')")
	}
	if err := json.Unmarshal(meta.Calibration, &c); err != nil {
		return c, fmt.Errorf("calibration: %v", err)
	}
	return c, nil
}

// printResult writes a human-readable table of the metrics.
func printResult(w io.Writer, r evalResult) {
	f := func(p *float64) string {
		if p == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.4f", *p)
	}
	fmt.Fprintf(w, "method          %s\n", r.Method)
	fmt.Fprintf(w, "images          %d normal, %d anomalous\n", r.NNormal, r.NAnomalous)
	fmt.Fprintf(w, "image AUROC     %s\n", f(r.ImageAUROC))
	fmt.Fprintf(w, "image AP        %s\n", f(r.ImageAP))
	fmt.Fprintf(w, "image F1-max    %s\n", f(r.ImageF1Max))
	fmt.Fprintf(w, "pixel AUROC     %s\n", f(r.PixelAUROC))
	fmt.Fprintf(w, "AUPRO@0.3       %s\n", f(r.AUPRO))
	fmt.Fprintf(w, "threshold       %.6g (target FPR %.3g)\n", r.Threshold, r.TargetFPR)
	fmt.Fprintf(w, "test FPR / TPR  %s / %s\n", f(r.TestFPR), f(r.TestTPR))
	if len(r.PerDefect) > 0 {
		keys := make([]string, 0, len(r.PerDefect))
		for k := range r.PerDefect {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  AUROC %-9s %.4f\n", k, r.PerDefect[k])
		}
	}
	fmt.Fprintf(w, "scoring         %.2fs (%.1f ms/image)\n", r.Seconds, r.MsPerImage)
	if r.Warning != "" {
		fmt.Fprintf(w, "warning: %s\n", r.Warning)
	}
}
