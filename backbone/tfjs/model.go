// Package tfjs reads TensorFlow.js layers models (model.json: a Keras
// functional-model topology plus a weights manifest over binary shards)
// and converts them to an ONNX graph the engine runs, with batch
// normalisation folded into the convolutions and NHWC weights transposed
// to the engine's NCHW layout.
package tfjs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Limits that keep a corrupt or hostile model.json from allocating
// without bound.
const (
	maxLayers  = 100000
	maxWeights = 1 << 31 // bytes across all weights
)

// Model is a parsed layers model.
type Model struct {
	Name     string
	Layers   []Layer
	Inputs   []string // input layer names
	Outputs  []string // output layer names
	Manifest []WeightGroup
}

// Layer is one Keras layer: its class, raw config and the layers it
// reads (in order).
type Layer struct {
	Name    string
	Class   string
	Config  map[string]json.RawMessage
	Inbound []string
}

// WeightGroup is one manifest entry: shards read in order, holding the
// weights back to back.
type WeightGroup struct {
	Paths   []string     `json:"paths"`
	Weights []WeightSpec `json:"weights"`
}

// WeightSpec describes one stored weight.
type WeightSpec struct {
	Name         string        `json:"name"`
	Shape        []int         `json:"shape"`
	DType        string        `json:"dtype"`
	Quantization *Quantization `json:"quantization,omitempty"`
}

// Quantization is TF.js's affine weight quantisation: v = q*Scale + Min.
type Quantization struct {
	DType string  `json:"dtype"`
	Min   float32 `json:"min"`
	Scale float32 `json:"scale"`
}

// Weight is a dequantised float32 weight in Keras layout.
type Weight struct {
	Shape []int
	Data  []float32
}

// Weights maps manifest names (e.g. "conv1/kernel") to values.
type Weights map[string]Weight

type jsonLayer struct {
	Name         string                     `json:"name"`
	ClassName    string                     `json:"class_name"`
	Config       map[string]json.RawMessage `json:"config"`
	InboundNodes json.RawMessage            `json:"inbound_nodes"`
}

// Parse reads a model.json (the layers-model format).
func Parse(modelJSON []byte) (*Model, error) {
	var top struct {
		Format          string          `json:"format"`
		ModelTopology   json.RawMessage `json:"modelTopology"`
		WeightsManifest []WeightGroup   `json:"weightsManifest"`
	}
	if err := json.Unmarshal(modelJSON, &top); err != nil {
		return nil, fmt.Errorf("tfjs: model.json: %v", err)
	}
	if top.Format != "" && top.Format != "layers-model" {
		return nil, fmt.Errorf("tfjs: model.json: format %q, want layers-model (graph models are not supported)", top.Format)
	}
	if len(top.ModelTopology) == 0 {
		return nil, errors.New("tfjs: model.json: no modelTopology")
	}
	// The topology is either the Keras model config itself or wraps it
	// in model_config (Keras' to_json with version fields).
	var wrap struct {
		ModelConfig json.RawMessage `json:"model_config"`
	}
	topo := top.ModelTopology
	if err := json.Unmarshal(topo, &wrap); err == nil && len(wrap.ModelConfig) > 0 {
		topo = wrap.ModelConfig
	}
	var mc struct {
		ClassName string `json:"class_name"`
		Config    struct {
			Name         string          `json:"name"`
			Layers       []jsonLayer     `json:"layers"`
			InputLayers  json.RawMessage `json:"input_layers"`
			OutputLayers json.RawMessage `json:"output_layers"`
		} `json:"config"`
	}
	if err := json.Unmarshal(topo, &mc); err != nil {
		return nil, fmt.Errorf("tfjs: model.json: modelTopology: %v", err)
	}
	if mc.ClassName != "Model" && mc.ClassName != "Functional" {
		return nil, fmt.Errorf("tfjs: model.json: model class %q: only Keras functional models (Model, Functional) are supported", mc.ClassName)
	}
	if n := len(mc.Config.Layers); n == 0 || n > maxLayers {
		return nil, fmt.Errorf("tfjs: model.json: %d layers", n)
	}
	m := &Model{Name: mc.Config.Name, Manifest: top.WeightsManifest}
	seen := map[string]bool{}
	for i, jl := range mc.Config.Layers {
		if jl.Name == "" {
			return nil, fmt.Errorf("tfjs: model.json: layer %d has no name", i)
		}
		if seen[jl.Name] {
			return nil, fmt.Errorf("tfjs: model.json: layer name %q repeats", jl.Name)
		}
		seen[jl.Name] = true
		in, err := parseInbound(jl.InboundNodes)
		if err != nil {
			return nil, fmt.Errorf("tfjs: model.json: layer %q: inbound_nodes: %w", jl.Name, err)
		}
		m.Layers = append(m.Layers, Layer{Name: jl.Name, Class: jl.ClassName, Config: jl.Config, Inbound: in})
	}
	var err error
	if m.Inputs, err = layerRefs(mc.Config.InputLayers); err != nil {
		return nil, fmt.Errorf("tfjs: model.json: input_layers: %w", err)
	}
	if m.Outputs, err = layerRefs(mc.Config.OutputLayers); err != nil {
		return nil, fmt.Errorf("tfjs: model.json: output_layers: %w", err)
	}
	for _, n := range append(append([]string(nil), m.Inputs...), m.Outputs...) {
		if !seen[n] {
			return nil, fmt.Errorf("tfjs: model.json: input/output layer %q is not a layer", n)
		}
	}
	for gi, g := range m.Manifest {
		for _, w := range g.Weights {
			if w.Name == "" {
				return nil, fmt.Errorf("tfjs: model.json: weightsManifest group %d has a weight without a name", gi)
			}
			for _, d := range w.Shape {
				if d < 0 || d > 1<<28 {
					return nil, fmt.Errorf("tfjs: weight %q: bad shape %v", w.Name, w.Shape)
				}
			}
		}
	}
	return m, nil
}

// parseInbound reads Keras' inbound_nodes: a list of calls, each a list
// of [layer, node_index, tensor_index, kwargs]. Layers called more than
// once (shared layers) are not supported.
func parseInbound(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var calls [][][]json.RawMessage
	if err := json.Unmarshal(raw, &calls); err != nil {
		return nil, err
	}
	if len(calls) == 0 {
		return nil, nil
	}
	if len(calls) > 1 {
		return nil, fmt.Errorf("layer is called %d times (shared layers are not supported)", len(calls))
	}
	var out []string
	for _, ref := range calls[0] {
		if len(ref) < 1 {
			return nil, errors.New("empty reference")
		}
		var name string
		if err := json.Unmarshal(ref[0], &name); err != nil {
			return nil, err
		}
		if len(ref) >= 3 {
			var node, tidx int
			if json.Unmarshal(ref[1], &node) != nil || json.Unmarshal(ref[2], &tidx) != nil || node != 0 || tidx != 0 {
				return nil, fmt.Errorf("reference to %q uses node/tensor index other than 0 (multi-output or shared layers are not supported)", name)
			}
		}
		out = append(out, name)
	}
	return out, nil
}

// layerRefs reads input_layers/output_layers: [[name, 0, 0], ...].
func layerRefs(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	var refs [][]json.RawMessage
	if err := json.Unmarshal(raw, &refs); err != nil {
		return nil, err
	}
	var out []string
	for _, r := range refs {
		var name string
		if len(r) < 1 || json.Unmarshal(r[0], &name) != nil {
			return nil, errors.New("bad reference")
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

// numel returns the element count of shape, or -1 when it overflows the
// weight limit.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > maxWeights/d) {
			return -1
		}
		n *= d
	}
	return n
}

// ReadWeights reads every manifest weight from its group's shards,
// fetched by path through read. A shard list shorter than the weights it
// must hold, a dtype other than float32 or a uint8 quantisation, and a
// repeated name are errors naming the weight.
func (m *Model) ReadWeights(read func(path string) ([]byte, error)) (Weights, error) {
	ws := Weights{}
	total := 0
	for gi, g := range m.Manifest {
		var buf []byte
		for _, p := range g.Paths {
			b, err := read(p)
			if err != nil {
				return nil, fmt.Errorf("tfjs: weights group %d: shard %q: %w", gi, p, err)
			}
			buf = append(buf, b...)
		}
		off := 0
		for _, spec := range g.Weights {
			n := numel(spec.Shape)
			if n < 0 || total+n > maxWeights/4 {
				return nil, fmt.Errorf("tfjs: weight %q: shape %v is too large", spec.Name, spec.Shape)
			}
			total += n
			size := 4
			switch {
			case spec.Quantization != nil:
				if spec.Quantization.DType != "uint8" {
					return nil, fmt.Errorf("tfjs: weight %q: quantisation dtype %q is not supported (only uint8)", spec.Name, spec.Quantization.DType)
				}
				if spec.DType != "float32" {
					return nil, fmt.Errorf("tfjs: weight %q: dtype %q is not supported (want float32)", spec.Name, spec.DType)
				}
				size = 1
			case spec.DType != "float32":
				return nil, fmt.Errorf("tfjs: weight %q: dtype %q is not supported (want float32 or uint8-quantised float32)", spec.Name, spec.DType)
			}
			need := n * size
			if off+need > len(buf) {
				return nil, fmt.Errorf("tfjs: weight %q: needs bytes %d..%d of group %d but its shards %v hold %d bytes (truncated shard?)",
					spec.Name, off, off+need, gi, g.Paths, len(buf))
			}
			v := make([]float32, n)
			raw := buf[off : off+need]
			if size == 1 {
				q := spec.Quantization
				for i, b := range raw {
					v[i] = float32(b)*q.Scale + q.Min
				}
			} else {
				for i := range v {
					v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				}
			}
			off += need
			if _, dup := ws[spec.Name]; dup {
				return nil, fmt.Errorf("tfjs: weight %q is listed twice in the manifest", spec.Name)
			}
			ws[spec.Name] = Weight{Shape: append([]int(nil), spec.Shape...), Data: v}
		}
	}
	return ws, nil
}

// ReadDir reads dir/model.json and its shards (paths relative to dir; a
// path leaving dir is refused).
func ReadDir(dir string) (*Model, Weights, error) {
	b, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("tfjs: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	ws, err := m.ReadWeights(func(p string) ([]byte, error) {
		if !filepath.IsLocal(p) || strings.Contains(p, "\\") {
			return nil, fmt.Errorf("shard path %q leaves the model folder", p)
		}
		return os.ReadFile(filepath.Join(dir, p))
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, ws, nil
}
