package detector

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/version"
)

// Meta is what a model file records besides the fitted tensors.
type Meta struct {
	Method        string            `json:"method"`
	Config        json.RawMessage   `json:"config"`
	Preprocessing json.RawMessage   `json:"preprocessing,omitempty"`
	Calibration   json.RawMessage   `json:"calibration,omitempty"` // decision.Calibration, opaque here
	Provenance    json.RawMessage   `json:"provenance,omitempty"`  // what the model was fitted on (pipeline), opaque here
	Version       string            `json:"vigil_version"`
	Format        string            `json:"format"`
	Extra         map[string]string `json:"extra,omitempty"` // e.g. training data path, image size
}

// Preprocessor is implemented by detectors that can describe their input
// preprocessing separately from their other hyper-parameters.
type Preprocessor interface {
	Preprocessing() any
}

// metadata keys in the safetensors __metadata__ map.
const (
	keyFormat  = "format"
	keyMethod  = "method"
	keyConfig  = "config"
	keyPre     = "preprocessing"
	keyCalib   = "calibration"
	keyProv    = "provenance"
	keyVersion = "vigil_version"
	keyExtra   = "extra"
)

// Save writes the fitted detector and meta to path as one safetensors file,
// atomically. meta.Method, Config, Preprocessing, Version and Format are
// filled from d; the caller supplies Calibration and Extra.
func Save(path string, d Detector, meta Meta) error {
	cfg, err := json.Marshal(d.Config())
	if err != nil {
		return fmt.Errorf("saving %s: config: %w", path, err)
	}
	md := map[string]string{
		keyFormat:  version.ModelFormat,
		keyMethod:  d.Method(),
		keyConfig:  string(cfg),
		keyVersion: version.Version,
	}
	if p, ok := d.(Preprocessor); ok {
		pb, err := json.Marshal(p.Preprocessing())
		if err != nil {
			return fmt.Errorf("saving %s: preprocessing: %w", path, err)
		}
		md[keyPre] = string(pb)
	}
	if len(meta.Calibration) > 0 {
		md[keyCalib] = string(meta.Calibration)
	}
	if len(meta.Provenance) > 0 {
		md[keyProv] = string(meta.Provenance)
	}
	if len(meta.Extra) > 0 {
		eb, _ := json.Marshal(meta.Extra)
		md[keyExtra] = string(eb)
	}
	if err := safetensors.WriteFile(path, md, d.Tensors()); err != nil {
		return fmt.Errorf("saving model %s: %w", path, err)
	}
	return nil
}

// Load reads a model file, makes the detector its metadata names and
// restores its fitted state. Truncated files, unknown methods and tensors
// whose shapes do not match the configuration are refused.
func Load(path string) (Detector, Meta, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		if errors.Is(err, safetensors.ErrTruncated) {
			return nil, Meta{}, fmt.Errorf("model %s is truncated or corrupt: %w", path, err)
		}
		return nil, Meta{}, fmt.Errorf("reading model: %w", err)
	}
	md := f.Metadata
	if md[keyFormat] != version.ModelFormat {
		return nil, Meta{}, fmt.Errorf("model %s: format %q, want %q (not a Vigil model?)", path, md[keyFormat], version.ModelFormat)
	}
	meta := Meta{
		Method:  md[keyMethod],
		Config:  json.RawMessage(md[keyConfig]),
		Version: md[keyVersion],
		Format:  md[keyFormat],
	}
	if s, ok := md[keyPre]; ok {
		meta.Preprocessing = json.RawMessage(s)
	}
	if s, ok := md[keyCalib]; ok {
		meta.Calibration = json.RawMessage(s)
	}
	if s, ok := md[keyProv]; ok {
		meta.Provenance = json.RawMessage(s)
	}
	if s, ok := md[keyExtra]; ok {
		if err := json.Unmarshal([]byte(s), &meta.Extra); err != nil {
			return nil, Meta{}, fmt.Errorf("model %s: metadata %q: %v", path, keyExtra, err)
		}
	}
	if meta.Method == "" {
		return nil, Meta{}, fmt.Errorf("model %s: metadata has no method", path)
	}
	d, err := New(meta.Method, meta.Config)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("model %s: %w", path, err)
	}
	if err := d.Restore(meta.Config, f.Tensors); err != nil {
		return nil, Meta{}, fmt.Errorf("model %s: %w", path, err)
	}
	return d, meta, nil
}

// CheckShape returns an error naming the tensor when it is missing or its
// shape differs from want; detectors use it in Restore.
func CheckShape(tensors map[string]safetensors.Tensor, name string, want ...int) (safetensors.Tensor, error) {
	t, ok := tensors[name]
	if !ok {
		return t, fmt.Errorf("tensor %q is missing", name)
	}
	if len(t.Shape) != len(want) {
		return t, fmt.Errorf("tensor %q has shape %v, want %v", name, t.Shape, want)
	}
	for i := range want {
		if want[i] >= 0 && t.Shape[i] != want[i] {
			return t, fmt.Errorf("tensor %q has shape %v, want %v", name, t.Shape, want)
		}
	}
	return t, nil
}

// Float32s is CheckShape followed by decoding to float32 (F32 or F16). A
// NaN or infinite value is refused: fitted state is always finite, and a
// corrupt value would otherwise turn into NaN scores.
func Float32s(tensors map[string]safetensors.Tensor, name string, want ...int) ([]float32, error) {
	t, err := CheckShape(tensors, name, want...)
	if err != nil {
		return nil, err
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("tensor %q holds a non-finite value (%v) at index %d", name, x, i)
		}
	}
	return v, nil
}
