package dataset

import (
	"fmt"
	"path/filepath"

	"github.com/vigil-ad/vigil/imageio"
)

// AuxXYZ is the Sample.Aux key of an MVTec 3D-AD point cloud file.
const AuxXYZ = "xyz"

// loadMVTec3D reads an MVTec 3D-AD category:
//
//	dir/train/good/{rgb,xyz}/*          normal training images and point clouds
//	dir/validation/good/{rgb,xyz}/*     Val (carved from train when absent)
//	dir/test/<defect>/{rgb,gt,xyz}/*    test images, masks (good has all-zero ones), point clouds
//
// The RGB images are the samples; Aux["xyz"] names the point cloud
// (<stem>.tiff), which LoadXYZ reads.
func loadMVTec3D(dir string, opt Options) (*Dataset, error) {
	if err := requireDir(dir, "dataset"); err != nil {
		return nil, err
	}
	ds := &Dataset{Name: filepath.Base(filepath.Clean(dir)), Layout: LayoutMVTec3D, Split: opt.splitInfo(0)}
	if err := normalSplits(ds, filepath.Join(dir, "train", "good", "rgb"), filepath.Join(dir, "validation", "good", "rgb"), opt); err != nil {
		return nil, err
	}
	noXYZ := 0
	attach := func(ss []Sample) {
		for i := range ss {
			rgbDir := filepath.Dir(ss[i].Path)
			if p := xyzFor(filepath.Join(filepath.Dir(rgbDir), "xyz"), stem(filepath.Base(ss[i].Path))); p != "" {
				ss[i].Aux = map[string]string{AuxXYZ: p}
			} else {
				noXYZ++
			}
		}
	}
	attach(ds.Train)
	attach(ds.Val)
	testDir := filepath.Join(dir, "test")
	if err := requireDir(testDir, "test"); err != nil {
		return nil, err
	}
	defects, err := listSubdirs(testDir)
	if err != nil {
		return nil, err
	}
	var maskFiles []string
	used := map[string]bool{}
	for _, d := range defects {
		ss, err := testSamples(filepath.Join(testDir, d, "rgb"), d)
		if err != nil {
			return nil, err
		}
		attach(ss)
		gt := filepath.Join(testDir, d, "gt")
		var masks map[string]string
		if files, err := listImages(gt); err == nil {
			masks = maskIndex(files, true)
			for _, f := range files {
				maskFiles = append(maskFiles, filepath.Join(gt, f))
			}
		}
		for _, s := range ss {
			if f := masks[stem(filepath.Base(s.Path))]; f != "" {
				mp := filepath.Join(gt, f)
				s.MaskPaths = []string{mp}
				used[mp] = true
			}
			ds.Test = append(ds.Test, s)
		}
	}
	if len(ds.Test) == 0 {
		return nil, fmt.Errorf("dataset: no test images under %s", filepath.Join(testDir, "<defect>", "rgb"))
	}
	if noXYZ > 0 {
		ds.Warnings = append(ds.Warnings, fmt.Sprintf("%d images have no xyz point cloud", noXYZ))
	}
	if !opt.SkipTest {
		ds.Warnings = append(ds.Warnings, orphanWarnings(dir, maskFiles, used)...)
	}
	return finished(ds, opt)
}

// xyzFor returns the point cloud of stem st in dir (.tiff or .tif), or "".
func xyzFor(dir, st string) string {
	for _, ext := range []string{".tiff", ".tif", ".TIFF", ".TIF"} {
		if p := filepath.Join(dir, st+ext); exists(p, false) {
			return p
		}
	}
	return ""
}

// XYZ reads the sample's point cloud (Aux["xyz"]) with LoadXYZ.
func (s *Sample) XYZ(opt imageio.Options) (*imageio.Image, error) {
	p := s.Aux[AuxXYZ]
	if p == "" {
		return nil, fmt.Errorf("dataset: sample %q has no xyz point cloud", s.Name)
	}
	return LoadXYZ(p, opt)
}
