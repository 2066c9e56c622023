// Package metrics scores anomaly detectors: image-level confusion counts,
// ROC/PR curves and their areas (tie-exact), threshold selection rules, and
// bounded-memory pixel-level AUROC and AUPRO accumulators that follow the
// MVTec AD evaluation protocol.
//
// Conventions used everywhere in this package:
//   - label 0 is normal, label 1 is anomalous (positive);
//   - a sample is predicted anomalous iff score >= threshold;
//   - tied scores always move together: a curve has one point per distinct
//     score, never one point per sample.
package metrics

import "math"

// Counts is a binary confusion matrix with "anomalous" as the positive class.
type Counts struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

// Confusion counts predictions "anomalous iff score >= threshold" against
// labels (1 anomalous, any other value normal). Pairs past the end of the
// shorter slice are ignored; use Check to reject malformed input first.
func Confusion(scores []float64, labels []int, threshold float64) Counts {
	var c Counts
	n := min(len(scores), len(labels))
	for i := 0; i < n; i++ {
		pred := scores[i] >= threshold
		switch {
		case labels[i] == 1 && pred:
			c.TP++
		case labels[i] == 1:
			c.FN++
		case pred:
			c.FP++
		default:
			c.TN++
		}
	}
	return c
}

// ratio returns a/b, defining 0/0 (an empty denominator) as 0 — the same
// choice as scikit-learn's zero_division=0, so an undefined rate never
// turns into NaN inside a JSON report.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Positives returns TP+FN, the number of anomalous samples.
func (c Counts) Positives() int { return c.TP + c.FN }

// Negatives returns FP+TN, the number of normal samples.
func (c Counts) Negatives() int { return c.FP + c.TN }

// TPR is TP/(TP+FN) (sensitivity, recall); 0 when there are no anomalous samples.
func (c Counts) TPR() float64 { return ratio(c.TP, c.TP+c.FN) }

// FPR is FP/(FP+TN); 0 when there are no normal samples.
func (c Counts) FPR() float64 { return ratio(c.FP, c.FP+c.TN) }

// FNR is FN/(TP+FN) (miss rate); 0 when there are no anomalous samples.
func (c Counts) FNR() float64 { return ratio(c.FN, c.TP+c.FN) }

// TNR is TN/(FP+TN) (specificity); 0 when there are no normal samples.
func (c Counts) TNR() float64 { return ratio(c.TN, c.FP+c.TN) }

// Precision is TP/(TP+FP); 0 when nothing is predicted anomalous.
func (c Counts) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is the same as TPR.
func (c Counts) Recall() float64 { return c.TPR() }

// Accuracy is (TP+TN)/total; 0 for an empty matrix.
func (c Counts) Accuracy() float64 { return ratio(c.TP+c.TN, c.TP+c.FP+c.TN+c.FN) }

// F1 is 2TP/(2TP+FP+FN), the harmonic mean of precision and recall; 0 when
// the denominator is 0 (no anomalous samples and none predicted).
func (c Counts) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// above returns the smallest float64 strictly greater than v: a threshold at
// which "score >= threshold" flags exactly the scores > v. Curves use it for
// their "nothing flagged" starting point so that every threshold stays finite
// (JSON cannot carry +Inf).
func above(v float64) float64 { return math.Nextafter(v, math.Inf(1)) }
