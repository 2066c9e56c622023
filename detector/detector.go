// Package detector is the contract every anomaly detection method meets,
// the registry of methods by name, and model persistence as one
// safetensors file.
package detector

import (
	"context"
	"encoding/json"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/train"
)

// Result is the outcome of scoring one image.
type Result struct {
	Score float64      // higher is more anomalous
	Map   *imageio.Map // anomaly map at the input image's resolution; nil if the method has none
}

// Detector learns normality from defect-free images and scores new ones.
// Images arrive as decoded by imageio (values in [0,1], any size and
// channel count); each detector does its own preprocessing and returns
// maps at the size of the image it was given.
type Detector interface {
	// Method is the registry name, e.g. "pcarecon".
	Method() string
	// Fit learns from normal images only.
	Fit(ctx context.Context, train []*imageio.Image) error
	// Score returns one Result per image, in order.
	Score(ctx context.Context, images []*imageio.Image) ([]Result, error)
	// Config returns the JSON-serialisable configuration (hyper-parameters
	// and preprocessing) that, with Tensors, restores the fitted model.
	Config() any
	// Tensors returns the fitted state for saving.
	Tensors() []safetensors.Tensor
	// Restore loads fitted state produced by Config and Tensors; it must
	// check every tensor's presence and shape and fail with an error
	// naming the tensor otherwise.
	Restore(config json.RawMessage, tensors map[string]safetensors.Tensor) error
}

// Factory makes an unfitted detector from a JSON configuration (nil or
// empty means defaults).
type Factory func(config json.RawMessage) (Detector, error)

// Checker is implemented by detectors that depend on resources outside
// the model file (a backbone); Check verifies that they can be found, so a
// missing backbone is reported before any data is read.
type Checker interface {
	Check() error
}

// BackboneDirSetter is implemented by detectors that load a backbone by
// name; SetBackboneDir makes a loaded model look for it in dir first
// (vigil test/predict --backbone-dir).
type BackboneDirSetter interface {
	SetBackboneDir(dir string)
}

// StreamFitter is implemented by detectors that can fit on images fetched
// batch by batch (load(lo, hi) returns images lo..hi-1, called once per
// batch, in order), so the pipeline holds one batch of decoded training
// images instead of all of them.
type StreamFitter interface {
	FitStream(ctx context.Context, n int, load func(lo, hi int) ([]*imageio.Image, error)) error
}

// Trainer is implemented by detectors that train a network during Fit;
// the pipeline calls SetTrainSession before Fit to say where checkpoints
// go, whether to resume (vigil fit --resume) and where progress goes.
type Trainer interface {
	SetTrainSession(s train.Session)
}
