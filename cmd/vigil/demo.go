package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/safetensors"
)

// demoNormals is the number of normal images generated per family.
const demoNormals = 200

type demoFamily struct {
	Family string     `json:"family"`
	Result evalResult `json:"result"`
	Report string     `json:"report"`
	Model  string     `json:"model"`
}

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
	families := dataset.DemoFamilies()
	if *family != "all" {
		ok := false
		for _, f := range families {
			ok = ok || f == *family
		}
		if !ok {
			return usagef("unknown family %q (known: %s)", *family, joinNames(families))
		}
		families = []string{*family}
	}
	gen := func(f string) *dataset.Dataset {
		ds := dataset.Demo(dataset.DemoOptions{Seed: *seed, Family: f, Size: *size, NTrain: demoNormals})
		// Hold out half of the normals for calibration, so the 1% threshold
		// rests on >= 99 validation scores (rank ceil((n+1)(1-α)) <= n).
		for len(ds.Val) < demoNormals/2 && len(ds.Train) > 1 {
			ds.Val = append(ds.Val, ds.Train[len(ds.Train)-1])
			ds.Train = ds.Train[:len(ds.Train)-1]
		}
		return ds
	}
	if *write != "" {
		for _, f := range families {
			dir := filepath.Join(*write, f)
			if err := dataset.WriteMVTec(gen(f), dir); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\n", dir)
		}
		return nil
	}
	set := setFlags(fs)
	if mf.method == "pcarecon" && !set["config"] {
		// Three scales see both fine defects (scratches) and broad ones
		// (colour drift) on the demo textures.
		mf.config = `{"scales":[1,2,4]}`
	}
	cfg, err := mf.configJSON(set, *seed)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*reportDir, 0o755); err != nil {
		return err
	}
	ctx := context.Background()
	var out []demoFamily
	for _, f := range families {
		ds := gen(f)
		det, err := detector.New(mf.method, cfg)
		if err != nil {
			return usageError{err.Error()}
		}
		dir := filepath.Join(*reportDir, f)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		modelPath := filepath.Join(dir, "model.safetensors")
		if _, err := fitAndSave(ctx, det, ds, *alpha, "conformal", *seed, modelPath, true, map[string]string{"data": "demo:" + f}); err != nil {
			return fmt.Errorf("family %s: %w", f, err)
		}
		// Evaluate the saved model, as a user would.
		det2, calib, err := loadModel(modelPath)
		if err != nil {
			return err
		}
		res, rows, err := evaluate(ctx, det2, calib, ds.Test, ds.HasMasks, *quiet)
		if err != nil {
			return fmt.Errorf("family %s: %w", f, err)
		}
		if err := writeReport(dir, fmt.Sprintf("Vigil demo: %s on %s", det2.Method(), f), res, rows, calib, true); err != nil {
			return err
		}
		out = append(out, demoFamily{Family: f, Result: res, Report: reportIndex(dir), Model: modelPath})
	}
	index := filepath.Join(*reportDir, "index.html")
	if err := writeDemoIndex(index, out); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"families": out, "report": reportIndex(*reportDir)})
	}
	fmt.Fprintf(stdout, "Vigil demo: %s on generated textures with planted defects (target FPR %.3g)\n\n", mf.method, *alpha)
	fmt.Fprintf(stdout, "%-10s %9s %9s %9s %9s %9s %9s\n", "family", "img AUROC", "img AP", "pix AUROC", "AUPRO", "test FPR", "test TPR")
	for _, f := range out {
		r := f.Result
		fmt.Fprintf(stdout, "%-10s %9s %9s %9s %9s %9s %9s\n", f.Family, fmtp(r.ImageAUROC), fmtp(r.ImageAP), fmtp(r.PixelAUROC), fmtp(r.AUPRO), fmtp(r.TestFPR), fmtp(r.TestTPR))
	}
	fmt.Fprintf(stdout, "\nHTML report: %s\n", reportIndex(*reportDir))
	return nil
}

func fmtp(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", *p)
}

var demoIndexTmpl = template.Must(template.New("index").Funcs(template.FuncMap{"f": fmtp}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Vigil demo</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child{text-align:left}</style>
</head><body><h1>Vigil demo</h1>
<p>Generated textures with planted defects (scratches, spots, holes, colour drift) and exact masks; each family fitted on its normal images, calibrated on held-out normals and tested.</p>
<table><tr><th>family</th><th>image AUROC</th><th>image AP</th><th>pixel AUROC</th><th>AUPRO</th><th>test FPR</th><th>test TPR</th><th>report</th></tr>
{{range .}}<tr><td>{{.Family}}</td><td>{{f .Result.ImageAUROC}}</td><td>{{f .Result.ImageAP}}</td><td>{{f .Result.PixelAUROC}}</td><td>{{f .Result.AUPRO}}</td><td>{{f .Result.TestFPR}}</td><td>{{f .Result.TestTPR}}</td><td><a href="{{.Family}}/index.html">{{.Family}}</a></td></tr>
{{end}}</table></body></html>
`))

func writeDemoIndex(path string, fams []demoFamily) error {
	return safetensors.AtomicWrite(path, func(w io.Writer) error { return demoIndexTmpl.Execute(w, fams) })
}
