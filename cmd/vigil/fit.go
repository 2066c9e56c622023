package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/progress"
)

// methodFlags are the hyper-parameters common to several methods; each is
// passed into the method's JSON configuration only when given, so a method
// that lacks it refuses it by name.
type methodFlags struct {
	method, config, backbone, backboneDir, layers string
	size, crop                                    int
}

func (m *methodFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}) {
	m.method = "pcarecon"
	fs.StringVar(&m.method, "method", "pcarecon", "detector method: "+joinNames(detector.Methods()))
	fs.StringVar(&m.config, "config", "", "method configuration as a JSON object, e.g. '{\"patch\":8,\"components\":16}'")
	fs.StringVar(&m.backbone, "backbone", "", "feature backbone: mobilenet_v2, mobilenet_v1, or a .tflite/.onnx file")
	fs.StringVar(&m.backboneDir, "backbone-dir", "", "folder holding backbone files (else $VIGIL_BACKBONE_DIR, then $VIGIL_HOME/backbones)")
	fs.StringVar(&m.layers, "layers", "", "comma-separated layer names to tap (ONNX backbones)")
	fs.IntVar(&m.size, "size", 0, "resize images to SIZE x SIZE before the method (0: method default)")
	fs.IntVar(&m.crop, "crop", 0, "center-crop to CROP x CROP after resizing (0: no crop)")
}

// configJSON merges --config with the explicitly given common flags.
func (m *methodFlags) configJSON(set map[string]bool, seed uint64) (json.RawMessage, error) {
	cfg := map[string]any{}
	if m.config != "" {
		if err := json.Unmarshal([]byte(m.config), &cfg); err != nil {
			return nil, usagef("--config is not a JSON object: %v", err)
		}
	}
	if set["size"] {
		cfg["size"] = m.size
	}
	if set["crop"] {
		cfg["crop"] = m.crop
	}
	if set["backbone"] {
		cfg["backbone"] = m.backbone
	}
	if set["backbone-dir"] {
		cfg["backbone_dir"] = m.backboneDir
	}
	if set["layers"] {
		cfg["layers"] = strings.Split(m.layers, ",")
	}
	if _, ok := cfg["seed"]; !ok {
		cfg["seed"] = seed
	}
	return json.Marshal(cfg)
}

type fitSummary struct {
	Model       string   `json:"model"`
	Method      string   `json:"method"`
	NTrain      int      `json:"n_train"`
	NVal        int      `json:"n_val"`
	TargetFPR   float64  `json:"target_fpr"`
	Threshold   float64  `json:"threshold"`
	Rule        string   `json:"rule"`
	Warning     string   `json:"warning,omitempty"`
	FitSeconds  float64  `json:"fit_seconds"`
	CalibSecond float64  `json:"calibration_seconds"`
	Extra       []string `json:"-"`
}

func cmdFit(args []string, stdout io.Writer) error {
	fs := newFlags("fit", "fit --method METHOD (--data DIR | --normal DIR --abnormal DIR | --idx DIR --normal-class K) --out MODEL", stdout)
	var df dataFlags
	var mf methodFlags
	df.register(fs)
	mf.register(fs)
	out := fs.String("out", "", "where to write the model (one .safetensors file)")
	alpha := fs.Float64("alpha", 0.01, "target false-positive rate for the decision threshold")
	rule := fs.String("rule", "conformal", "image threshold rule: conformal (quantile with an FPR guarantee), three_sigma, or bootstrap (upper confidence bound of the quantile)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out MODEL is required")
	}
	if *alpha <= 0 || *alpha >= 1 {
		return usagef("--alpha must be in (0,1), got %g", *alpha)
	}
	if !slices.Contains(decision.Rules, *rule) {
		return usagef("--rule must be one of %s", joinNames(decision.Rules))
	}
	cfg, err := mf.configJSON(setFlags(fs), df.seed)
	if err != nil {
		return err
	}
	det, err := detector.New(mf.method, cfg)
	if err != nil {
		return usageError{err.Error()}
	}
	ds, err := df.load(fitSplits)
	if err != nil {
		return err
	}
	sum, err := fitAndSave(context.Background(), det, ds, *alpha, *rule, df.seed, *out, *quiet, map[string]string{"data": dataDesc(&df)})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(sum)
	}
	fmt.Fprintf(stdout, "fitted %s on %d normal images in %.2fs; %s threshold %.6g for FPR %.3g (calibrated on %d validation images)\n",
		sum.Method, sum.NTrain, sum.FitSeconds, sum.Rule, sum.Threshold, sum.TargetFPR, sum.NVal)
	if sum.Warning != "" {
		fmt.Fprintf(stdout, "warning: %s\n", sum.Warning)
	}
	fmt.Fprintf(stdout, "model written to %s\n", sum.Model)
	return nil
}

func dataDesc(df *dataFlags) string {
	switch {
	case df.data != "":
		return df.data
	case df.normal != "":
		return df.normal
	}
	return fmt.Sprintf("%s (class %d)", df.idx, df.normalClass)
}

// fitAndSave fits det on the training split, calibrates on the validation
// split and writes the model with its calibration.
func fitAndSave(ctx context.Context, det detector.Detector, ds *dataset.Dataset, alpha float64, rule string, seed uint64, out string, quiet bool, extra map[string]string) (fitSummary, error) {
	if len(ds.Train) == 0 {
		return fitSummary{}, fmt.Errorf("dataset %s has no training images", ds.Name)
	}
	t0 := time.Now()
	bar := newProgress(quiet, "fitting "+det.Method(), len(ds.Train))
	fitCtx := progress.With(ctx, func(done, total int) { bar.Set(done, total) })
	err := det.Fit(fitCtx, imagesOf(ds.Train))
	bar.Done()
	if err != nil {
		return fitSummary{}, fmt.Errorf("fit: %w", err)
	}
	fitSec := time.Since(t0).Seconds()
	t1 := time.Now()
	calib, err := calibrate(ctx, det, ds.Val, alpha, seed, quiet)
	if err != nil {
		return fitSummary{}, err
	}
	if err := calib.UseRule(rule); err != nil {
		return fitSummary{}, err
	}
	cb, err := json.Marshal(calib)
	if err != nil {
		return fitSummary{}, err
	}
	if extra == nil {
		extra = map[string]string{}
	}
	extra["n_train"] = fmt.Sprint(len(ds.Train))
	if err := detector.Save(out, det, detector.Meta{Calibration: cb, Extra: extra}); err != nil {
		return fitSummary{}, err
	}
	return fitSummary{
		Model: out, Method: det.Method(), NTrain: len(ds.Train), NVal: len(ds.Val),
		TargetFPR: alpha, Threshold: calib.Threshold, Rule: calib.Method, Warning: calib.Warning,
		FitSeconds: fitSec, CalibSecond: time.Since(t1).Seconds(),
	}, nil
}

// calibrate scores the validation normals and derives the thresholds.
func calibrate(ctx context.Context, det detector.Detector, val []dataset.Sample, alpha float64, seed uint64, quiet bool) (decision.Calibration, error) {
	if len(val) == 0 {
		return decision.Calibration{}, fmt.Errorf("no validation images to calibrate the threshold on")
	}
	res, err := scoreAll(ctx, det, imagesOf(val), quiet, "calibrating")
	if err != nil {
		return decision.Calibration{}, fmt.Errorf("scoring validation images: %w", err)
	}
	scores := make([]float64, len(res))
	var maps []*imageio.Map
	for i, r := range res {
		scores[i] = r.Score
		if r.Map != nil {
			maps = append(maps, r.Map)
		}
	}
	c, err := decision.Calibrate(scores, maps, alpha, seed)
	if err != nil {
		return c, fmt.Errorf("calibration: %w", err)
	}
	return c, nil
}
