package dataset

import (
	"fmt"
	"path/filepath"
	"strings"
)

// loadNanoTWICE reads the NanoTWICE layout: dir/Normal/* normal images
// (split like folders), dir/Anomalous/images/* anomalous images and
// dir/Anomalous/gt/* their masks, matched by stem with an optional _gt or
// _mask suffix.
func loadNanoTWICE(dir string, opt Options) (*Dataset, error) {
	normalDir := filepath.Join(dir, "Normal")
	imgDir := filepath.Join(dir, "Anomalous", "images")
	gtDir := filepath.Join(dir, "Anomalous", "gt")
	if err := requireDir(normalDir, "normal images"); err != nil {
		return nil, err
	}
	normals, err := folderSamples(normalDir, "good", 0)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: filepath.Base(filepath.Clean(dir)), Layout: LayoutNanoTWICE, Split: opt.splitInfo(opt.testFraction())}
	var testNormals []Sample
	if ds.Train, ds.Val, testNormals, err = holdOutNormals(normals, opt, normalDir); err != nil {
		return nil, err
	}
	if err := requireDir(imgDir, "anomalous images"); err != nil {
		return nil, err
	}
	abnormal, err := folderSamples(imgDir, AnomalyDefect, 1)
	if err != nil {
		return nil, err
	}
	masks := map[string]string{}
	var maskFiles []string
	if files, err := listImages(gtDir); err == nil {
		for _, f := range files {
			st := stem(f)
			for _, suf := range []string{"_gt", "_mask"} {
				st = strings.TrimSuffix(st, suf)
			}
			if prev, ok := masks[st]; ok {
				return nil, fmt.Errorf("dataset: %s holds both %s and %s for image %s", gtDir, prev, f, st)
			}
			masks[st] = f
			maskFiles = append(maskFiles, filepath.Join(gtDir, f))
		}
	}
	used := map[string]bool{}
	for i := range abnormal {
		if f, ok := masks[stem(filepath.Base(abnormal[i].Path))]; ok {
			mp := filepath.Join(gtDir, f)
			abnormal[i].MaskPaths = []string{mp}
			used[mp] = true
		}
	}
	ds.Test = append(testNormals, abnormal...)
	if !opt.SkipTest {
		ds.Warnings = orphanWarnings(dir, maskFiles, used)
	}
	return finished(ds, opt)
}
