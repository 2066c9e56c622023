// Package decision turns anomaly scores of held-out normal samples into
// decision thresholds with a stated false-positive guarantee: split
// conformal thresholds and p-values, a 3-sigma rule, bootstrap confidence
// intervals for the threshold, pixel thresholds (exact two-pass, or
// streamed in bounded memory by Calibrator) and the heatmap colour range a
// calibration fixes.
//
// The decision rule everywhere is: a sample is anomalous iff
// score >= threshold (the same rule as package metrics and postprocess).
// Conformal thresholds are therefore stored as the smallest float64 strictly
// above the chosen order statistic, which makes ">= threshold" identical to
// "> order statistic" — the form under which the conformal guarantee holds
// even when scores tie.
package decision

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// MinValidation is the validation-set size below which every threshold
// carries a warning: with fewer normal scores the threshold rests on one or
// two extreme values and its realised FPR varies wildly between splits.
const MinValidation = 20

// Threshold is a calibrated decision threshold: anomalous iff
// score >= Value.
type Threshold struct {
	Method string  `json:"method"`
	Value  float64 `json:"value"`
	// Alpha is the target false-positive rate (conformal only).
	Alpha float64 `json:"alpha,omitempty"`
	// OrderStat is the k-th smallest validation score (conformal only);
	// Value is the next float64 above it.
	OrderStat float64 `json:"order_stat,omitempty"`
	// Rank is k, 1-based (conformal only).
	Rank int `json:"rank,omitempty"`
	// N is the number of validation scores used.
	N int `json:"n"`
	// Warning explains why the threshold may not meet its target.
	Warning string `json:"warning,omitempty"`
}

// Decide reports whether score is anomalous under this threshold.
func (t Threshold) Decide(score float64) bool { return score >= t.Value }

// above returns the smallest float64 strictly greater than v.
func above(v float64) float64 { return math.Nextafter(v, math.Inf(1)) }

func checkScores(s []float64) error {
	if len(s) == 0 {
		return errors.New("decision: no validation scores")
	}
	for i, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("decision: validation score %d is %v, want a finite number", i, v)
		}
	}
	return nil
}

func checkAlpha(alpha float64) error {
	if !(alpha > 0 && alpha < 1) {
		return fmt.Errorf("decision: alpha %v is not in (0, 1)", alpha)
	}
	return nil
}

// exceedances returns floor((n+1)·alpha), the number of the n+1 exchangeable
// scores that may lie strictly above the threshold. A relative slack of
// 1e-9 keeps products that are integers in exact arithmetic (100·0.05)
// from rounding down.
func exceedances(n int, alpha float64) int {
	m := float64(n+1) * alpha
	return int(math.Floor(m + 1e-9*m))
}

// conformalRank returns k = ceil((n+1)(1−alpha)) = n+1 − floor((n+1)·alpha),
// which may exceed n.
func conformalRank(n int, alpha float64) int { return n + 1 - exceedances(n, alpha) }

// MinAlpha returns the smallest target false-positive rate a conformal
// threshold can guarantee with n validation scores: 1/(n+1). Below it the
// threshold can only be the largest validation score.
func MinAlpha(n int) float64 { return 1 / float64(n+1) }

// FewShotWarning explains, when alpha < MinAlpha(n), that n validation
// scores cannot reach alpha and what to do about it; it is "" otherwise.
func FewShotWarning(n int, alpha float64) string {
	if conformalRank(n, alpha) <= n {
		return ""
	}
	return fmt.Sprintf("n=%d validation scores cannot guarantee FPR <= alpha=%g; need at least %d. "+
		"With %d validation images the smallest reachable alpha is %.2g, so the threshold is the largest validation score; "+
		"use --calibration cv:5 to calibrate on all training normals, or add normal images",
		n, alpha, MinScores(alpha), n, MinAlpha(n))
}

// MinScores returns the smallest validation-set size for which the
// conformal threshold at alpha exists (k <= n), i.e. (n+1)·alpha >= 1.
func MinScores(alpha float64) int {
	n := max(0, int(math.Ceil(1/alpha))-2)
	for conformalRank(n, alpha) > n {
		n++
	}
	return n
}

// ConformalThreshold returns the split-conformal threshold for target
// false-positive rate alpha from validation scores of normal samples.
//
// With the scores sorted ascending and k = ceil((n+1)(1−alpha)), the
// threshold flags exactly the scores strictly above the k-th smallest,
// V_(k). If a new normal score is exchangeable with the validation scores,
// P(new > V_(k)) <= (n+1−k)/(n+1) <= alpha, with equality in the first step
// when there are no ties; averaged over validation draws, the false-positive
// rate is at most alpha.
//
// When k > n (n < MinScores(alpha)) no finite threshold has the guarantee:
// the returned threshold flags only scores above the validation maximum
// (its expected FPR is 1/(n+1) > alpha) and Warning says so and what to do
// (FewShotWarning). A smaller
// warning marks n < MinValidation. It fails on empty or non-finite scores
// and on alpha outside (0, 1).
func ConformalThreshold(valScores []float64, alpha float64) (Threshold, error) {
	if err := checkScores(valScores); err != nil {
		return Threshold{}, err
	}
	if err := checkAlpha(alpha); err != nil {
		return Threshold{}, err
	}
	s := slices.Clone(valScores)
	slices.Sort(s)
	n := len(s)
	t := Threshold{Method: "conformal", Alpha: alpha, N: n, Rank: conformalRank(n, alpha)}
	if t.Rank > n {
		t.Warning = FewShotWarning(n, alpha)
		t.Rank = n
	} else if n < MinValidation {
		t.Warning = fmt.Sprintf("only n=%d validation scores (fewer than %d): the threshold is highly variable",
			n, MinValidation)
	}
	t.OrderStat = s[t.Rank-1]
	t.Value = above(t.OrderStat)
	return t, nil
}

// ThreeSigma returns the classic threshold mean + 3·std of the validation
// scores (sample standard deviation, n−1 denominator). It has no
// distribution-free guarantee. With one score the std is taken as 0 and
// with none the threshold is 0; both carry a Warning.
func ThreeSigma(valScores []float64) Threshold {
	n := len(valScores)
	t := Threshold{Method: "three_sigma", N: n}
	if n == 0 {
		t.Warning = "no validation scores"
		return t
	}
	mean := 0.0
	for _, v := range valScores {
		mean += v
	}
	mean /= float64(n)
	ss := 0.0
	for _, v := range valScores {
		ss += (v - mean) * (v - mean)
	}
	sd := 0.0
	if n > 1 {
		sd = math.Sqrt(ss / float64(n-1))
	} else {
		t.Warning = "one validation score: standard deviation taken as 0"
	}
	t.Value = mean + 3*sd
	return t
}

// PValue returns the conformal p-value of score s against validation scores
// sorted ascending: (1 + #{v >= s}) / (n+1). Under exchangeability a normal
// score's p-value satisfies P(p <= alpha) <= alpha, and "p <= alpha" is
// exactly the decision of ConformalThreshold(sorted, alpha) whenever k <= n.
func PValue(sorted []float64, s float64) float64 {
	ge := len(sorted) - sort.SearchFloat64s(sorted, s)
	return float64(1+ge) / float64(len(sorted)+1)
}

// MaxFolds is the largest K ParseCalibration accepts for "cv:K".
const MaxFolds = 20

// ParseCalibration parses a --calibration value: "split" (calibrate on a
// held-out split of the training normals; folds 0) or "cv:K" with
// 2 <= K <= MaxFolds (cross-conformal: K folds, every training normal
// scored out of fold). Errors quote the value.
func ParseCalibration(s string) (kind string, folds int, err error) {
	if s == "split" {
		return "split", 0, nil
	}
	rest, ok := strings.CutPrefix(s, "cv:")
	if !ok {
		return "", 0, fmt.Errorf("decision: --calibration %q: want \"split\" or \"cv:K\" (2 <= K <= %d)", s, MaxFolds)
	}
	k, err := strconv.Atoi(rest)
	if err != nil || k < 2 || k > MaxFolds {
		return "", 0, fmt.Errorf("decision: --calibration %q: K must be an integer from 2 to %d", s, MaxFolds)
	}
	return "cv", k, nil
}
