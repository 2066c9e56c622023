package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/pipeline"
)

func cmdFit(args []string, stdout io.Writer) error {
	fs := newFlags("fit", "fit [--method METHOD] (--data DIR | --normal DIR [--abnormal DIR] | --idx DIR --normal-class K | --manifest FILE) --out MODEL", stdout)
	var df dataFlags
	var mf methodFlags
	df.register(fs, true)
	mf.register(fs)
	out := fs.String("out", "", "where to write the model (one .safetensors file)")
	alpha := fs.Float64("alpha", 0.01, "target false-positive rate for the decision threshold, in (0,1)")
	rule := fs.String("rule", pipeline.DefaultRule, "image threshold rule: "+joinNames(pipeline.Rules)+" (conformal: quantile with an FPR guarantee; three_sigma; bootstrap: upper confidence bound of the quantile)")
	calib := fs.String("calibration", "split", "split (score the held-out validation normals) or cv:K (cross-conformal: K folds over all training normals, for few-shot sets)")
	tile := fs.Int("tile", 0, "score large images as overlapping SIZE x SIZE tiles (fitted on tiles of the normal images; stored in the model); 0: whole images")
	overlap := fs.Int("overlap", 32, "with --tile: pixels shared by neighbouring tiles, blended")
	ckpt := fs.String("checkpoint-dir", "", "where methods that train a network keep a checkpoint per epoch (default: MODEL.ckpt, removed after success; a folder named here is kept)")
	resume := fs.Bool("resume", false, "continue an interrupted training from its checkpoints, bit-exactly; a checkpoint written with other data, config or method settings is refused naming the difference; finished stages are not retrained")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	if err := parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) && mf.method != "" {
			fmt.Fprintf(stdout, "\nParameters of %s (--config keys):\n", mf.method)
			detector.WriteParams(stdout, mf.method)
		}
		return err
	}
	set := setFlags(fs)
	if err := df.finish(set); err != nil {
		return err
	}
	var tiling *pipeline.Tiling
	if *tile != 0 {
		tiling = &pipeline.Tiling{Tile: *tile, Overlap: *overlap}
	} else if set["overlap"] {
		return usagef("--overlap needs --tile")
	}
	var note string
	if mf.method == "" {
		mf.method, note = pipeline.ChooseMethod(absDir(mf.backboneDir))
	}
	cfg, err := mf.configJSON(set, df.seed)
	if err != nil {
		return err
	}
	res, err := pipeline.Fit(context.Background(), pipeline.FitOptions{
		Method: mf.method, Config: cfg, Data: df.src, DataOptions: df.options(),
		Alpha: *alpha, Rule: *rule, Calibration: *calib, Tiling: tiling, Out: *out, Progress: newProgress(*quiet),
		CheckpointDir: absDir(*ckpt), Resume: *resume,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			*pipeline.FitResult
			Note string `json:"note,omitempty"`
		}{res, note})
	}
	if note != "" {
		fmt.Fprintln(stdout, note)
	}
	method := res.Method
	if res.Backbone != "" {
		method += " (backbone " + res.Backbone + ")"
	}
	fmt.Fprintf(stdout, "fitted %s on %d normal images (decoding %.2fs, fitting %.2fs)\n", method, res.NTrain, res.DecodeSeconds, res.FitSeconds)
	for _, st := range res.Training {
		val := ""
		if st.ValLoss != nil {
			val = fmt.Sprintf(", validation loss %.5g", *st.ValLoss)
		}
		fmt.Fprintf(stdout, "  trained %s: %d epochs in %.1fs (%.2fs per epoch), loss %.5g%s\n", st.Stage, st.Epochs, st.Seconds, st.SecondsPerEpoch, st.Loss, val)
	}
	fmt.Fprintf(stdout, "%s threshold %.6g for target FPR %.3g, calibrated on %d scores (%s) in %.2fs; smallest reachable FPR with them %.3g\n",
		res.Rule, res.Threshold, res.Alpha, res.NCalib, res.Calibration, res.CalibSeconds, res.MinAlpha)
	for _, w := range res.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "model written to %s\n", res.Model)
	return nil
}
