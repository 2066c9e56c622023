package pipeline

import (
	"encoding/json"
	"fmt"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/detector"
)

// Provenance records what a model was fitted on, so that evaluation can
// reproduce the split it was fitted with and refuse any test image that
// was used to fit or calibrate it.
type Provenance struct {
	Data        string            `json:"data"`   // the data as given, e.g. a folder
	Layout      string            `json:"layout"` // dataset layout
	Split       dataset.SplitInfo `json:"split"`
	Calibration string            `json:"calibration"` // "split" or "cv:K"
	NTrain      int               `json:"n_train"`
	NVal        int               `json:"n_val"`
	// Fitted holds the SHA-256 (hex) of every training and validation
	// image, sorted.
	Fitted []string `json:"fitted_sha256"`
	// Tiling, when set, is how images are cut into tiles.
	Tiling *Tiling `json:"tiling,omitempty"`
}

// Model is a fitted detector loaded from a model file with its decision
// calibration and provenance.
type Model struct {
	Path     string
	Detector detector.Detector
	Meta     detector.Meta
	Calib    decision.Calibration
	// Prov is nil for models written before provenance was recorded.
	Prov *Provenance
}

// LoadModel reads a model file written by Fit. backboneDir, when not
// empty, is searched first for the model's backbone.
func LoadModel(path, backboneDir string) (*Model, error) {
	if err := checkInput("model", path, false); err != nil {
		return nil, err
	}
	det, meta, err := detector.Load(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Path: path, Detector: det, Meta: meta}
	if len(meta.Calibration) == 0 {
		return nil, fmt.Errorf("model %s: no calibration stored (fit it with 'vigil fit')", path)
	}
	if err := json.Unmarshal(meta.Calibration, &m.Calib); err != nil {
		return nil, fmt.Errorf("model %s: calibration: %v", path, err)
	}
	if err := validateCalibration(m.Calib); err != nil {
		return nil, fmt.Errorf("model %s: calibration: %w", path, err)
	}
	if len(meta.Provenance) > 0 {
		m.Prov = new(Provenance)
		if err := json.Unmarshal(meta.Provenance, m.Prov); err != nil {
			return nil, fmt.Errorf("model %s: provenance: %v", path, err)
		}
	}
	if backboneDir != "" {
		if s, ok := det.(detector.BackboneDirSetter); ok {
			s.SetBackboneDir(backboneDir)
		}
	}
	if c, ok := det.(detector.Checker); ok {
		if err := c.Check(); err != nil {
			return nil, fmt.Errorf("model %s: %w", path, err)
		}
	}
	if m.Prov != nil && m.Prov.Tiling != nil {
		if err := m.Prov.Tiling.validate(); err != nil {
			return nil, fmt.Errorf("model %s: tiling: %w", path, err)
		}
		m.Detector = withTiling(det, m.Prov.Tiling)
	}
	return m, nil
}

// validateCalibration refuses a calibration that could not have come from
// Fit: a threshold or validation score that is not finite would make
// decisions meaningless (NaN >= t is false: "normal").
func validateCalibration(c decision.Calibration) error {
	if !finite(c.Threshold) {
		return fmt.Errorf("threshold is %v", c.Threshold)
	}
	if !(c.Alpha > 0 && c.Alpha < 1) {
		return fmt.Errorf("alpha %v is outside (0,1)", c.Alpha)
	}
	for i, v := range c.ValScores {
		if !finite(v) {
			return fmt.Errorf("validation score %d is %v", i, v)
		}
		if i > 0 && v < c.ValScores[i-1] {
			return fmt.Errorf("validation scores are not sorted")
		}
	}
	if c.PixelThreshold != nil && !finite(*c.PixelThreshold) {
		return fmt.Errorf("pixel threshold is %v", *c.PixelThreshold)
	}
	return nil
}
