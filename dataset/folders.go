package dataset

import (
	"fmt"
	"math"
	"path/filepath"
)

// AnomalyDefect is the Defect name LoadFolders gives to anomalous images.
const AnomalyDefect = "anomaly"

// LoadFolders builds a dataset from plain folders of images:
//
//   - normalDir holds normal images. A seeded random 20% of them (at least
//     1) are held out as normal test images; Val is then carved from the
//     rest as in LoadMVTec, and what remains is Train.
//   - abnormalDir ("" for none) holds anomalous images; all of them are
//     test samples with Defect "anomaly".
//   - masksDir ("" for none) holds masks matched to anomalous images by
//     file stem: <stem>_mask.* is preferred, else <stem>.* (any image
//     format). Masks must match their image size. When every anomalous
//     image has a mask, HasMasks is set and normal test images get an
//     all-zero mask.
//
// Files are taken in name order; hidden and non-image files are ignored.
func LoadFolders(normalDir, abnormalDir, masksDir string, opt Options) (*Dataset, error) {
	if err := requireDir(normalDir, "normal images"); err != nil {
		return nil, err
	}
	normals, err := folderSamples(normalDir, "good", 0)
	if err != nil {
		return nil, err
	}
	n := len(normals)
	nTest := max(1, int(math.Round(0.2*float64(n))))
	if n-nTest < 1 {
		return nil, fmt.Errorf("dataset: %s has %d normal images; need at least 2 (20%% are held out for testing)", normalDir, n)
	}
	rest, testNormals := partition(normals, pickSubset(n, nTest, opt.Seed, streamTestNorm))
	ds := &Dataset{Name: filepath.Base(filepath.Clean(normalDir))}
	if ds.Train, ds.Val, err = splitVal(rest, opt, normalDir); err != nil {
		return nil, err
	}
	var abnormal []Sample
	if abnormalDir != "" {
		if err := requireDir(abnormalDir, "anomalous images"); err != nil {
			return nil, err
		}
		if abnormal, err = folderSamples(abnormalDir, AnomalyDefect, 1); err != nil {
			return nil, err
		}
	}
	var masks map[string]string
	if masksDir != "" {
		if err := requireDir(masksDir, "mask"); err != nil {
			return nil, err
		}
		files, err := listImages(masksDir)
		if err != nil {
			return nil, err
		}
		masks = maskIndex(files, true)
	}
	ds.Test = append(testNormals, abnormal...)
	opt.dropSkipped(ds)
	jobs := normalJobs(ds)
	for i := range ds.Test {
		j := loadJob{s: &ds.Test[i]}
		if ds.Test[i].Label == 1 {
			if f := masks[stem(filepath.Base(ds.Test[i].Path))]; f != "" {
				j.maskPath = filepath.Join(masksDir, f)
			}
		}
		jobs = append(jobs, j)
	}
	if err := loadSamples(jobs, opt); err != nil {
		return nil, err
	}
	finishMasks(ds)
	return ds, nil
}
