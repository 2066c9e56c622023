package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/report"
)

func cmdTest(args []string, stdout io.Writer) error {
	fs := newFlags("test", "test --model MODEL (--data DIR | --normal DIR --abnormal DIR | --idx DIR | --manifest FILE) [--json] [--report DIR]", stdout)
	var df dataFlags
	df.register(fs, false)
	model := fs.String("model", "", "model file written by 'vigil fit'")
	backboneDir := fs.String("backbone-dir", "", "folder searched first for the model's backbone")
	asJSON := fs.Bool("json", false, "print the metrics as one JSON object")
	reportDir := fs.String("report", "", "write an HTML report (index.html, metrics.json, PNGs) into this folder")
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := df.finish(setFlags(fs)); err != nil {
		return err
	}
	if *model == "" {
		return usagef("--model MODEL is required")
	}
	if *reportDir != "" {
		if err := pipeline.CheckOutDir("report", *reportDir); err != nil {
			return err
		}
	}
	m, err := pipeline.LoadModel(*model, absDir(*backboneDir))
	if err != nil {
		return err
	}
	opts := pipeline.EvalOptions{Loaded: m, Data: df.src, MaxPixels: df.maxPixels, Progress: newProgress(*quiet)}
	var rep *report.EvalReport
	if *reportDir != "" {
		if rep, err = report.NewEvalReport(*reportDir, fmt.Sprintf("Vigil %s on %s", m.Detector.Method(), dataName(df)), m); err != nil {
			return err
		}
		opts.OnImage = rep.OnImage
	}
	res, err := pipeline.Evaluate(context.Background(), opts)
	if err != nil {
		if rep != nil {
			rep.Abort()
		}
		return err
	}
	// The metrics are out before the report is written: a report that
	// cannot be written loses nothing.
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	} else {
		printResult(stdout, res)
	}
	if rep != nil {
		if err := rep.Finish(res); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "report: %s\n", rep.Index())
		}
	}
	if res.NErrors > 0 {
		return failedImages{res.NErrors}
	}
	return nil
}

func dataName(df dataFlags) string {
	for _, s := range []string{df.src.Dir, df.src.Normal, df.src.IDX, df.src.Manifest} {
		if s != "" {
			return s
		}
	}
	return "?"
}

func fmtp(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", *p)
}

// printResult writes a human-readable table of the metrics.
func printResult(w io.Writer, r *pipeline.EvalResult) {
	bound := func(p *float64) string {
		if p == nil {
			return ""
		}
		return fmt.Sprintf(" (± %.1g)", *p)
	}
	fmt.Fprintf(w, "method          %s\n", r.Method)
	fmt.Fprintf(w, "images          %d normal, %d anomalous", r.NNormal, r.NAnomalous)
	if r.NErrors > 0 {
		fmt.Fprintf(w, ", %d FAILED", r.NErrors)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "image AUROC     %s\n", fmtp(r.ImageAUROC))
	fmt.Fprintf(w, "image AP        %s\n", fmtp(r.ImageAP))
	fmt.Fprintf(w, "image F1-max    %s\n", fmtp(r.ImageF1Max))
	fmt.Fprintf(w, "pixel AUROC     %s%s\n", fmtp(r.PixelAUROC), bound(r.PixelAUROCBound))
	fmt.Fprintf(w, "AUPRO@0.3       %s%s\n", fmtp(r.AUPRO), bound(r.AUPROBound))
	if r.AUsPRO != nil {
		fmt.Fprintf(w, "AUsPRO@0.05     %s\n", fmtp(r.AUsPRO))
	}
	if r.PixelNote != "" {
		fmt.Fprintf(w, "  pixel metrics n/a: %s\n", r.PixelNote)
	}
	fmt.Fprintf(w, "threshold       %.6g (%s, target FPR %.3g)\n", r.Threshold, r.Rule, r.TargetFPR)
	fmt.Fprintf(w, "test FPR / TPR  %s / %s\n", fmtp(r.TestFPR), fmtp(r.TestTPR))
	if len(r.PerDefect) > 0 {
		keys := make([]string, 0, len(r.PerDefect))
		for k := range r.PerDefect {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			d := r.PerDefect[k]
			fmt.Fprintf(w, "  %-16s AUROC %s, detected %d/%d\n", k, fmtp(d.AUROC), int(d.Detected*float64(d.N)+0.5), d.N)
		}
	}
	fmt.Fprintf(w, "scoring         %.2fs (%.1f ms/image)\n", r.Seconds, r.MsPerImage)
	for _, f := range r.Failures() {
		fmt.Fprintf(w, "FAILED %s: %s\n", f.Name, f.Error)
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}
