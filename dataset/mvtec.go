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

// imageExts are the file extensions treated as images (case-insensitive).
var imageExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".bmp": true,
	".tif": true, ".tiff": true, ".webp": true, ".gif": true,
}

func isImageFile(name string) bool {
	return !strings.HasPrefix(name, ".") && imageExts[strings.ToLower(filepath.Ext(name))]
}

func stem(name string) string { return strings.TrimSuffix(name, filepath.Ext(name)) }

// requireDir reports a clear error when dir is missing or not a folder.
func requireDir(dir, what string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dataset: missing %s folder %s", what, dir)
	}
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("dataset: %s %s is not a folder", what, dir)
	}
	return nil
}

// listImages returns the image files of dir (not recursive), sorted by
// name, skipping hidden and non-image files.
func listImages(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || !isImageFile(e.Name()) {
			continue
		}
		out = append(out, e.Name()) // os.ReadDir sorts by name
	}
	return out, nil
}

// listSubdirs returns the visible sub-folders of dir, sorted by name.
func listSubdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// folderSamples lists dir as samples of one defect class (paths set, not
// yet decoded), refusing two images with the same stem.
func folderSamples(dir, defect string, label int) ([]Sample, error) {
	files, err := listImages(dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]string{}
	out := make([]Sample, 0, len(files))
	for _, f := range files {
		s := stem(f)
		if prev, ok := seen[s]; ok {
			return nil, fmt.Errorf("dataset: %s holds both %s and %s; image names must be unique without extension", dir, prev, f)
		}
		seen[s] = f
		out = append(out, Sample{Path: filepath.Join(dir, f), Name: defect + "/" + s, Label: label, Defect: defect})
	}
	return out, nil
}

// maskIndex maps image stems to mask files in a folder listing:
// <stem>_mask.* is preferred, and with alsoPlain <stem>.* is accepted too.
// Among several files for one stem the first in name order wins.
func maskIndex(files []string, alsoPlain bool) map[string]string {
	idx := map[string]string{}
	if alsoPlain {
		for _, f := range files {
			if _, ok := idx[stem(f)]; !ok {
				idx[stem(f)] = f
			}
		}
	}
	suffixed := map[string]bool{}
	for _, f := range files {
		if s, ok := strings.CutSuffix(stem(f), "_mask"); ok && !suffixed[s] {
			idx[s] = f
			suffixed[s] = true
		}
	}
	return idx
}

// loadJob is one image to decode, with the mask to read for it.
type loadJob struct {
	s        *Sample
	maskPath string // "" for none
}

// loadSamples decodes images and masks in parallel over GOMAXPROCS.
func loadSamples(jobs []loadJob, opt Options) error {
	iopt := imageio.Options{MaxPixels: opt.MaxPixels}
	return parallelDo(len(jobs), func(i int) error {
		j := jobs[i]
		img, err := imageio.LoadWith(j.s.Path, iopt)
		if err != nil {
			return err
		}
		j.s.Image = img
		if j.maskPath != "" {
			m, err := imageio.LoadMaskWith(j.maskPath, iopt)
			if err != nil {
				return err
			}
			if err := imageio.CheckMask(img, m, j.maskPath); err != nil {
				return err
			}
			j.s.Mask = m
		}
		return nil
	})
}

// normalJobs returns decode jobs for the Train and Val samples of ds.
func normalJobs(ds *Dataset) []loadJob {
	jobs := make([]loadJob, 0, len(ds.Train)+len(ds.Val)+len(ds.Test))
	for i := range ds.Train {
		jobs = append(jobs, loadJob{s: &ds.Train[i]})
	}
	for i := range ds.Val {
		jobs = append(jobs, loadJob{s: &ds.Val[i]})
	}
	return jobs
}

// finishMasks sets HasMasks when every anomalous test sample has a mask
// and then gives the normal test samples an all-zero mask.
func finishMasks(ds *Dataset) {
	anomalous, masked := 0, 0
	for _, s := range ds.Test {
		if s.Label == 1 {
			anomalous++
			if s.Mask != nil {
				masked++
			}
		}
	}
	ds.HasMasks = anomalous > 0 && masked == anomalous
	if !ds.HasMasks {
		return
	}
	for i := range ds.Test {
		s := &ds.Test[i]
		if s.Label == 0 && s.Mask == nil {
			s.Mask = imageio.NewMap(s.Image.H, s.Image.W)
		}
	}
}

// LoadMVTec reads a dataset in the MVTec AD layout:
//
//	dir/train/good/*              normal training images
//	dir/test/good/*               normal test images
//	dir/test/<defect>/*           anomalous test images
//	dir/ground_truth/<defect>/<name>_mask.png   optional masks
//
// Files are taken in name order; hidden and non-image files are ignored.
// The ground_truth folder may be absent (HasMasks false, every Mask nil);
// masks that exist must match their image size. When every anomalous image
// has a mask, normal test images get an all-zero mask. Val is carved from
// train/good by opt (see Options). Images keep their native size and
// channel count; decoding runs in parallel over GOMAXPROCS.
func LoadMVTec(dir string, opt Options) (*Dataset, error) {
	trainDir := filepath.Join(dir, "train", "good")
	testDir := filepath.Join(dir, "test")
	gtDir := filepath.Join(dir, "ground_truth")
	if err := requireDir(dir, "dataset"); err != nil {
		return nil, err
	}
	if err := requireDir(trainDir, "training"); err != nil {
		return nil, err
	}
	if err := requireDir(testDir, "test"); err != nil {
		return nil, err
	}
	train, err := folderSamples(trainDir, "good", 0)
	if err != nil {
		return nil, err
	}
	if len(train) == 0 {
		return nil, fmt.Errorf("dataset: no images in %s", trainDir)
	}
	defects, err := listSubdirs(testDir)
	if err != nil {
		return nil, err
	}
	haveGT := requireDir(gtDir, "ground truth") == nil
	var test []Sample
	var maskPaths []string
	for _, d := range defects {
		label := 1
		if d == "good" {
			label = 0
		}
		ss, err := folderSamples(filepath.Join(testDir, d), d, label)
		if err != nil {
			return nil, err
		}
		var masks map[string]string
		if haveGT && label == 1 {
			if mdir := filepath.Join(gtDir, d); requireDir(mdir, "mask") == nil {
				files, err := listImages(mdir)
				if err != nil {
					return nil, err
				}
				masks = maskIndex(files, false)
			}
		}
		for _, s := range ss {
			mp := ""
			if f := masks[stem(filepath.Base(s.Path))]; f != "" {
				mp = filepath.Join(gtDir, d, f)
			}
			test = append(test, s)
			maskPaths = append(maskPaths, mp)
		}
	}
	if len(test) == 0 {
		return nil, fmt.Errorf("dataset: no test images under %s", testDir)
	}
	ds := &Dataset{Name: filepath.Base(filepath.Clean(dir)), Test: test}
	// split before decoding so a refused split costs nothing
	if ds.Train, ds.Val, err = splitVal(train, opt, trainDir); err != nil {
		return nil, err
	}
	if opt.SkipTest {
		maskPaths = nil
	}
	opt.dropSkipped(ds)
	jobs := normalJobs(ds)
	for i := range ds.Test {
		jobs = append(jobs, loadJob{s: &ds.Test[i], maskPath: maskPaths[i]})
	}
	if err := loadSamples(jobs, opt); err != nil {
		return nil, err
	}
	finishMasks(ds)
	return ds, nil
}
