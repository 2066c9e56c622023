package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/report"
)

func cmdDemo(args []string, stdout io.Writer) error {
	fs := newFlags("demo", "demo [--family NAME|all] [--report DIR] [--write DIR]", stdout)
	family := fs.String("family", "all", "texture family to run, or all: "+joinNames(dataset.DemoFamilies()))
	seed := fs.Uint64("seed", 1, "seed of the generated data and of the detector")
	reportDir := fs.String("report", "vigil-demo-report", "folder for the HTML reports and models")
	write := fs.String("write", "", "only write the demo data in the MVTec AD layout into this folder (one subfolder per family)")
	size := fs.Int("image-size", 0, "image side of the generated data (0: generator default)")
	alpha := fs.Float64("alpha", 0.01, "target false-positive rate")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	var mf methodFlags
	mf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var families []string
	if *family != "all" {
		families = []string{*family}
	}
	if *write != "" {
		dirs, err := pipeline.WriteDemo(*write, families, *seed, *size)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			fmt.Fprintf(stdout, "wrote %s\n", d)
		}
		return nil
	}
	set := setFlags(fs)
	var cfg json.RawMessage
	if set["config"] || set["size"] || set["crop"] || set["backbone"] || set["backbone-dir"] || set["layers"] {
		var err error
		if cfg, err = mf.configJSON(set, *seed); err != nil {
			return err
		}
	}
	fams, err := pipeline.Demo(context.Background(), pipeline.DemoOptions{
		Families: families, Seed: *seed, ImageSize: *size, Alpha: *alpha, Method: mf.method, Config: cfg,
		Dir: *reportDir, Progress: newProgress(*quiet),
		Report: func(fam, dir string, m *pipeline.Model) (func(*pipeline.ImageResult) error, func(*pipeline.EvalResult) error, error) {
			return report.EvalReportSink(dir, fmt.Sprintf("Vigil demo: %s on %s", m.Detector.Method(), fam), m)
		},
	})
	if err != nil {
		return err
	}
	index := filepath.Join(*reportDir, "index.html")
	if err := report.WriteDemoIndex(index, fams); err != nil {
		return err
	}
	if abs, err := filepath.Abs(index); err == nil {
		index = abs
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"families": fams, "report": index})
	}
	method := pipeline.DemoMethod
	if len(fams) > 0 {
		method = fams[0].Result.Method
	}
	fmt.Fprintf(stdout, "Vigil demo: %s on generated textures with planted defects (target FPR %.3g)\n\n", method, *alpha)
	fmt.Fprintf(stdout, "%-10s %9s %9s %9s %9s %9s %9s\n", "family", "img AUROC", "img AP", "pix AUROC", "AUPRO", "test FPR", "test TPR")
	failed := 0
	for _, f := range fams {
		r := f.Result
		failed += r.NErrors
		fmt.Fprintf(stdout, "%-10s %9s %9s %9s %9s %9s %9s\n", f.Family, fmtp(r.ImageAUROC), fmtp(r.ImageAP), fmtp(r.PixelAUROC), fmtp(r.AUPRO), fmtp(r.TestFPR), fmtp(r.TestTPR))
	}
	fmt.Fprintf(stdout, "\nHTML report: %s\n", index)
	if failed > 0 {
		return failedImages{failed}
	}
	return nil
}
