// Package dataset reads anomaly-detection datasets (MVTec AD layout, plain
// folders, IDX files) and generates the embedded demo data.
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
