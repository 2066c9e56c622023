package backbone

import (
	"fmt"
	"path/filepath"

	"github.com/vigil-ad/vigil/backbone/tflite"
	"github.com/vigil-ad/vigil/tensor"
)

// TFLite is an Extractor over a TFLite model run in float32 (weights
// dequantised, see package tflite). Its input normalisation is the one of
// the Inception/MobileNet family the Coral models were trained with:
// v = (255*x - 127.5) / 127.5, mapping RGB in [0,1] to [-1,1].
//
// It is safe for concurrent use.
type TFLite struct {
	name string
	net  *tflite.Net
	taps []Tap
	idx  []int
}

var _ Extractor = (*TFLite)(nil)

// NewTFLite loads the .tflite file at path and taps the tensors named in
// layers (a tensor's full name, or the first ';'-separated part of a fused
// converter name). With no layers it picks the tensors described by
// AutoTaps. Strides and channel counts come from the shapes stored in the
// file (input height / tensor height at the model's nominal size).
func NewTFLite(path string, layers []string) (*TFLite, error) {
	m, err := tflite.ReadFile(path)
	if err != nil {
		return nil, err
	}
	net, err := tflite.Compile(m)
	if err != nil {
		return nil, fmt.Errorf("tflite: %s: %w", path, err)
	}
	if net.InputChannels() != 3 {
		return nil, fmt.Errorf("tflite: %s: input has %d channels, want 3 (RGB)", path, net.InputChannels())
	}
	e := &TFLite{name: filepath.Base(path), net: net}
	in := net.TensorShape(net.InputIndex()) // NHWC
	if in[1] < 1 || in[2] < 1 {
		return nil, fmt.Errorf("tflite: %s: input shape %v has no spatial size", path, in)
	}
	if len(layers) == 0 {
		var shapes []tapShape
		for i := range net.NumTensors() {
			if s := net.TensorShape(i); len(s) == 4 && i != net.InputIndex() {
				shapes = append(shapes, tapShape{name: net.TensorName(i), h: s[1], c: s[3], order: net.ProducerOrder(i)})
			}
		}
		layers, err = autoTaps(shapes, in[1])
		if err != nil {
			return nil, fmt.Errorf("tflite: %s: %w", path, err)
		}
	}
	for _, l := range layers {
		i, err := net.TensorIndex(l)
		if err != nil {
			return nil, fmt.Errorf("tflite: %s: %w", path, err)
		}
		s := net.TensorShape(i)
		if len(s) != 4 || s[1] < 1 || in[1]%s[1] != 0 {
			return nil, fmt.Errorf("tflite: %s: tensor %q has shape %v, not a feature map of the %v input", path, l, s, in)
		}
		e.idx = append(e.idx, i)
		e.taps = append(e.taps, Tap{Name: l, Stride: in[1] / s[1], Channels: s[3]})
	}
	return e, nil
}

// Name returns the model's file name.
func (e *TFLite) Name() string { return e.name }

// Taps describes the tapped tensors.
func (e *TFLite) Taps() []Tap { return append([]Tap(nil), e.taps...) }

// Net exposes the compiled network.
func (e *TFLite) Net() *tflite.Net { return e.net }

// Features normalises x (N×3×H×W, RGB in [0,1]) and returns the tapped
// feature maps, N×C×H'×W' each. Any H and W work; maps are rounded the way
// the network's SAME-padded strided convolutions round (ceil(H/stride)).
func (e *TFLite) Features(x *tensor.Tensor) ([]*tensor.Tensor, error) {
	in, err := e.normalise(x)
	if err != nil {
		return nil, err
	}
	out, err := e.net.Run(in, e.idx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return out, nil
}

// Outputs runs the whole model and returns its own outputs (for the
// MobileNetV2 classifier, 1001 softmax probabilities; for the MobileNetV1
// embedding extractor, the 1024-d average-pooled embedding as N×1024×1×1).
func (e *TFLite) Outputs(x *tensor.Tensor) ([]*tensor.Tensor, error) {
	in, err := e.normalise(x)
	if err != nil {
		return nil, err
	}
	out, err := e.net.Run(in, e.net.OutputIndices())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return out, nil
}

func (e *TFLite) normalise(x *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkImageBatch(x); err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	y := tensor.New(x.Shape...)
	for i, v := range x.Data {
		y.Data[i] = (v*255 - 127.5) / 127.5
	}
	return y, nil
}

// checkImageBatch validates an N×3×H×W batch.
func checkImageBatch(x *tensor.Tensor) error {
	if x == nil || len(x.Shape) != 4 || x.Shape[1] != 3 || x.Shape[0] < 1 || x.Shape[2] < 1 || x.Shape[3] < 1 {
		var s []int
		if x != nil {
			s = x.Shape
		}
		return fmt.Errorf("input shape %v, want N×3×H×W", s)
	}
	if len(x.Data) != tensor.Numel(x.Shape) {
		return fmt.Errorf("input has %d values for shape %v", len(x.Data), x.Shape)
	}
	return nil
}

// tapShape is a candidate feature map for autoTaps.
type tapShape struct {
	name  string
	h, c  int
	order int // execution order of the producing operator (-1: none)
}

// autoTaps picks, for each of the strides 4, 8 and 16, the feature map
// computed last at that resolution (in a ResNet, the output of the last
// block of the stage). inH is the input height the shapes refer to.
func autoTaps(shapes []tapShape, inH int) ([]string, error) {
	var out []string
	for _, s := range []int{4, 8, 16} {
		best := -1
		for i, t := range shapes {
			if t.h < 1 || t.order < 0 || inH%t.h != 0 || inH/t.h != s {
				continue
			}
			if best < 0 || t.order > shapes[best].order {
				best = i
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("no feature map at stride %d (input height %d); name the layers to tap", s, inH)
		}
		out = append(out, shapes[best].name)
	}
	return out, nil
}
