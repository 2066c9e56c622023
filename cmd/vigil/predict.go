package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/report"
)

type predictLine struct {
	Name     string  `json:"name"`
	Score    float64 `json:"score"`
	PValue   float64 `json:"p_value"`
	Decision string  `json:"decision"`
}

func cmdPredict(args []string, stdout io.Writer) error {
	fs := newFlags("predict", "predict --model MODEL --out DIR IMAGE...", stdout)
	model := fs.String("model", "", "model file written by 'vigil fit'")
	out := fs.String("out", "", "folder for the heatmap overlays and results.json")
	asJSON := fs.Bool("json", false, "print the results as JSON lines")
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" || *out == "" {
		return usagef("--model MODEL and --out DIR are required")
	}
	paths := fs.Args()
	if len(paths) == 0 {
		return usagef("give at least one image to score")
	}
	det, calib, err := loadModel(*model)
	if err != nil {
		return err
	}
	imgs := make([]*imageio.Image, len(paths))
	for i, p := range paths {
		if imgs[i], err = imageio.Load(p); err != nil {
			return err
		}
	}
	res, err := scoreAll(context.Background(), det, imgs, *quiet, "scoring")
	if err != nil {
		return err
	}
	items := make([]report.Prediction, len(paths))
	used := map[string]int{}
	for i, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		if n := used[name]; n > 0 {
			name = fmt.Sprintf("%s_%d", name, n) // two inputs with one base name
		}
		used[name]++
		items[i] = report.Prediction{Name: name, Image: imgs[i], Map: res[i].Map, PredMask: predMask(res[i].Map, calib),
			Score: res[i].Score, PValue: calib.PValue(res[i].Score), Decision: calib.Decide(res[i].Score)}
	}
	if calib.PixelThreshold != nil {
		lo := *calib.PixelThreshold
		for _, r := range res {
			if r.Map != nil {
				for _, v := range r.Map.Pix {
					lo = min(lo, float64(v))
				}
			}
		}
		err = report.WritePredictionsRange(*out, items, lo, 2**calib.PixelThreshold-lo)
	} else {
		err = report.WritePredictions(*out, items)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for i, it := range items {
		verdict := "normal"
		if it.Decision {
			verdict = "anomalous"
		}
		if *asJSON {
			if err := enc.Encode(predictLine{Name: paths[i], Score: it.Score, PValue: it.PValue, Decision: verdict}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%-40s score %-12.6g p %-8.4f %s\n", paths[i], it.Score, it.PValue, verdict)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "overlays and results.json written to %s\n", *out)
	}
	return nil
}
