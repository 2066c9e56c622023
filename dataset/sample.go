// Package dataset reads anomaly-detection datasets (MVTec AD layout, plain
// folders, IDX files) and generates the embedded demo data.
//
// Every loader returns the same Dataset: Train and Val hold normal images
// only, Val being a seeded random part of the training normals
// (max(MinVal, round(ValFraction·n)), by default max(5, 10%)) kept for
// calibration; Test holds normal (Label 0, Defect "good") and anomalous
// (Label 1) images. Random choices depend only on Options.Seed.
//
//   - LoadMVTec reads train/good, test/<defect> and the optional
//     ground_truth/<defect>/<name>_mask.png of the MVTec AD layout.
//   - LoadFolders reads a folder of normal images, of which a seeded 20%
//     (at least one) become normal test images before Val is carved from
//     the rest, an optional folder of anomalous images (all test, Defect
//     "anomaly") and an optional folder of masks matched by file stem
//     (<stem>_mask.* preferred, else <stem>.*).
//   - LoadIDX reads MNIST-style IDX files under the one-class protocol.
//   - Demo generates procedural textures with synthetic defects and exact
//     masks; WriteMVTec writes any Dataset in the MVTec layout.
//
// Images keep their native size and channel count (1 for gray, 3 for
// colour; see imageio.Load); masks are 0/1 at image resolution. When every
// anomalous test image has a mask, HasMasks is set and normal test images
// carry an all-zero mask; otherwise masks are nil where unknown.
package dataset

import "github.com/vigil-ad/vigil/imageio"

// Sample is one image of a dataset with its ground truth.
type Sample struct {
	Path   string         // source file, or a synthetic name for generated data
	Name   string         // short unique name within the split, e.g. "crack/003"
	Label  int            // 0 normal, 1 anomalous
	Defect string         // "good" for normal images, else the defect type
	Image  *imageio.Image // decoded, values in [0,1]
	Mask   *imageio.Map   // ground truth 0/1 at image resolution; nil when unknown
}

// Dataset holds the splits. Val is carved from the training normals and is
// used only for calibration.
type Dataset struct {
	Name     string
	Train    []Sample // normal only
	Val      []Sample // normal only, disjoint from Train
	Test     []Sample
	HasMasks bool // every anomalous test sample has a mask
}
