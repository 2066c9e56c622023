package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-ad/vigil/imageio"
)

// fileStem returns the file name to use for a sample: the last element of
// its Name, or its index when the Name gives nothing usable.
func fileStem(s Sample, i int) string {
	base := s.Name
	if k := strings.LastIndexAny(base, `/\`); k >= 0 {
		base = base[k+1:]
	}
	if base == "" || base == "." || base == ".." || strings.HasPrefix(base, ".") {
		return fmt.Sprintf("%03d", i)
	}
	return base
}

// writeJob is one sample to write, with its mask when maskPath is set.
type writeJob struct {
	path, maskPath string
	s              *Sample
}

// WriteMVTec writes ds as PNG files in the MVTec AD layout under dir, which
// must be absent or empty: Train and Val go to train/good, normal test
// samples to test/good, anomalous ones to test/<defect> (Defect, or
// "anomaly" when empty) with their masks as 0/255 PNGs in
// ground_truth/<defect>/<name>_mask.png. File names come from the last
// element of each sample's Name. Images are quantised to 8 bits; each file
// is written atomically. LoadMVTec reads the result back. A Val sample
// whose file name a Train sample already took is written as val_<name>.
func WriteMVTec(ds *Dataset, dir string) error {
	return WriteMVTecWith(ds, dir, imageio.Options{})
}

// WriteMVTecWith is WriteMVTec with the decoding options for file-backed
// samples, which are decoded one per worker as they are written.
func WriteMVTecWith(ds *Dataset, dir string, opt imageio.Options) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("dataset: refusing to write into non-empty folder %s", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dataset: %w", err)
	}
	var jobs []writeJob
	used := map[string]string{} // file -> sample name, to refuse collisions
	add := func(s *Sample, i int, folder string, withMask bool) error {
		if s.Image == nil && s.Path == "" {
			return fmt.Errorf("dataset: sample %q has no image", s.Name)
		}
		st := fileStem(*s, i)
		p := filepath.Join(dir, folder, st+".png")
		if prev, ok := used[p]; ok {
			if folder != filepath.Join("train", "good") {
				return fmt.Errorf("dataset: samples %q and %q would both be written to %s", prev, s.Name, p)
			}
			// Train and Val names are unique per split only (MVTec LOCO and
			// 3D-AD have their own validation folder)
			st = "val_" + st
			p = filepath.Join(dir, folder, st+".png")
			if prev, ok := used[p]; ok {
				return fmt.Errorf("dataset: samples %q and %q would both be written to %s", prev, s.Name, p)
			}
		}
		used[p] = s.Name
		j := writeJob{path: p, s: s}
		if withMask && s.HasMask() {
			j.maskPath = filepath.Join(dir, "ground_truth", filepath.Base(folder), st+"_mask.png")
		}
		jobs = append(jobs, j)
		return nil
	}
	for i := range ds.Train {
		if err := add(&ds.Train[i], i, filepath.Join("train", "good"), false); err != nil {
			return err
		}
	}
	for i := range ds.Val {
		if err := add(&ds.Val[i], len(ds.Train)+i, filepath.Join("train", "good"), false); err != nil {
			return err
		}
	}
	for i := range ds.Test {
		s := &ds.Test[i]
		defect := "good"
		if s.Label == 1 {
			defect = s.Defect
			if defect == "" {
				defect = AnomalyDefect
			}
			if defect == "good" || strings.ContainsAny(defect, `/\`) || strings.HasPrefix(defect, ".") {
				return fmt.Errorf("dataset: anomalous sample %q has unusable defect name %q", s.Name, defect)
			}
		}
		if err := add(s, i, filepath.Join("test", defect), s.Label == 1); err != nil {
			return err
		}
	}
	folders := map[string]bool{}
	for _, j := range jobs {
		folders[filepath.Dir(j.path)] = true
		if j.maskPath != "" {
			folders[filepath.Dir(j.maskPath)] = true
		}
	}
	for f := range folders {
		if err := os.MkdirAll(f, 0o755); err != nil {
			return fmt.Errorf("dataset: %w", err)
		}
	}
	return parallelDo(len(jobs), func(i int) error {
		j := jobs[i]
		ld, err := j.s.Load(opt)
		if err != nil {
			return err
		}
		if err := imageio.SavePNG(j.path, ld.Image.ToGoImage()); err != nil {
			return err
		}
		if j.maskPath != "" && ld.Mask != nil {
			return imageio.SavePNG(j.maskPath, ld.Mask.ToGoImage())
		}
		return nil
	})
}
