package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/metrics"
	"github.com/vigil-ad/vigil/postprocess"
	"github.com/vigil-ad/vigil/report"
)

// metricOrder is the order of the report's metrics table.
var metricOrder = []string{"method", "image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "aupro",
	"threshold", "target_fpr", "test_fpr", "test_tpr", "test_precision", "n_normal", "n_anomalous", "seconds", "ms_per_image"}

// predMask turns an anomaly map into a cleaned binary mask at the pixel
// threshold: binarised, opened and closed, small components removed.
func predMask(m *imageio.Map, calib decision.Calibration) *imageio.Map {
	if m == nil || calib.PixelThreshold == nil {
		return nil
	}
	area := max(4, m.H*m.W/2000)
	return postprocess.Clean(m, *calib.PixelThreshold, postprocess.CleanOptions{OpenRadius: 1, CloseRadius: 1, MinArea: area})
}

// writeReport writes the HTML report of an evaluation into dir.
func writeReport(dir, title string, res evalResult, rows []scored, calib decision.Calibration, quiet bool) error {
	t0 := time.Now()
	var mt map[string]any
	b, _ := json.Marshal(res)
	if err := json.Unmarshal(b, &mt); err != nil {
		return err
	}
	// Counts read back from JSON as float64: show them as integers; one
	// table row per defect type instead of a nested object.
	for _, k := range []string{"n_normal", "n_anomalous"} {
		if v, ok := mt[k].(float64); ok {
			mt[k] = int(v)
		}
	}
	delete(mt, "per_defect_auroc")
	for k, v := range res.PerDefect {
		mt["image_auroc_"+k] = v
	}
	r := report.Report{Title: title, Metrics: mt, MetricOrder: metricOrder, Threshold: calib.Threshold}
	scores := make([]float64, len(rows))
	labels := make([]int, len(rows))
	for i, s := range rows {
		scores[i], labels[i] = s.res.Score, s.sample.Label
		if s.sample.Label == 1 {
			r.AnomalousScores = append(r.AnomalousScores, s.res.Score)
		} else {
			r.NormalScores = append(r.NormalScores, s.res.Score)
		}
	}
	if res.NNormal > 0 && res.NAnomalous > 0 {
		roc, pr := metrics.ROC(scores, labels), metrics.PR(scores, labels)
		r.ROC = report.Curve{X: roc.X, Y: roc.Y}
		r.PR = report.Curve{X: pr.X, Y: pr.Y}
	}
	// One colour scale for every heatmap: from the lowest map value to
	// twice the pixel threshold, so the threshold sits mid-scale.
	if calib.PixelThreshold != nil {
		lo := math.Inf(1)
		for _, s := range rows {
			if s.res.Map != nil {
				for _, v := range s.res.Map.Pix {
					lo = math.Min(lo, float64(v))
				}
			}
		}
		if hi := 2**calib.PixelThreshold - lo; hi > lo {
			r.MapRange = [2]float64{lo, hi}
		}
	}
	p := newProgress(quiet, "report", len(rows))
	for _, s := range rows {
		r.Rows = append(r.Rows, report.Row{
			Name: s.sample.Name, Image: s.sample.Image, Mask: s.sample.Mask, Map: s.res.Map,
			PredMask: predMask(s.res.Map, calib), Score: s.res.Score, Label: s.sample.Label,
			Decision: s.decision, PValue: s.pvalue,
		})
		p.Add(1)
	}
	p.Done()
	if err := report.Write(dir, r); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if !quiet && time.Since(t0) > progressDelay {
		fmt.Fprintf(os.Stderr, "report written in %.1fs\n", time.Since(t0).Seconds())
	}
	return nil
}

func reportIndex(dir string) string {
	if abs, err := filepath.Abs(filepath.Join(dir, "index.html")); err == nil {
		return abs
	}
	return filepath.Join(dir, "index.html")
}
