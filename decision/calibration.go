package decision

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/imageio"
)

// Bootstrap settings used by Calibrate.
const (
	// CalibrationBootstrapB is the number of bootstrap resamples.
	CalibrationBootstrapB = 1000
	// CalibrationBootstrapConfidence is the bootstrap interval's coverage.
	CalibrationBootstrapConfidence = 0.9
)

// Calibration is everything a detector needs to turn scores into decisions,
// shaped for JSON. The decision rule is anomalous iff score >= Threshold
// (the conformal threshold at Alpha).
type Calibration struct {
	Method    string  `json:"method"`
	Alpha     float64 `json:"alpha"`
	Threshold float64 `json:"threshold"`
	// Rank is k: Threshold is just above the k-th smallest validation score.
	Rank int `json:"rank"`
	NVal int `json:"n_val"`
	// ValScores are the validation scores sorted ascending, kept for
	// p-values.
	ValScores  []float64 `json:"val_scores"`
	ThreeSigma float64   `json:"three_sigma"`
	// BootstrapLo and BootstrapHi bound the (1−alpha) quantile with
	// BootstrapConfidence (see Bootstrap).
	BootstrapLo         float64 `json:"bootstrap_lo"`
	BootstrapHi         float64 `json:"bootstrap_hi"`
	BootstrapConfidence float64 `json:"bootstrap_confidence"`
	// PixelThreshold is present when validation maps were given.
	PixelThreshold *float64 `json:"pixel_threshold,omitempty"`
	// MapLow is the MapLowQuantile (1st percentile) of the validation map
	// values, the low end of the heatmap colour scale (see MapRange);
	// absent in models calibrated before it existed.
	MapLow  *float64 `json:"map_low,omitempty"`
	Warning string   `json:"warning,omitempty"`
}

// Calibrate computes the conformal threshold at alpha, the 3-sigma
// threshold, a bootstrap interval (CalibrationBootstrapB resamples seeded
// with seed) and, when valMaps is non-empty, the pixel threshold and
// MapLow. It is Calibrator fed the scores and maps in order (the maps need
// not pair with the scores); it fails on empty or non-finite scores, on
// alpha outside (0, 1) and on bad maps.
func Calibrate(valScores []float64, valMaps []*imageio.Map, alpha float64, seed uint64) (Calibration, error) {
	c := NewCalibrator(alpha, seed)
	for _, s := range valScores {
		if err := c.Add(s, nil); err != nil {
			return Calibration{}, err
		}
	}
	for _, m := range valMaps {
		if err := c.AddMap(m); err != nil {
			return Calibration{}, err
		}
	}
	return c.Finish()
}

// MapRange returns the heatmap colour range fixed by this calibration:
// [MapLow, 2·PixelThreshold − MapLow], which puts the pixel threshold at
// mid-scale and depends on nothing but the model, so heatmaps of different
// images and runs compare. Models calibrated before MapLow existed fall
// back to a low end of 0 when PixelThreshold > 0 (anomaly maps are
// distances). ok is false without a pixel threshold or when the range is
// empty; callers then scale as they did without a calibration.
func (c Calibration) MapRange() (lo, hi float64, ok bool) {
	if c.PixelThreshold == nil {
		return 0, 0, false
	}
	t := *c.PixelThreshold
	switch {
	case c.MapLow != nil:
		lo = *c.MapLow
	case t > 0:
		lo = 0
	default:
		return 0, 0, false
	}
	hi = 2*t - lo
	if !(hi > lo) || math.IsInf(hi, 0) {
		return 0, 0, false
	}
	return lo, hi, true
}

// Decide reports whether score is anomalous: score >= Threshold.
func (c Calibration) Decide(score float64) bool { return score >= c.Threshold }

// PValue returns the conformal p-value of score against the stored
// validation scores (see PValue).
func (c Calibration) PValue(score float64) float64 { return PValue(c.ValScores, score) }

// Rules lists the image-threshold rules UseRule accepts.
var Rules = []string{"conformal", "three_sigma", "bootstrap"}

// UseRule makes the stored decision threshold follow rule: "conformal"
// (the default: the conformal quantile at Alpha, the only rule with a
// finite-sample false-positive guarantee), "three_sigma" (mean + 3 standard
// deviations of the validation scores) or "bootstrap" (the upper end of
// the bootstrap confidence interval of the (1−Alpha) quantile, a
// conservative choice). The other thresholds stay recorded.
func (c *Calibration) UseRule(rule string) error {
	switch rule {
	case "conformal":
		t, err := ConformalThreshold(c.ValScores, c.Alpha)
		if err != nil {
			return err
		}
		c.Threshold, c.Method = t.Value, t.Method
	case "three_sigma":
		c.Threshold, c.Method = c.ThreeSigma, "three_sigma"
	case "bootstrap":
		if math.IsNaN(c.BootstrapHi) {
			return fmt.Errorf("no bootstrap interval to use")
		}
		c.Threshold, c.Method = c.BootstrapHi, "bootstrap"
	default:
		return fmt.Errorf("unknown threshold rule %q (known: %v)", rule, Rules)
	}
	return nil
}
