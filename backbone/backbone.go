// Package backbone provides pretrained CNN feature extractors (TFLite and
// ONNX imports) for the feature-based detectors.
package backbone

import "github.com/vigil-ad/vigil/tensor"

// Extractor maps a batch of images to feature maps at a few taps.
type Extractor interface {
	// Name identifies the backbone (e.g. "mobilenet_v2" or a file name).
	Name() string
	// Features runs the network on x, shape N×3×H×W with RGB values in
	// [0,1] (the extractor applies its own input normalisation), and
	// returns one map per tap, shape N×C_i×H/s_i×W/s_i (rounded as the
	// network rounds), in tap order.
	Features(x *tensor.Tensor) ([]*tensor.Tensor, error)
	// Taps describes the tapped layers in the order Features returns them.
	Taps() []Tap
}

// Tap describes one tapped layer.
type Tap struct {
	Name     string // layer or tensor name in the source network
	Stride   int    // input pixels per feature cell
	Channels int
}
