package osr

import (
	"context"
	"fmt"
	"strconv"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/metrics"
)

// Unknown is the label of a test image of no known class.
const Unknown = -1

// Report is the evaluation of a model on labelled test images.
type Report struct {
	Known   int `json:"known_images"`
	Unknown int `json:"unknown_images"`
	// ClosedSetAccuracy is the argmax accuracy on the known images.
	ClosedSetAccuracy float64 `json:"closed_set_accuracy"`
	// AUROC of each score, unknown images positive.
	AUROCMSP      float64 `json:"auroc_msp"`
	AUROCMaxLogit float64 `json:"auroc_maxlogit"`
	AUROCEnergy   float64 `json:"auroc_energy"`
	// Score is the score thresholded; Threshold its value (unknown iff
	// score >= Threshold), set for target Alpha on the validation images.
	Score     string  `json:"score"`
	Threshold float64 `json:"threshold"`
	Alpha     float64 `json:"alpha"`
	// UnknownFPR is the fraction of known images called unknown;
	// UnknownTPR the fraction of unknown images called unknown.
	UnknownFPR float64 `json:"unknown_fpr"`
	UnknownTPR float64 `json:"unknown_tpr"`
	// OpenSetAccuracy counts a known image right when it is kept and
	// classified correctly, an unknown image when it is called unknown.
	OpenSetAccuracy float64 `json:"open_set_accuracy"`
}

// Evaluate predicts the images (labels: a known class index, or Unknown)
// and computes the report. Without unknown images the AUROCs are
// undefined and the call fails; without known ones too.
func Evaluate(ctx context.Context, m *Model, images []*imageio.Image, labels []int) (Report, error) {
	if len(labels) != len(images) {
		return Report{}, fmt.Errorf("osr: %d labels for %d images", len(labels), len(images))
	}
	preds, err := m.Predict(ctx, images)
	if err != nil {
		return Report{}, err
	}
	r := Report{Score: m.Config.Score, Threshold: m.Threshold.Value, Alpha: m.Threshold.Alpha}
	isUnknown := make([]int, len(labels))
	var correct, rejected, flagged, openRight int
	for i, l := range labels {
		p := preds[i]
		switch {
		case l == Unknown:
			r.Unknown++
			isUnknown[i] = 1
			if p.Unknown {
				flagged++
				openRight++
			}
		case l >= 0 && l < len(m.Classes):
			r.Known++
			if p.Class == l {
				correct++
			}
			if p.Unknown {
				rejected++
			} else if p.Class == l {
				openRight++
			}
		default:
			return Report{}, fmt.Errorf("osr: image %d has label %d (want 0..%d or %d for unknown)", i, l, len(m.Classes)-1, Unknown)
		}
	}
	if r.Known == 0 || r.Unknown == 0 {
		return Report{}, fmt.Errorf("osr: %d known and %d unknown test images: need both", r.Known, r.Unknown)
	}
	r.ClosedSetAccuracy = float64(correct) / float64(r.Known)
	r.UnknownFPR = float64(rejected) / float64(r.Known)
	r.UnknownTPR = float64(flagged) / float64(r.Unknown)
	r.OpenSetAccuracy = float64(openRight) / float64(len(labels))
	for _, s := range Scores {
		v := make([]float64, len(preds))
		for i, p := range preds {
			v[i] = p.Scores[s]
		}
		a, err := metrics.AUROC(v, isUnknown)
		if err != nil {
			return Report{}, fmt.Errorf("osr: AUROC of %s: %w", s, err)
		}
		switch s {
		case "msp":
			r.AUROCMSP = a
		case "maxlogit":
			r.AUROCMaxLogit = a
		case "energy":
			r.AUROCEnergy = a
		}
	}
	return r, nil
}

// IDXKnown reads split ("train" or "t10k") of an IDX dataset and maps its
// labels for the known classes: an image of known[j] gets label j, any
// other class Unknown. Classes are named by their IDX label. With
// knownOnly, images of other classes are dropped.
func IDXKnown(dir, split string, known []int, knownOnly bool) (images []*imageio.Image, labels []int, classes []string, err error) {
	if len(known) < 2 {
		return nil, nil, nil, fmt.Errorf("osr: %d known classes, need at least 2", len(known))
	}
	index := map[int]int{}
	for j, c := range known {
		if _, dup := index[c]; dup {
			return nil, nil, nil, fmt.Errorf("osr: known class %d listed twice", c)
		}
		index[c] = j
		classes = append(classes, strconv.Itoa(c))
	}
	all, raw, err := dataset.LoadIDXClasses(dir, split)
	if err != nil {
		return nil, nil, nil, err
	}
	seen := make([]bool, len(known))
	for i, l := range raw {
		j, ok := index[l]
		if !ok {
			if knownOnly {
				continue
			}
			j = Unknown
		} else {
			seen[j] = true
		}
		images = append(images, all[i])
		labels = append(labels, j)
	}
	for j, s := range seen {
		if !s {
			return nil, nil, nil, fmt.Errorf("osr: %s split %q has no image of known class %d", dir, split, known[j])
		}
	}
	return images, labels, classes, nil
}

// FolderClasses reads a class-folder dataset (every subfolder of dir a
// class). With classes nil every folder is a known class (for fitting);
// else a folder named like classes[j] gets label j and any other folder
// Unknown (for testing).
func FolderClasses(dir string, classes []string) (images []*imageio.Image, labels []int, names []string, err error) {
	paths, raw, folders, err := dataset.ClassFiles(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	mapping := make([]int, len(folders))
	if classes == nil {
		for j := range mapping {
			mapping[j] = j
		}
		names = folders
	} else {
		idx := map[string]int{}
		for j, c := range classes {
			idx[c] = j
		}
		for j, f := range folders {
			if k, ok := idx[f]; ok {
				mapping[j] = k
			} else {
				mapping[j] = Unknown
			}
		}
		names = classes
	}
	for i, p := range paths {
		img, err := imageio.Load(p)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("osr: %w", err)
		}
		images = append(images, img)
		labels = append(labels, mapping[raw[i]])
	}
	return images, labels, names, nil
}
