package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vigil-ad/vigil/internal/loco"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/vigil-ad/vigil/imageio"
)

// LOCODefect is one entry of an MVTec LOCO defects_config.json.
type LOCODefect struct {
	Name                string  `json:"defect_name"`
	PixelValue          int     `json:"pixel_value"`
	SaturationThreshold float64 `json:"saturation_threshold"`
	RelativeSaturation  bool    `json:"relative_saturation"`
}

// locoConfig is a parsed defects_config.json, by pixel value.
type locoConfig struct {
	path    string
	byValue map[int]LOCODefect
}

func readLOCOConfig(path string) (*locoConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var list []LOCODefect
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("dataset: %s: want a JSON list of {defect_name, pixel_value, saturation_threshold, relative_saturation}: %w", path, err)
	}
	cfg := &locoConfig{path: path, byValue: map[int]LOCODefect{}}
	for i, d := range list {
		switch {
		case d.Name == "":
			return nil, fmt.Errorf("dataset: %s: entry %d has no defect_name", path, i)
		case d.PixelValue < 1 || d.PixelValue > 255:
			return nil, fmt.Errorf("dataset: %s: %s has pixel_value %d, want 1..255", path, d.Name, d.PixelValue)
		case !(d.SaturationThreshold > 0) || math.IsInf(d.SaturationThreshold, 0):
			return nil, fmt.Errorf("dataset: %s: %s has saturation_threshold %v, want > 0", path, d.Name, d.SaturationThreshold)
		}
		if prev, ok := cfg.byValue[d.PixelValue]; ok {
			return nil, fmt.Errorf("dataset: %s: %s and %s share pixel_value %d", path, prev.Name, d.Name, d.PixelValue)
		}
		cfg.byValue[d.PixelValue] = d
	}
	return cfg, nil
}

// Region is one ground-truth defect of a sample, as the sPRO metric needs
// it: its mask and the overlap (in pixels) at which it counts as fully
// found.
type Region struct {
	Defect     string       // LOCO defect_name; "" where the layout has none
	Mask       *imageio.Map // 0/1 at image resolution
	Area       int          // pixels in Mask
	Saturation float64      // pixels; never more than Area
}

// Regions returns the sample's ground-truth defects, one per mask file.
// For MVTec LOCO each file holds one defect whose non-zero pixel value
// names it in defects_config.json: Saturation follows LOCO's evaluation
// (internal/loco: saturation_threshold × Area truncated when
// relative_saturation, else min(saturation_threshold, Area); at least 1).
// Without a config, and for the other layouts, Saturation is the Area
// (plain per-region overlap). Samples without ground truth, and normal
// samples, have no regions.
func (s *Sample) Regions(opt imageio.Options) ([]Region, error) {
	var out []Region
	for _, p := range s.MaskPaths {
		r, err := s.region(p, opt)
		if err != nil {
			return nil, err
		}
		if r.Area > 0 {
			out = append(out, r)
		}
	}
	if len(s.MaskPaths) == 0 && (s.Mask != nil || s.rle != nil) {
		var m *imageio.Map
		if s.Mask != nil {
			m = s.Mask
		} else {
			ld, err := s.Load(opt)
			if err != nil {
				return nil, err
			}
			m = ld.Mask
		}
		r := Region{Mask: m}
		for _, v := range m.Pix {
			if v != 0 {
				r.Area++
			}
		}
		if r.Area > 0 {
			r.Saturation = float64(r.Area)
			out = append(out, r)
		}
	}
	return out, nil
}

// region reads one mask file as a region.
func (s *Sample) region(path string, opt imageio.Options) (Region, error) {
	img, err := imageio.LoadWith(path, opt)
	if err != nil {
		return Region{}, err
	}
	r := Region{Mask: imageio.NewMap(img.H, img.W)}
	hw := img.H * img.W
	value := 0
	for i := 0; i < hw; i++ {
		var v float32
		for c := 0; c < img.C; c++ {
			v = max(v, img.Pix[c*hw+i])
		}
		if v <= 0 {
			continue
		}
		r.Mask.Pix[i] = 1
		r.Area++
		pv := int(math.Round(float64(v) * 255))
		if value != 0 && pv != value && s.defects != nil {
			return Region{}, fmt.Errorf("dataset: mask %s holds several defect values (%d and %d); want one per file", path, value, pv)
		}
		value = pv
	}
	r.Saturation = float64(r.Area)
	if s.defects == nil || r.Area == 0 {
		return r, nil
	}
	d, ok := s.defects.byValue[value]
	if !ok {
		return Region{}, fmt.Errorf("dataset: mask %s has pixel value %d, which %s does not list", path, value, s.defects.path)
	}
	r.Defect = d.Name
	r.Saturation = loco.Saturation(r.Area, d.SaturationThreshold, d.RelativeSaturation)
	return r, nil
}

// loadLOCO reads an MVTec LOCO AD category:
//
//	dir/train/good/*, dir/validation/good/*     normal images (Val is validation/good)
//	dir/test/good/*                             normal test images
//	dir/test/{logical,structural}_anomalies/*   anomalous test images
//	dir/ground_truth/<type>/<stem>/000.png ...  one mask per defect
//	dir/defects_config.json                     defects by mask pixel value
func loadLOCO(dir string, opt Options) (*Dataset, error) {
	if err := requireDir(dir, "dataset"); err != nil {
		return nil, err
	}
	ds := &Dataset{Name: filepath.Base(filepath.Clean(dir)), Layout: LayoutLOCO, Split: opt.splitInfo(0)}
	var cfg *locoConfig
	cfgPath := filepath.Join(dir, "defects_config.json")
	if _, err := os.Stat(cfgPath); err == nil {
		if cfg, err = readLOCOConfig(cfgPath); err != nil {
			return nil, err
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		ds.Warnings = append(ds.Warnings, "defects_config.json is missing: sPRO saturation is each region's whole area")
	} else {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if err := normalSplits(ds, filepath.Join(dir, "train", "good"), filepath.Join(dir, "validation", "good"), opt); err != nil {
		return nil, err
	}
	testDir, gtDir := filepath.Join(dir, "test"), filepath.Join(dir, "ground_truth")
	if err := requireDir(testDir, "test"); err != nil {
		return nil, err
	}
	defects, err := listSubdirs(testDir)
	if err != nil {
		return nil, err
	}
	var gtFolders []string
	used := map[string]bool{}
	for _, d := range defects {
		if d != "good" {
			if subs, err := listSubdirs(filepath.Join(gtDir, d)); err == nil {
				for _, s := range subs {
					gtFolders = append(gtFolders, filepath.Join(gtDir, d, s))
				}
			}
		}
		ss, err := testSamples(filepath.Join(testDir, d), d)
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			s.nonZero, s.defects = true, cfg
			if d != "good" {
				mdir := filepath.Join(gtDir, d, stem(filepath.Base(s.Path)))
				if files, err := listImages(mdir); err == nil {
					for _, f := range files {
						s.MaskPaths = append(s.MaskPaths, filepath.Join(mdir, f))
					}
					used[mdir] = true
				}
			}
			ds.Test = append(ds.Test, s)
		}
	}
	if len(ds.Test) == 0 {
		return nil, fmt.Errorf("dataset: no test images under %s", testDir)
	}
	if !opt.SkipTest {
		ds.Warnings = append(ds.Warnings, orphanWarnings(dir, gtFolders, used)...)
	}
	return finished(ds, opt)
}

// normalSplits fills Train and Val from trainDir and, when it exists,
// valDir (used as Val as it is); without valDir (or with valDir ""), Val
// is carved from trainDir by opt. With SkipTrain, trainDir may be absent.
func normalSplits(ds *Dataset, trainDir, valDir string, opt Options) error {
	if opt.SkipTrain && requireDir(trainDir, "training") != nil {
		return nil
	}
	if err := requireDir(trainDir, "training"); err != nil {
		return err
	}
	train, err := folderSamples(trainDir, "good", 0)
	if err != nil {
		return err
	}
	if len(train) == 0 {
		return fmt.Errorf("dataset: no images in %s", trainDir)
	}
	if valDir == "" || requireDir(valDir, "validation") != nil {
		ds.Train, ds.Val, err = splitVal(train, opt, trainDir)
		return err
	}
	val, err := folderSamples(valDir, "good", 0)
	if err != nil {
		return err
	}
	if len(val) == 0 {
		return fmt.Errorf("dataset: no images in %s", valDir)
	}
	ds.Train, ds.Val = train, val
	return nil
}
