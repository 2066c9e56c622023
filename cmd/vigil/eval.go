package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/vigil-ad/vigil/metrics"
)

func cmdEval(args []string, stdout io.Writer) error {
	fs := newFlags("eval", "eval --scores FILE.csv [--threshold T]", stdout)
	path := fs.String("scores", "", "CSV file with rows score,label[,name] (label 1 = anomalous; a header row is allowed)")
	thr := fs.Float64("threshold", 0, "also report the confusion matrix at this threshold (anomalous iff score >= T)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("--scores FILE.csv is required")
	}
	f, err := os.Open(*path)
	if err != nil {
		return err
	}
	defer f.Close()
	scores, labels, _, err := metrics.ReadScoresCSV(f, *path)
	if err != nil {
		return err
	}
	rep, err := metrics.ImageMetrics(scores, labels)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	if setFlags(fs)["threshold"] {
		rep = rep.WithConfusion(scores, labels, *thr)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
