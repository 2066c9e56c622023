package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// testSamples lists one test/<defect> folder: "good" images are normal
// (label 0), any other defect's anomalous (label 1).
func testSamples(dir, defect string) ([]Sample, error) {
	label := 1
	if defect == "good" {
		label = 0
	}
	return folderSamples(dir, defect, label)
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

// LoadMVTec reads a dataset in the MVTec AD layout:
//
//	dir/train/good/*              normal training images
//	dir/test/good/*               normal test images
//	dir/test/<defect>/*           anomalous test images
//	dir/ground_truth/<defect>/<name>_mask.png   optional masks
//
// It is Load with Source{Layout: "mvtec", Dir: dir}.
func LoadMVTec(dir string, opt Options) (*Dataset, error) {
	return Load(Source{Layout: LayoutMVTec, Dir: dir}, opt)
}

// loadMVTec lists an MVTec AD category. Files are taken in name order;
// hidden and non-image files are ignored. The ground_truth folder may be
// absent; masks that exist must match their image size. Val is carved from
// train/good by opt. With SkipTrain, train/ may be absent.
func loadMVTec(dir string, opt Options) (*Dataset, error) {
	trainDir := filepath.Join(dir, "train", "good")
	testDir := filepath.Join(dir, "test")
	gtDir := filepath.Join(dir, "ground_truth")
	if err := requireDir(dir, "dataset"); err != nil {
		return nil, err
	}
	if !opt.SkipTrain {
		if err := requireDir(trainDir, "training"); err != nil {
			return nil, err
		}
	}
	if err := requireDir(testDir, "test"); err != nil {
		return nil, err
	}
	ds := &Dataset{Name: filepath.Base(filepath.Clean(dir)), Layout: LayoutMVTec, Split: opt.splitInfo(0)}
	if err := normalSplits(ds, trainDir, "", opt); err != nil {
		return nil, err
	}
	defects, err := listSubdirs(testDir)
	if err != nil {
		return nil, err
	}
	haveGT := requireDir(gtDir, "ground truth") == nil
	var maskFiles []string
	used := map[string]bool{}
	for _, d := range defects {
		ss, err := testSamples(filepath.Join(testDir, d), d)
		if err != nil {
			return nil, err
		}
		var masks map[string]string
		if haveGT && d != "good" {
			if mdir := filepath.Join(gtDir, d); requireDir(mdir, "mask") == nil {
				files, err := listImages(mdir)
				if err != nil {
					return nil, err
				}
				masks = maskIndex(files, false)
				for _, f := range files {
					maskFiles = append(maskFiles, filepath.Join(mdir, f))
				}
			}
		}
		for _, s := range ss {
			if f := masks[stem(filepath.Base(s.Path))]; f != "" {
				mp := filepath.Join(gtDir, d, f)
				s.MaskPaths = []string{mp}
				used[mp] = true
			}
			ds.Test = append(ds.Test, s)
		}
	}
	if len(ds.Test) == 0 {
		return nil, fmt.Errorf("dataset: no test images under %s", testDir)
	}
	// masks of a defect without a test folder are orphans too
	if gtDefects, err := listSubdirs(gtDir); haveGT && err == nil {
		for _, d := range gtDefects {
			if !slices.Contains(defects, d) {
				files, _ := listImages(filepath.Join(gtDir, d))
				for _, f := range files {
					maskFiles = append(maskFiles, filepath.Join(gtDir, d, f))
				}
			}
		}
	}
	if !opt.SkipTest {
		ds.Warnings = orphanWarnings(dir, maskFiles, used)
	}
	return finished(ds, opt)
}
