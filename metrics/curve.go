package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Curve is a sampled operating curve. For a ROC curve X is the FPR and Y the
// TPR; for a PR curve X is the recall and Y the precision; for a PRO curve X
// is the FPR and Y the per-region overlap. Thresholds[i] is the threshold
// that produces point i under the rule "anomalous iff score >= threshold".
// Points are ordered by decreasing threshold (X non-decreasing for ROC/PRO).
type Curve struct {
	X          []float64 `json:"x"`
	Y          []float64 `json:"y"`
	Thresholds []float64 `json:"thresholds"`
}

// Len returns the number of points.
func (c Curve) Len() int { return len(c.X) }

func (c *Curve) add(x, y, t float64) {
	c.X = append(c.X, x)
	c.Y = append(c.Y, y)
	c.Thresholds = append(c.Thresholds, t)
}

// Check reports why scores/labels are not a valid image-level evaluation
// input: lengths differ, a label is not 0 or 1, or a score is NaN or ±Inf.
// It does not require both classes to be present.
func Check(scores []float64, labels []int) error {
	if len(scores) != len(labels) {
		return fmt.Errorf("metrics: %d scores but %d labels", len(scores), len(labels))
	}
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("metrics: score %d is %v, want a finite number", i, s)
		}
		if l := labels[i]; l != 0 && l != 1 {
			return fmt.Errorf("metrics: label %d is %d, want 0 (normal) or 1 (anomalous)", i, l)
		}
	}
	return nil
}

// errOneClass is returned by measures that need both classes.
var errOneClass = errors.New("metrics: need at least one normal and one anomalous sample")

// step is one distinct threshold of a sorted evaluation: tp and fp count the
// anomalous and normal samples with score >= t.
type step struct {
	t      float64
	tp, fp int
}

type scored struct {
	s float64
	l int
}

// steps sorts the samples by decreasing score and returns one step per
// distinct score together with the class totals. Equal scores share a step,
// which is what makes every curve and area in this package tie-exact.
func steps(scores []float64, labels []int) (st []step, nPos, nNeg int) {
	xs := make([]scored, len(scores))
	for i, s := range scores {
		xs[i] = scored{s, labels[i]}
	}
	slices.SortFunc(xs, func(a, b scored) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return 0
	})
	tp, fp := 0, 0
	for i, x := range xs {
		if x.l == 1 {
			tp++
		} else {
			fp++
		}
		if i+1 == len(xs) || xs[i+1].s != x.s {
			st = append(st, step{x.s, tp, fp})
		}
	}
	return st, tp, fp
}

// ROC returns the ROC curve: a first point (0,0) whose threshold is just
// above the maximum score (nothing flagged), then one point per distinct
// score in decreasing order, ending at (1,1). A class that is absent makes
// its rate 0 throughout. Invalid input (see Check) yields an empty Curve.
func ROC(scores []float64, labels []int) Curve {
	var c Curve
	if Check(scores, labels) != nil || len(scores) == 0 {
		return c
	}
	st, nPos, nNeg := steps(scores, labels)
	c.add(0, 0, above(st[0].t))
	for _, p := range st {
		c.add(ratio(p.fp, nNeg), ratio(p.tp, nPos), p.t)
	}
	return c
}

// AUROC is the area under the tie-aware ROC curve by the trapezoid rule. It
// equals the Mann-Whitney statistic U/(n0·n1) where a tied (anomalous,
// normal) pair counts 1/2, i.e. P(score_anomalous > score_normal) +
// P(equal)/2. It fails when either class is empty or the input is invalid.
func AUROC(scores []float64, labels []int) (float64, error) {
	if err := Check(scores, labels); err != nil {
		return 0, err
	}
	st, nPos, nNeg := steps(scores, labels)
	if nPos == 0 || nNeg == 0 {
		return 0, errOneClass
	}
	// Twice the area in units of pairs: integer-valued, so the float64 sum
	// is exact until 2^53 pairs.
	area2, prevTP, prevFP := 0.0, 0, 0
	for _, p := range st {
		area2 += float64(p.fp-prevFP) * float64(p.tp+prevTP)
		prevTP, prevFP = p.tp, p.fp
	}
	return area2 / 2 / (float64(nPos) * float64(nNeg)), nil
}

// PR returns the precision-recall curve: a first point (recall 0,
// precision 1) whose threshold is just above the maximum score, then one
// point per distinct score in decreasing order (recall non-decreasing).
// Invalid input yields an empty Curve; with no anomalous samples the recall
// is 0 throughout.
func PR(scores []float64, labels []int) Curve {
	var c Curve
	if Check(scores, labels) != nil || len(scores) == 0 {
		return c
	}
	st, nPos, _ := steps(scores, labels)
	c.add(0, 1, above(st[0].t))
	for _, p := range st {
		c.add(ratio(p.tp, nPos), ratio(p.tp, p.tp+p.fp), p.t)
	}
	return c
}

// AveragePrecision is Σ_i (R_i − R_{i−1})·P_i over the distinct thresholds
// in decreasing order (R_0 = 0) — scikit-learn's average_precision_score,
// a step-wise integral without interpolation; tied scores form one step.
// It fails when either class is empty or the input is invalid.
func AveragePrecision(scores []float64, labels []int) (float64, error) {
	if err := Check(scores, labels); err != nil {
		return 0, err
	}
	st, nPos, nNeg := steps(scores, labels)
	if nPos == 0 || nNeg == 0 {
		return 0, errOneClass
	}
	ap, prevTP := 0.0, 0
	for _, p := range st {
		ap += float64(p.tp-prevTP) * float64(p.tp) / float64(p.tp+p.fp)
		prevTP = p.tp
	}
	return ap / float64(nPos), nil
}

// F1Max returns the best F1 over all distinct thresholds and the highest
// threshold achieving it. With no anomalous samples the F1 is 0 everywhere
// and the threshold is the maximum score; invalid or empty input returns
// (0, NaN).
func F1Max(scores []float64, labels []int) (f1, threshold float64) {
	if Check(scores, labels) != nil || len(scores) == 0 {
		return 0, math.NaN()
	}
	st, nPos, _ := steps(scores, labels)
	best, bestT := -1.0, math.NaN()
	for _, p := range st {
		f := ratio(2*p.tp, p.tp+p.fp+nPos)
		if f > best {
			best, bestT = f, p.t
		}
	}
	return best, bestT
}

// ClosestToCorner returns the threshold whose ROC point is nearest to the
// ideal corner (FPR 0, TPR 1), and that Euclidean distance. Ties keep the
// highest threshold. Invalid or empty input returns (NaN, NaN).
func ClosestToCorner(scores []float64, labels []int) (dist, threshold float64) {
	if Check(scores, labels) != nil || len(scores) == 0 {
		return math.NaN(), math.NaN()
	}
	st, nPos, nNeg := steps(scores, labels)
	dist, threshold = math.Inf(1), math.NaN()
	for _, p := range st {
		x, y := ratio(p.fp, nNeg), 1-ratio(p.tp, nPos)
		if d := math.Hypot(x, y); d < dist {
			dist, threshold = d, p.t
		}
	}
	return dist, threshold
}

// YoudenJ returns the maximum of Youden's J = TPR − FPR over the distinct
// thresholds and the highest threshold achieving it. Invalid or empty input
// returns (NaN, NaN).
func YoudenJ(scores []float64, labels []int) (j, threshold float64) {
	if Check(scores, labels) != nil || len(scores) == 0 {
		return math.NaN(), math.NaN()
	}
	st, nPos, nNeg := steps(scores, labels)
	j, threshold = math.Inf(-1), math.NaN()
	for _, p := range st {
		if v := ratio(p.tp, nPos) - ratio(p.fp, nNeg); v > j {
			j, threshold = v, p.t
		}
	}
	return j, threshold
}

// PerDefectAUROC returns, for each defect type among the anomalous samples
// (label 1, type defects[i]), the AUROC of that type's samples against all
// normal samples (label 0), so one easy defect type cannot hide a hard one.
// A type is missing when there are no normal samples. Invalid input
// (lengths differ, see Check) returns nil.
func PerDefectAUROC(scores []float64, labels []int, defects []string) map[string]float64 {
	if len(defects) != len(scores) || Check(scores, labels) != nil {
		return nil
	}
	out := map[string]float64{}
	for _, kind := range defects {
		if _, done := out[kind]; done {
			continue
		}
		var s []float64
		var l []int
		for i, d := range defects {
			if labels[i] == 0 || d == kind {
				s = append(s, scores[i])
				l = append(l, labels[i])
			}
		}
		if a, err := AUROC(s, l); err == nil {
			out[kind] = a
		}
	}
	return out
}
