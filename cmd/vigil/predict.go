package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/report"
)

func cmdPredict(args []string, stdout io.Writer) error {
	fs := newFlags("predict", "predict --model MODEL --out DIR IMAGE_OR_FOLDER...", stdout)
	model := fs.String("model", "", "model file written by 'vigil fit'")
	out := fs.String("out", "", "folder for the overlays, predicted masks and results.json")
	backboneDir := fs.String("backbone-dir", "", "folder searched first for the model's backbone")
	maxPixels := fs.Int("max-pixels", 50_000_000, "refuse images with more pixels than this (checked before decoding)")
	asJSON := fs.Bool("json", false, "print the results as JSON lines")
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *model == "" || *out == "" {
		return usagef("--model MODEL and --out DIR are required")
	}
	if *maxPixels <= 0 {
		return usagef("--max-pixels must be positive, got %d", *maxPixels)
	}
	if err := pipeline.CheckOutDir("out", *out); err != nil {
		return err
	}
	if _, err := pipeline.ExpandPaths(fs.Args()); err != nil {
		return err
	}
	m, err := pipeline.LoadModel(*model, absDir(*backboneDir))
	if err != nil {
		return err
	}
	po, err := report.NewPredictOutput(*out, m)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	res, err := pipeline.Predict(context.Background(), pipeline.PredictOptions{
		Loaded: m, Paths: fs.Args(), MaxPixels: *maxPixels, Progress: newProgress(*quiet),
		OnImage: func(r *pipeline.ImageResult) error {
			if err := po.OnImage(r); err != nil {
				return err
			}
			if *asJSON {
				return enc.Encode(map[string]any{"path": r.Name, "score": jsonNum(r.Score), "p_value": jsonNum(r.PValue), "decision": r.Verdict(), "error": errText(r.Err)})
			}
			if r.Err != nil {
				fmt.Fprintf(stdout, "%-40s ERROR %v\n", r.Name, r.Err)
				return nil
			}
			fmt.Fprintf(stdout, "%-40s score %-12.6g p %-8.4f %s\n", r.Name, r.Score, r.PValue, r.Verdict())
			return nil
		},
	})
	if err != nil {
		po.Abort()
		return err
	}
	if err := po.Finish(res); err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "%d images: %d anomalous, %d normal, %d failed; overlays, masks and results.json in %s\n",
			res.N, res.NAnomalous, res.N-res.NAnomalous-res.NErrors, res.NErrors, *out)
	}
	if res.NErrors > 0 {
		return failedImages{res.NErrors}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// jsonNum is nil for a value JSON cannot hold.
func jsonNum(v float64) any {
	if v != v || v > 1e308 || v < -1e308 {
		return nil
	}
	return v
}
