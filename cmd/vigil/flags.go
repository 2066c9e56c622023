package main

import (
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector"
)

// dataFlags select a dataset in one of the supported layouts.
type dataFlags struct {
	src         dataset.Source
	seed        uint64
	valFraction float64
	maxPixels   int
	split       bool // the command carves splits (fit), so --seed and --val-fraction apply
}

func (d *dataFlags) register(fs *flag.FlagSet, split bool) {
	d.split = split
	fs.StringVar(&d.src.Dir, "data", "", "dataset `DIR`: MVTec AD layout (train/good, test/<defect>, ground_truth/<defect>) or another --layout")
	fs.StringVar(&d.src.Layout, "layout", "", "layout of --data: mvtec, mvtec_loco, mvtec_3d, severstal, nanotwice (default: detected)")
	fs.StringVar(&d.src.Normal, "normal", "", "plain folder of normal images (with --abnormal)")
	fs.StringVar(&d.src.Abnormal, "abnormal", "", "plain folder of anomalous images (with --normal)")
	fs.StringVar(&d.src.Masks, "masks", "", "optional folder of masks for --abnormal images (<stem>_mask.png or <stem>.png)")
	fs.StringVar(&d.src.IDX, "idx", "", "folder of IDX files (MNIST / Fashion-MNIST) for the one-class protocol")
	fs.IntVar(&d.src.NormalClass, "normal-class", 0, "with --idx: the class treated as normal (required by fit; test uses the model's)")
	fs.StringVar(&d.src.Manifest, "manifest", "", "CSV manifest with columns path,label[,mask][,split][,defect]")
	fs.IntVar(&d.src.Class, "class", 0, "severstal: the defect class (1-4) counted as anomalous; 0 = any")
	if split {
		fs.Uint64Var(&d.seed, "seed", 1, "seed for the validation split and every random choice")
		fs.Float64Var(&d.valFraction, "val-fraction", 0.1, "fraction of the training normals held out for calibration (at least 5 images), in (0,1)")
	}
	fs.IntVar(&d.maxPixels, "max-pixels", 50_000_000, "refuse images with more pixels than this (checked before decoding)")
}

// finish records which flags were given; call after parsing.
func (d *dataFlags) finish(set map[string]bool) error {
	d.src.NormalClassSet = set["normal-class"]
	if d.split && !(d.valFraction > 0 && d.valFraction < 1) {
		return usagef("--val-fraction must be in (0,1), got %g", d.valFraction)
	}
	if d.maxPixels <= 0 {
		return usagef("--max-pixels must be positive, got %d", d.maxPixels)
	}
	if d.src.Normal != "" && d.src.Abnormal == "" && !d.split {
		return usagef("--normal needs --abnormal") // fit needs only the normals
	}
	return nil
}

func (d *dataFlags) options() dataset.Options {
	return dataset.Options{Seed: d.seed, ValFraction: d.valFraction, MaxPixels: d.maxPixels}
}

// methodFlags are the hyper-parameters common to several methods; each is
// passed into the method's JSON configuration only when given, so a method
// that lacks it refuses it by name.
type methodFlags struct {
	method, config, backbone, backboneDir, layers string
	size, crop                                    int
}

func (m *methodFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.method, "method", "", "detector method: "+joinNames(detector.Methods())+" (default: padim when its backbone is available, else pcarecon)")
	fs.StringVar(&m.config, "config", "", "method configuration as a JSON object, e.g. '{\"patch\":8,\"components\":16}' (vigil methods lists the keys)")
	fs.StringVar(&m.backbone, "backbone", "", "feature backbone: mobilenet_v2, mobilenet_v1, or a .tflite/.onnx file")
	fs.StringVar(&m.backboneDir, "backbone-dir", "", "folder holding backbone files (else $VIGIL_BACKBONE_DIR, then $VIGIL_HOME/backbones); stored as an absolute path")
	fs.StringVar(&m.layers, "layers", "", "comma-separated layer names to tap (ONNX backbones)")
	fs.IntVar(&m.size, "size", 0, "resize images to SIZE x SIZE before the method (omit for the method default; see vigil methods)")
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
		b := m.backbone
		if strings.Contains(b, "/") || strings.HasSuffix(b, ".onnx") || strings.HasSuffix(b, ".tflite") {
			if abs, err := filepath.Abs(b); err == nil {
				b = abs // the model must find it from any working directory
			}
		}
		cfg["backbone"] = b
	}
	if set["backbone-dir"] {
		dir, err := filepath.Abs(m.backboneDir)
		if err != nil {
			return nil, usagef("--backbone-dir: %v", err)
		}
		cfg["backbone_dir"] = dir
	}
	if set["layers"] {
		cfg["layers"] = strings.Split(m.layers, ",")
	}
	if _, ok := cfg["seed"]; !ok {
		cfg["seed"] = seed
	}
	return json.Marshal(cfg)
}

// absDir resolves a --backbone-dir for test and predict.
func absDir(dir string) string {
	if dir == "" {
		return ""
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}
