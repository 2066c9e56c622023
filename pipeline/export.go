package pipeline

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/version"
)

// Export writes the model file at modelPath as one ONNX graph at out
// (atomically): backbone and scoring head, input "image" [1,3,S,S] RGB in
// [0,1] after the model's resize (and crop), outputs "score" [1] and "map"
// [1,1,S,S] ("score" only for methods without a map: deepsvdd, svdd,
// geotrans). The metadata_props document the preprocessing, the outputs,
// the method, the decision threshold and the Vigil version. backboneDir,
// when not empty, is searched first for the model's backbone. Methods that
// do not implement detector.Exporter, and tiled models, are refused.
func Export(modelPath, backboneDir, out string) error {
	if err := checkOutFile("out", out); err != nil {
		return err
	}
	m, err := LoadModel(modelPath, backboneDir)
	if err != nil {
		return err
	}
	if m.Prov != nil && m.Prov.Tiling != nil {
		return fmt.Errorf("model %s is tiled (scored tile by tile, maps blended); tiled models are not exportable", modelPath)
	}
	ex, ok := m.Detector.(detector.Exporter)
	if !ok {
		return fmt.Errorf("model %s: method %s cannot be exported to ONNX (exportable: %s)", modelPath, m.Detector.Method(), exportable())
	}
	om, err := ex.ExportONNX()
	if err != nil {
		return fmt.Errorf("model %s: %w", modelPath, err)
	}
	cfg, err := json.Marshal(m.Detector.Config())
	if err != nil {
		return fmt.Errorf("model %s: config: %v", modelPath, err)
	}
	om.ProducerName = "vigil"
	c := m.Calib
	om.Metadata = append(om.Metadata,
		onnx.MetadataProp{Key: "vigil.method", Value: m.Detector.Method()},
		onnx.MetadataProp{Key: "vigil.config", Value: string(cfg)},
		onnx.MetadataProp{Key: "vigil.threshold", Value: strconv.FormatFloat(c.Threshold, 'g', -1, 64)},
		onnx.MetadataProp{Key: "vigil.decision", Value: fmt.Sprintf("anomalous when score >= vigil.threshold (%s rule, target false-positive rate %g on %d validation images)", c.Method, c.Alpha, c.NVal)},
		onnx.MetadataProp{Key: "vigil.model", Value: filepath.Base(modelPath)},
		onnx.MetadataProp{Key: "vigil.version", Value: version.Version},
	)
	if c.PixelThreshold != nil {
		om.Metadata = append(om.Metadata, onnx.MetadataProp{Key: "vigil.pixel_threshold", Value: strconv.FormatFloat(*c.PixelThreshold, 'g', -1, 64)})
	}
	return onnx.WriteFile(out, om)
}

// exportable lists the registered methods that implement
// detector.Exporter.
func exportable() string {
	var names []string
	for _, name := range detector.Methods() {
		d, err := detector.New(name, nil)
		if err != nil {
			continue
		}
		if _, ok := d.(detector.Exporter); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none registered"
	}
	return strings.Join(names, ", ")
}
