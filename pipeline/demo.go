package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/vigil-ad/vigil/dataset"
)

// DemoNormals is the number of normal images generated per demo family.
const DemoNormals = 200

// DemoDataset generates one demo family with the demo's split: half of the
// normals are held out for calibration, so a 1% threshold rests on at
// least 99 validation scores (rank ⌈(n+1)(1−α)⌉ <= n).
func DemoDataset(family string, seed uint64, size int) *dataset.Dataset {
	ds := dataset.Demo(dataset.DemoOptions{Seed: seed, Family: family, Size: size, NTrain: DemoNormals})
	for len(ds.Val) < DemoNormals/2 && len(ds.Train) > 1 {
		ds.Val = append(ds.Val, ds.Train[len(ds.Train)-1])
		ds.Train = ds.Train[:len(ds.Train)-1]
	}
	return ds
}

// DemoConfig is the configuration the demo uses for a method when none is
// given: pcarecon at three scales sees both fine defects (scratches) and
// broad ones (colour drift) on the demo textures.
func DemoConfig(method string) json.RawMessage {
	if method == "pcarecon" {
		return json.RawMessage(`{"scales":[1,2,4]}`)
	}
	return nil
}

// DemoMethod is the demo's method when none is given: it needs no
// download.
const DemoMethod = "pcarecon"

// WriteDemo writes the demo families (nil: all) in the MVTec AD layout,
// one folder each under dir, and returns the folders.
func WriteDemo(dir string, families []string, seed uint64, size int) ([]string, error) {
	if len(families) == 0 {
		families = dataset.DemoFamilies()
	}
	var out []string
	for _, f := range families {
		if !slices.Contains(dataset.DemoFamilies(), f) {
			return nil, optErr("family", "unknown family %q (known: %v)", f, dataset.DemoFamilies())
		}
		d := filepath.Join(dir, f)
		if err := dataset.WriteMVTec(DemoDataset(f, seed, size), d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// DemoOptions configure Demo.
type DemoOptions struct {
	Families  []string // nil: every family
	Seed      uint64
	ImageSize int // 0: generator default
	Alpha     float64
	Method    string          // "": DemoMethod
	Config    json.RawMessage // nil: DemoConfig(Method)
	Dir       string          // models go to Dir/<family>/model.safetensors
	Progress  Progress
	// Report, when set, is called for each family before its evaluation;
	// onImage receives the test images and done the metrics (after they
	// are complete).
	Report func(family, dir string, m *Model) (onImage func(*ImageResult) error, done func(*EvalResult) error, err error)
}

// DemoFamily is one family's outcome.
type DemoFamily struct {
	Family string      `json:"family"`
	Dir    string      `json:"dir"`
	Model  string      `json:"model"`
	Result *EvalResult `json:"result"`
}

// Demo fits, calibrates and evaluates the method on each generated demo
// family, evaluating the saved model as a user would.
func Demo(ctx context.Context, o DemoOptions) ([]DemoFamily, error) {
	fams := o.Families
	if len(fams) == 0 {
		fams = dataset.DemoFamilies()
	}
	for _, f := range fams {
		if !slices.Contains(dataset.DemoFamilies(), f) {
			return nil, optErr("family", "unknown family %q (known: %v)", f, dataset.DemoFamilies())
		}
	}
	if err := checkOutDir("report", o.Dir); err != nil {
		return nil, err
	}
	if o.Method == "" {
		o.Method = DemoMethod
	}
	cfg := o.Config
	if cfg == nil {
		cfg = DemoConfig(o.Method)
	}
	var out []DemoFamily
	for _, f := range fams {
		dir := filepath.Join(o.Dir, f)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		ds := DemoDataset(f, o.Seed, o.ImageSize)
		model := filepath.Join(dir, "model.safetensors")
		_, err := Fit(ctx, FitOptions{Method: o.Method, Config: cfg, Dataset: ds, DataOptions: dataset.Options{Seed: o.Seed},
			Alpha: o.Alpha, Out: model, Progress: o.Progress, DataDesc: "demo:" + f})
		if err != nil {
			return nil, fmt.Errorf("family %s: %w", f, err)
		}
		m, err := LoadModel(model, "")
		if err != nil {
			return nil, err
		}
		eo := EvalOptions{Loaded: m, Dataset: ds, Progress: o.Progress}
		var done func(*EvalResult) error
		if o.Report != nil {
			if eo.OnImage, done, err = o.Report(f, dir, m); err != nil {
				return nil, err
			}
		}
		res, err := Evaluate(ctx, eo)
		if err != nil {
			return nil, fmt.Errorf("family %s: %w", f, err)
		}
		if done != nil {
			if err := done(res); err != nil {
				return nil, err
			}
		}
		out = append(out, DemoFamily{Family: f, Dir: dir, Model: model, Result: res})
	}
	return out, nil
}
