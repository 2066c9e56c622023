package backbone

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// ImageNetMean and ImageNetStd are the torchvision normalisation constants
// ONNX backbones expect: v = (x - mean[c]) / std[c] for RGB x in [0,1].
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// probeSize is the side of the square probe image used to infer tap
// strides when the model's input size is dynamic (the usual ImageNet
// training size).
const probeSize = 224

// ONNX is an Extractor over an ONNX model run by onnx.Executor. Input
// images are normalised with ImageNetMean/ImageNetStd (the torchvision
// convention every ImageNet ONNX export of ResNet/WideResNet/EfficientNet
// from PyTorch uses). It is safe for concurrent use (runs are serialised
// by the executor).
type ONNX struct {
	name   string
	model  *onnx.Model // the source graph, for ExportONNX
	exec   *onnx.Executor
	input  string
	batch  int // declared fixed batch size, 0 if dynamic
	layers []string
	taps   []Tap
	// norm maps RGB [0,1] input to what the network expects
	// (normaliseImageNet unless the source says otherwise).
	norm func(*tensor.Tensor) *tensor.Tensor
}

var _ Extractor = (*ONNX)(nil)

var errNoONNXInput = errors.New("model has no graph input that is not an initializer")

// NewONNX loads the ONNX model at path and taps the named node outputs.
// With no layers it picks, for strides 4, 8 and 16, the map computed last
// at that resolution. Strides and channel counts are measured on a probe
// image of the declared input size, or 224×224 when it is dynamic
// (stride = probe height / map height). A model exported with a fixed
// batch size is run in chunks of that size.
func NewONNX(path string, layers []string) (*ONNX, error) {
	m, err := onnx.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return newONNXModel(m, path, layers, normaliseImageNet)
}

// newONNXModel is NewONNX on a decoded model, with norm as the input
// normalisation; path names the source in errors and Name.
func newONNXModel(m *onnx.Model, path string, layers []string, norm func(*tensor.Tensor) *tensor.Tensor) (*ONNX, error) {
	var err error
	if m.Graph == nil {
		return nil, fmt.Errorf("onnx: %s: model has no graph", path)
	}
	input, decl, err := onnxInput(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	ph, pw, batch := probeSize, probeSize, 0
	if len(decl) == 4 {
		if decl[0] > 0 {
			batch = int(decl[0])
		}
		if decl[2] > 0 && decl[3] > 0 {
			ph, pw = int(decl[2]), int(decl[3])
		}
	}
	if len(decl) == 4 && decl[1] > 0 && decl[1] != 3 {
		return nil, fmt.Errorf("onnx: %s: input %q has %d channels, want 3 (RGB)", path, input, decl[1])
	}
	if batch > 256 || ph > 4096 || pw > 4096 {
		return nil, fmt.Errorf("onnx: %s: declared input shape %v is too large", path, decl)
	}
	probe := tensor.New(max(batch, 1), 3, ph, pw)
	if len(layers) == 0 {
		layers, err = onnxAutoTaps(m, input, probe, norm)
		if err != nil {
			return nil, fmt.Errorf("onnx: %s: %w", path, err)
		}
	}
	exec, err := onnx.NewExecutor(m, layers)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	e := &ONNX{name: filepath.Base(path), model: m, exec: exec, input: input, batch: batch, layers: layers, norm: norm}
	outs, err := e.run(probe)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: probe run: %w", path, err)
	}
	for i, o := range outs {
		if len(o.Shape) != 4 || o.Shape[2] < 1 || ph%o.Shape[2] != 0 {
			return nil, fmt.Errorf("onnx: %s: layer %q gives shape %v on a %dx%d probe, not a feature map", path, layers[i], o.Shape, ph, pw)
		}
		e.taps = append(e.taps, Tap{Name: layers[i], Stride: ph / o.Shape[2], Channels: o.Shape[1]})
	}
	return e, nil
}

// onnxInput returns the graph input that is not an initializer and its
// declared shape.
func onnxInput(m *onnx.Model) (string, []int64, error) {
	inits := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		inits[t.Name] = true
	}
	for _, in := range m.Graph.Inputs {
		if !inits[in.Name] {
			return in.Name, in.Shape, nil
		}
	}
	return "", nil, errNoONNXInput
}

// onnxAutoTaps runs the probe once with every node output requested and
// picks the last computed map at strides 4, 8 and 16.
func onnxAutoTaps(m *onnx.Model, input string, probe *tensor.Tensor, norm func(*tensor.Tensor) *tensor.Tensor) ([]string, error) {
	var names []string
	order := map[string]int{}
	for i, n := range m.Graph.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				names = append(names, o)
				order[o] = i
			}
		}
	}
	ex, err := onnx.NewExecutor(m, names)
	if err != nil {
		return nil, err
	}
	outs, err := ex.Run(map[string]*tensor.Tensor{input: norm(probe)})
	if err != nil {
		return nil, fmt.Errorf("probe run: %w", err)
	}
	ph := probe.Shape[2]
	var shapes []tapShape
	for name, t := range outs {
		if len(t.Shape) == 4 && t.Shape[2] == t.Shape[3] {
			shapes = append(shapes, tapShape{name: name, h: t.Shape[2], c: t.Shape[1], order: order[name]})
		}
	}
	return autoTaps(shapes, ph)
}

// Name returns the model's file name.
func (e *ONNX) Name() string { return e.name }

// Taps describes the tapped node outputs.
func (e *ONNX) Taps() []Tap { return append([]Tap(nil), e.taps...) }

// Features normalises x (N×3×H×W, RGB in [0,1]) as the network expects
// (the ImageNet mean and std for ONNX files; caffe BGR for resnet50) and
// returns the tapped maps in tap order.
func (e *ONNX) Features(x *tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkImageBatch(x); err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	outs, err := e.run(x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	for i, o := range outs {
		if len(o.Shape) != 4 || o.Shape[0] != x.Shape[0] {
			return nil, fmt.Errorf("%s: layer %q gives shape %v for input %v", e.name, e.layers[i], o.Shape, x.Shape)
		}
	}
	return outs, nil
}

// run executes the model on x, in chunks of the declared batch size when
// the model fixes one, and concatenates the chunks.
func (e *ONNX) run(x *tensor.Tensor) ([]*tensor.Tensor, error) {
	n := x.Shape[0]
	chunk := n
	if e.batch > 0 && e.batch != n {
		if n%e.batch != 0 {
			return nil, fmt.Errorf("batch of %d is not a multiple of the model's fixed batch size %d", n, e.batch)
		}
		chunk = e.batch
	}
	per := x.Len() / n
	outs := make([]*tensor.Tensor, len(e.layers))
	for lo := 0; lo < n; lo += chunk {
		part := tensor.From(x.Data[lo*per:(lo+chunk)*per], chunk, x.Shape[1], x.Shape[2], x.Shape[3])
		res, err := e.exec.Run(map[string]*tensor.Tensor{e.input: e.norm(part)})
		if err != nil {
			return nil, err
		}
		for i, l := range e.layers {
			t, ok := res[l]
			if !ok {
				return nil, fmt.Errorf("executor returned no %q", l)
			}
			if chunk == n {
				outs[i] = t
				continue
			}
			if len(t.Shape) < 1 || t.Shape[0] != chunk {
				return nil, fmt.Errorf("layer %q gives shape %v for a batch of %d", l, t.Shape, chunk)
			}
			if outs[i] == nil {
				outs[i] = tensor.New(append([]int{n}, t.Shape[1:]...)...)
			}
			if !slices.Equal(outs[i].Shape[1:], t.Shape[1:]) {
				return nil, fmt.Errorf("layer %q changes shape across the batch", l)
			}
			copy(outs[i].Data[lo*(outs[i].Len()/n):], t.Data)
		}
	}
	return outs, nil
}

// normaliseImageNet returns (x - mean[c]) / std[c] for an N×3×H×W batch.
func normaliseImageNet(x *tensor.Tensor) *tensor.Tensor {
	y := tensor.New(x.Shape...)
	n, hw := x.Shape[0], x.Shape[2]*x.Shape[3]
	for b := range n {
		for c := range 3 {
			off := (b*3 + c) * hw
			m, inv := ImageNetMean[c], 1/ImageNetStd[c]
			src, dst := x.Data[off:off+hw], y.Data[off:off+hw]
			for i, v := range src {
				dst[i] = (v - m) * inv
			}
		}
	}
	return y
}
