package decision

import (
	"fmt"
	"math"
	"slices"

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
	Warning        string   `json:"warning,omitempty"`
}

// Calibrate computes the conformal threshold at alpha, the 3-sigma
// threshold, a bootstrap interval (CalibrationBootstrapB resamples seeded
// with seed) and, when valMaps is non-empty, the pixel threshold. It fails
// on empty or non-finite scores, on alpha outside (0, 1) and on bad maps.
func Calibrate(valScores []float64, valMaps []*imageio.Map, alpha float64, seed uint64) (Calibration, error) {
	t, err := ConformalThreshold(valScores, alpha)
	if err != nil {
		return Calibration{}, err
	}
	c := Calibration{
		Method: t.Method, Alpha: alpha, Threshold: t.Value, Rank: t.Rank, NVal: t.N,
		ValScores: slices.Sorted(slices.Values(valScores)), Warning: t.Warning,
		ThreeSigma: ThreeSigma(valScores).Value, BootstrapConfidence: CalibrationBootstrapConfidence,
	}
	_, c.BootstrapLo, c.BootstrapHi = Bootstrap(valScores, alpha, CalibrationBootstrapB, CalibrationBootstrapConfidence, seed)
	if len(valMaps) > 0 {
		p, err := PixelThreshold(valMaps, alpha)
		if err != nil {
			return Calibration{}, err
		}
		c.PixelThreshold = &p
	}
	return c, nil
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
