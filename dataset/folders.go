package dataset

import (
	"path/filepath"
)

// AnomalyDefect is the Defect name given to anomalous images of layouts
// without defect types (folders, NanoTWICE, a manifest without a defect
// column).
const AnomalyDefect = "anomaly"

// LoadFolders builds a dataset from plain folders of images; it is Load
// with Source{Layout: "folders", Normal: normalDir, Abnormal: abnormalDir,
// Masks: masksDir}.
func LoadFolders(normalDir, abnormalDir, masksDir string, opt Options) (*Dataset, error) {
	return Load(Source{Layout: LayoutFolders, Normal: normalDir, Abnormal: abnormalDir, Masks: masksDir}, opt)
}

// loadFolders reads plain folders:
//
//   - normalDir holds normal images. A seeded TestFraction (20%, at least
//     1) of them are held out as normal test images; Val is then carved
//     from the rest, and what remains is Train.
//   - abnormalDir ("" for none) holds anomalous images; all of them are
//     test samples with Defect "anomaly".
//   - masksDir ("" for none) holds masks matched to anomalous images by
//     file stem: <stem>_mask.* is preferred, else <stem>.*.
func loadFolders(normalDir, abnormalDir, masksDir string, opt Options) (*Dataset, error) {
	if err := requireDir(normalDir, "normal images"); err != nil {
		return nil, err
	}
	normals, err := folderSamples(normalDir, "good", 0)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: filepath.Base(filepath.Clean(normalDir)), Layout: LayoutFolders, Split: opt.splitInfo(opt.testFraction())}
	var testNormals []Sample
	if ds.Train, ds.Val, testNormals, err = holdOutNormals(normals, opt, normalDir); err != nil {
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
	var maskFiles []string
	if masksDir != "" {
		if err := requireDir(masksDir, "mask"); err != nil {
			return nil, err
		}
		files, err := listImages(masksDir)
		if err != nil {
			return nil, err
		}
		masks = maskIndex(files, true)
		for _, f := range files {
			maskFiles = append(maskFiles, filepath.Join(masksDir, f))
		}
	}
	used := map[string]bool{}
	for i := range abnormal {
		if f := masks[stem(filepath.Base(abnormal[i].Path))]; f != "" {
			mp := filepath.Join(masksDir, f)
			abnormal[i].MaskPaths = []string{mp}
			used[mp] = true
		}
	}
	// a stem's plain-named file loses to its _mask file: not an orphan
	for st, f := range masks {
		if used[filepath.Join(masksDir, f)] {
			for _, g := range maskFilesOfStem(maskFiles, st) {
				used[g] = true
			}
		}
	}
	ds.Test = append(testNormals, abnormal...)
	if !opt.SkipTest {
		ds.Warnings = orphanWarnings(masksDir, maskFiles, used)
	}
	return finished(ds, opt)
}

// maskFilesOfStem returns the files named <st>.* or <st>_mask.*.
func maskFilesOfStem(files []string, st string) []string {
	var out []string
	for _, f := range files {
		s := stem(filepath.Base(f))
		if s == st || s == st+"_mask" {
			out = append(out, f)
		}
	}
	return out
}
