package detector

import "github.com/vigil-ad/vigil/onnx"

// Exporter is implemented by detectors that can write a fitted model,
// backbone and scoring head, as one ONNX graph (vigil export). The graph's
// input is "image", [1,3,S,S] float RGB in [0,1], the image already
// prepared as the detector prepares it (resized, cropped; the
// "vigil.preprocess" metadata entry says how); its outputs are "score" [1]
// (the image score Score returns) and "map" [1,1,S,S] (the anomaly map of
// the prepared input, before it is resized back to the image). Methods
// that score whole images only (no map in Score's results) export "score"
// alone.
type Exporter interface {
	ExportONNX() (*onnx.Model, error)
}

// Names of an exported model's outputs.
const (
	ExportScore = "score"
	ExportMap   = "map"
)
