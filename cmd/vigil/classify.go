package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/osr"
	"github.com/vigil-ad/vigil/train"
)

// cmdClassify is open-set recognition: vigil classify fit|test|predict.
func cmdClassify(args []string, stdout io.Writer) error {
	usage := "classify fit|test|predict [flags] (open-set recognition: known classes, or unknown)"
	if len(args) == 0 {
		return usagef("usage: vigil %s", usage)
	}
	switch args[0] {
	case "fit":
		return classifyFit(args[1:], stdout)
	case "test":
		return classifyTest(args[1:], stdout)
	case "predict":
		return classifyPredict(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, "Usage: vigil %s\n\n  fit      train a classifier on the known classes and set its unknown threshold\n  test     closed-set accuracy, known-vs-unknown AUROC per score, FPR at the threshold\n  predict  class or unknown for image files and folders\n\nRun 'vigil classify SUBCOMMAND --help' for its flags.\n", usage)
		return nil
	}
	return usagef("unknown classify subcommand %q (fit, test or predict)", args[0])
}

// parseKnown reads --known "0,1,2".
func parseKnown(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 {
			return nil, usagef("--known: %q is not a class number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func classifyFit(args []string, stdout io.Writer) error {
	fs := newFlags("classify fit", "classify fit (--idx DIR --known 0,1,... | --data DIR) --out MODEL [--config JSON]", stdout)
	idx := fs.String("idx", "", "MNIST-style IDX folder: trains on the train split's images of the --known classes")
	known := fs.String("known", "", "with --idx: the known class numbers, e.g. 0,1,2,3,4,5")
	data := fs.String("data", "", "class folders: every subfolder of DIR is a known class")
	out := fs.String("out", "", "model file to write")
	cfgJSON := fs.String("config", "", `hyper-parameters as JSON over the defaults, e.g. '{"alpha":0.05,"train":{"epochs":5}}'`)
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out MODEL is required")
	}
	if (*idx == "") == (*data == "") {
		return usagef("give exactly one of --idx DIR (with --known) or --data DIR")
	}
	if (*idx != "") != (*known != "") {
		return usagef("--known goes with --idx (and --idx needs --known)")
	}
	cfg, err := osr.ParseConfig(json.RawMessage(*cfgJSON))
	if err != nil {
		return usagef("--config: %v", err)
	}
	var images []*imageio.Image
	var labels []int
	var classes []string
	if *idx != "" {
		k, err := parseKnown(*known)
		if err != nil {
			return err
		}
		images, labels, classes, err = osr.IDXKnown(*idx, "train", k, true)
		if err != nil {
			return err
		}
	} else if images, labels, classes, err = osr.FolderClasses(*data, nil); err != nil {
		return err
	}
	prog := newProgress(*quiet)
	m, err := osr.Fit(context.Background(), images, labels, classes, cfg, train.Session{Progress: prog.Epoch})
	if err != nil {
		return err
	}
	if err := m.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fitted %d known classes (%s) on %d images; threshold %s >= %.6g (target FPR %g, %d validation images)\nwrote %s\n",
		len(classes), strings.Join(classes, ", "), len(images), m.Config.Score, m.Threshold.Value, m.Threshold.Alpha, m.Threshold.N, *out)
	if m.Threshold.Warning != "" {
		fmt.Fprintf(stdout, "warning: %s\n", m.Threshold.Warning)
	}
	return nil
}

func classifyTest(args []string, stdout io.Writer) error {
	fs := newFlags("classify test", "classify test --model MODEL (--idx DIR | --data DIR) [--json]", stdout)
	model := fs.String("model", "", "model file from vigil classify fit")
	idx := fs.String("idx", "", "IDX folder: tests on the t10k split; classes the model does not know are unknown")
	data := fs.String("data", "", "class folders: a folder named like a known class holds its images, any other folder unknown images")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("--model MODEL is required")
	}
	if (*idx == "") == (*data == "") {
		return usagef("give exactly one of --idx DIR or --data DIR")
	}
	m, err := osr.Load(*model)
	if err != nil {
		return err
	}
	var images []*imageio.Image
	var labels []int
	if *idx != "" {
		var k []int
		for _, c := range m.Classes {
			v, err := strconv.Atoi(c)
			if err != nil {
				return fmt.Errorf("model %s was fitted on class folders (class %q), not IDX classes: test it with --data", *model, c)
			}
			k = append(k, v)
		}
		if images, labels, _, err = osr.IDXKnown(*idx, "t10k", k, false); err != nil {
			return err
		}
	} else if images, labels, _, err = osr.FolderClasses(*data, m.Classes); err != nil {
		return err
	}
	rep, err := osr.Evaluate(context.Background(), m, images, labels)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%d known and %d unknown test images\nclosed-set accuracy %.4f\nAUROC known vs unknown: msp %.4f, maxlogit %.4f, energy %.4f\nat the threshold (%s >= %.6g, target FPR %g): known called unknown (FPR) %.4f, unknown caught (TPR) %.4f, open-set accuracy %.4f\n",
		rep.Known, rep.Unknown, rep.ClosedSetAccuracy, rep.AUROCMSP, rep.AUROCMaxLogit, rep.AUROCEnergy,
		rep.Score, rep.Threshold, rep.Alpha, rep.UnknownFPR, rep.UnknownTPR, rep.OpenSetAccuracy)
	return nil
}

func classifyPredict(args []string, stdout io.Writer) error {
	fs := newFlags("classify predict", "classify predict --model MODEL [--json] IMAGE|FOLDER...", stdout)
	model := fs.String("model", "", "model file from vigil classify fit")
	asJSON := fs.Bool("json", false, "print a JSON array instead of one line per image")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("--model MODEL is required")
	}
	if fs.NArg() == 0 {
		return usagef("give image files or folders to classify")
	}
	var paths []string
	for _, a := range fs.Args() {
		st, err := os.Stat(a)
		if err != nil {
			return usagef("%v", err)
		}
		if !st.IsDir() {
			paths = append(paths, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && dataset.IsImageFile(p) {
				paths = append(paths, p)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	m, err := osr.Load(*model)
	if err != nil {
		return err
	}
	type row struct {
		Path string `json:"path"`
		osr.Prediction
		Error string `json:"error,omitempty"`
	}
	var rows []row
	failed := 0
	for _, p := range paths {
		img, err := imageio.Load(p)
		if err == nil {
			var preds []osr.Prediction
			if preds, err = m.Predict(context.Background(), []*imageio.Image{img}); err == nil {
				rows = append(rows, row{Path: p, Prediction: preds[0]})
				continue
			}
		}
		failed++
		rows = append(rows, row{Path: p, Error: err.Error()})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		for _, r := range rows {
			switch {
			case r.Error != "":
				fmt.Fprintf(stdout, "%s\terror: %s\n", r.Path, r.Error)
			case r.Unknown:
				fmt.Fprintf(stdout, "%s\tunknown\t(nearest %s, p %.3f, %s %.4g)\n", r.Path, r.Name, r.Prob, m.Config.Score, r.Scores[m.Config.Score])
			default:
				fmt.Fprintf(stdout, "%s\t%s\tp %.3f, %s %.4g\n", r.Path, r.Name, r.Prob, m.Config.Score, r.Scores[m.Config.Score])
			}
		}
	}
	if failed > 0 {
		return failedImages{failed}
	}
	return nil
}
