package main

import (
	"encoding/json"
	"io"

	"github.com/vigil-ad/vigil/pipeline"
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
	var t *float64
	if setFlags(fs)["threshold"] {
		t = thr
	}
	rep, err := pipeline.EvalScores(*path, t)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
