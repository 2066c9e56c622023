package pipeline

import (
	"fmt"
	"os"

	"github.com/vigil-ad/vigil/metrics"
)

// EvalScores computes the image-level metrics of a CSV file of scores and
// labels (rows score,label[,name]; label 1 = anomalous), for scores made
// by any tool. threshold, when not nil, adds the confusion matrix at it.
func EvalScores(path string, threshold *float64) (metrics.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return metrics.Report{}, optErr("scores", "%v", unwrapPath(err))
	}
	defer f.Close()
	scores, labels, _, err := metrics.ReadScoresCSV(f, path)
	if err != nil {
		return metrics.Report{}, err
	}
	rep, err := metrics.ImageMetrics(scores, labels)
	if err != nil {
		return metrics.Report{}, fmt.Errorf("%s: %w", path, err)
	}
	if threshold != nil {
		rep = rep.WithConfusion(scores, labels, *threshold)
	}
	return rep, nil
}
