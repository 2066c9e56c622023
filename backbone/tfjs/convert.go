package tfjs

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/vigil-ad/vigil/onnx"
)

// ToONNX converts the model to an ONNX graph in NCHW layout with one
// float input (N×C×H×W, height and width dynamic) named after the Keras
// input layer, and outputs at the named layers (taps; the model's output
// layers when empty). Each ONNX tensor carries the name of the Keras
// layer computing it. Batch normalisation directly after a convolution
// (and not itself read by anything else) is folded into its weights and
// bias; zero padding directly before a "valid" convolution becomes that
// convolution's pads. Weights are checked against the layer configs.
func (m *Model) ToONNX(ws Weights, taps []string) (*onnx.Model, error) {
	if len(m.Inputs) != 1 {
		return nil, fmt.Errorf("tfjs: model has %d inputs, want 1", len(m.Inputs))
	}
	if len(taps) == 0 {
		taps = m.Outputs
	}
	c := &conv{m: m, ws: ws, b: onnx.NewBuilder(m.Name), info: map[string]tinfo{},
		consumers: map[string][]*Layer{}, tapped: map[string]bool{}, folded: map[string]bool{}, pads: map[string][4]int{}}
	byName := map[string]*Layer{}
	for i := range m.Layers {
		l := &m.Layers[i]
		byName[l.Name] = l
		for _, in := range l.Inbound {
			c.consumers[in] = append(c.consumers[in], l)
		}
	}
	for _, t := range taps {
		if byName[t] == nil {
			return nil, fmt.Errorf("tfjs: tap %q is not a layer of the model", t)
		}
		c.tapped[t] = true
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		if c.folded[l.Name] {
			continue
		}
		for _, in := range l.Inbound {
			if _, ok := c.info[in]; !ok {
				return nil, fmt.Errorf("tfjs: layer %q reads %q before it is computed (layers out of order or unknown)", l.Name, in)
			}
		}
		if err := c.layer(l); err != nil {
			return nil, fmt.Errorf("tfjs: layer %q (%s): %w", l.Name, l.Class, err)
		}
	}
	for _, t := range taps {
		ti, ok := c.info[t]
		if !ok {
			return nil, fmt.Errorf("tfjs: tap %q is not computed", t)
		}
		dims := []int{-1, -1}
		if ti.rank == 4 {
			dims = []int{-1, -1, -1, -1}
		}
		c.b.Output(ti.name, dims...)
	}
	return c.b.Model(), nil
}

// tinfo is what the converter knows of a layer's output.
type tinfo struct {
	name     string // ONNX tensor holding it
	rank     int    // 4 (NCHW) or 2 (N×C)
	channels int    // 0 when unknown
}

type conv struct {
	m         *Model
	ws        Weights
	b         *onnx.Builder
	info      map[string]tinfo
	consumers map[string][]*Layer
	tapped    map[string]bool
	folded    map[string]bool   // BN layers merged into their convolution
	pads      map[string][4]int // folded ZeroPadding2D: top, left, bottom, right
	nconst    int
}

func (c *conv) in(l *Layer, i int) tinfo { return c.info[l.Inbound[i]] }

// sole returns l's one input, or an error when it has another count.
func (c *conv) sole(l *Layer) (tinfo, error) {
	if err := c.want(l, 1); err != nil {
		return tinfo{}, err
	}
	return c.in(l, 0), nil
}

// map4 is sole for layers that need a feature map (rank 4).
func (c *conv) map4(l *Layer) (tinfo, error) {
	x, err := c.sole(l)
	if err == nil && x.rank != 4 {
		err = fmt.Errorf("input has rank %d, want 4", x.rank)
	}
	return x, err
}

func (c *conv) want(l *Layer, n int) error {
	if len(l.Inbound) != n {
		return fmt.Errorf("has %d inputs, want %d", len(l.Inbound), n)
	}
	return nil
}

// weight returns layer/param checked against shape (nil entries of shape
// are not checked).
func (c *conv) weight(l *Layer, param string, shape []int) ([]float32, error) {
	name := l.Name + "/" + param
	w, ok := c.ws[name]
	if !ok {
		return nil, fmt.Errorf("weight %q is missing from the manifest", name)
	}
	bad := len(w.Shape) != len(shape)
	for i := 0; !bad && i < len(shape); i++ {
		bad = shape[i] >= 0 && w.Shape[i] != shape[i]
	}
	if bad || numel(w.Shape) != len(w.Data) {
		return nil, fmt.Errorf("weight %q has shape %v, the layer needs %v (-1: any)", name, w.Shape, shape)
	}
	return w.Data, nil
}

func (c *conv) constName(base string) string {
	c.nconst++
	return fmt.Sprintf("%s/const%d", base, c.nconst)
}

func (c *conv) layer(l *Layer) error {
	switch l.Class {
	case "InputLayer":
		var shape []*int
		if err := cfg(l, "batch_input_shape", &shape); err != nil || len(shape) != 4 || shape[3] == nil || *shape[3] <= 0 {
			return fmt.Errorf("batch_input_shape must be [batch, height, width, channels] with known channels")
		}
		ch := *shape[3]
		c.b.Input(l.Name, -1, ch, -1, -1)
		c.info[l.Name] = tinfo{name: l.Name, rank: 4, channels: ch}
		return nil
	case "Conv2D", "DepthwiseConv2D":
		return c.convLayer(l)
	case "ZeroPadding2D":
		return c.zeroPad(l)
	case "BatchNormalization":
		return c.batchNorm(l)
	case "Activation":
		if err := c.want(l, 1); err != nil {
			return err
		}
		var act string
		if err := cfg(l, "activation", &act); err != nil {
			return err
		}
		return c.activation(l.Name, c.in(l, 0), act)
	case "ReLU":
		return c.reluLayer(l)
	case "MaxPooling2D", "AveragePooling2D":
		return c.pool(l)
	case "GlobalAveragePooling2D":
		x, err := c.map4(l)
		if err != nil {
			return err
		}
		var keep bool
		_ = cfg(l, "keepdims", &keep)
		if keep {
			c.b.Node("GlobalAveragePool", l.Name, []string{x.name}, []string{l.Name})
			c.info[l.Name] = tinfo{name: l.Name, rank: 4, channels: x.channels}
			return nil
		}
		mid := l.Name + "/gap"
		c.b.Node("GlobalAveragePool", mid, []string{x.name}, []string{mid})
		c.b.Node("Flatten", l.Name, []string{mid}, []string{l.Name}, onnx.IntAttr("axis", 1))
		c.info[l.Name] = tinfo{name: l.Name, rank: 2, channels: x.channels}
		return nil
	case "Add":
		if len(l.Inbound) < 2 {
			return fmt.Errorf("has %d inputs, want at least 2", len(l.Inbound))
		}
		acc := c.in(l, 0)
		for i := 1; i < len(l.Inbound); i++ {
			x := c.in(l, i)
			if x.rank != acc.rank || (x.channels != 0 && acc.channels != 0 && x.channels != acc.channels) {
				return fmt.Errorf("inputs %q and %q differ in rank or channels", l.Inbound[0], l.Inbound[i])
			}
			out := l.Name
			if i < len(l.Inbound)-1 {
				out = fmt.Sprintf("%s/part%d", l.Name, i)
			}
			c.b.Node("Add", out, []string{acc.name, x.name}, []string{out})
			acc = tinfo{name: out, rank: acc.rank, channels: max(acc.channels, x.channels)}
		}
		c.info[l.Name] = acc
		return nil
	case "Dense":
		return c.dense(l)
	case "Flatten":
		x, err := c.sole(l)
		if err != nil {
			return err
		}
		src := x.name
		if x.rank == 4 {
			// Keras flattens NHWC (h, w, c order): transpose back first.
			src = l.Name + "/nhwc"
			c.b.Node("Transpose", src, []string{x.name}, []string{src}, onnx.IntsAttr("perm", 0, 2, 3, 1))
		}
		c.b.Node("Flatten", l.Name, []string{src}, []string{l.Name}, onnx.IntAttr("axis", 1))
		ch := 0
		if x.rank == 2 {
			ch = x.channels
		}
		c.info[l.Name] = tinfo{name: l.Name, rank: 2, channels: ch}
		return nil
	case "Concatenate":
		return c.concat(l)
	}
	return fmt.Errorf("unsupported layer class %q", l.Class)
}

// soleConsumer returns the one layer reading name, or nil.
func (c *conv) soleConsumer(name string) *Layer {
	if cs := c.consumers[name]; len(cs) == 1 && len(cs[0].Inbound) == 1 {
		return cs[0]
	}
	return nil
}

func (c *conv) zeroPad(l *Layer) error {
	x, err := c.map4(l)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cfg(l, "padding", &raw); err != nil {
		return err
	}
	var p [4]int // top, left, bottom, right
	var one int
	var two [2]int
	var four [2][2]int
	switch {
	case json.Unmarshal(raw, &one) == nil:
		p = [4]int{one, one, one, one}
	case json.Unmarshal(raw, &two) == nil:
		p = [4]int{two[0], two[1], two[0], two[1]}
	case json.Unmarshal(raw, &four) == nil:
		p = [4]int{four[0][0], four[1][0], four[0][1], four[1][1]}
	default:
		return fmt.Errorf("padding %s: want an int, [h, w] or [[top, bottom], [left, right]]", raw)
	}
	for _, v := range p {
		if v < 0 || v > 1<<16 {
			return fmt.Errorf("padding %v out of range", p)
		}
	}
	if next := c.soleConsumer(l.Name); next != nil && !c.tapped[l.Name] &&
		(next.Class == "Conv2D" || next.Class == "DepthwiseConv2D") && cfgString(next, "padding") == "valid" {
		c.pads[l.Name] = p
		c.info[l.Name] = x
		return nil
	}
	pads := c.constName(l.Name)
	c.b.InitializerInt64(pads, []int{8}, []int64{0, 0, int64(p[0]), int64(p[1]), 0, 0, int64(p[2]), int64(p[3])})
	c.b.Node("Pad", l.Name, []string{x.name, pads}, []string{l.Name})
	c.info[l.Name] = tinfo{name: l.Name, rank: 4, channels: x.channels}
	return nil
}

func (c *conv) convLayer(l *Layer) error {
	x, err := c.sole(l)
	if err != nil {
		return err
	}
	if x.rank != 4 || x.channels <= 0 {
		return fmt.Errorf("input %q must be a feature map with known channels", l.Inbound[0])
	}
	cin := x.channels
	k, err := cfgPair(l, "kernel_size", nil)
	if err != nil {
		return err
	}
	strides, err := cfgPair(l, "strides", []int{1, 1})
	if err != nil {
		return err
	}
	dil, err := cfgPair(l, "dilation_rate", []int{1, 1})
	if err != nil {
		return err
	}
	if df := cfgString(l, "data_format"); df != "" && df != "channels_last" {
		return fmt.Errorf("data_format %q: only channels_last is supported", df)
	}
	useBias := true
	_ = cfg(l, "use_bias", &useBias)
	var w []float32
	var cout, group int
	var oihw []float32
	if l.Class == "Conv2D" {
		if err := cfg(l, "filters", &cout); err != nil || cout <= 0 {
			return fmt.Errorf("bad filters")
		}
		if g := cfgInt(l, "groups", 1); g != 1 {
			return fmt.Errorf("groups %d: grouped Conv2D is not supported", g)
		}
		if w, err = c.weight(l, "kernel", []int{k[0], k[1], cin, cout}); err != nil {
			return err
		}
		group = 1
		// HWIO -> OIHW.
		oihw = make([]float32, len(w))
		for o := range cout {
			for i := range cin {
				for y := range k[0] {
					for xx := range k[1] {
						oihw[((o*cin+i)*k[0]+y)*k[1]+xx] = w[((y*k[1]+xx)*cin+i)*cout+o]
					}
				}
			}
		}
	} else {
		mult := cfgInt(l, "depth_multiplier", 1)
		if mult <= 0 || mult > 1<<16 {
			return fmt.Errorf("bad depth_multiplier %d", mult)
		}
		if w, err = c.weight(l, "depthwise_kernel", []int{k[0], k[1], cin, mult}); err != nil {
			return err
		}
		cout, group = cin*mult, cin
		// HW(C)(M) -> (C*M)1HW: output channel c*mult+m reads input c.
		oihw = make([]float32, len(w))
		for ci := range cin {
			for mi := range mult {
				for y := range k[0] {
					for xx := range k[1] {
						oihw[((ci*mult+mi)*k[0]+y)*k[1]+xx] = w[((y*k[1]+xx)*cin+ci)*mult+mi]
					}
				}
			}
		}
	}
	bias := make([]float32, cout)
	if useBias {
		bv, err := c.weight(l, "bias", []int{cout})
		if err != nil {
			return err
		}
		copy(bias, bv)
	}
	act := cfgString(l, "activation")
	if act == "" {
		act = "linear"
	}
	out := l.Name
	// Fold a following batch norm when nothing else sees the raw output.
	if next := c.soleConsumer(l.Name); next != nil && next.Class == "BatchNormalization" && act == "linear" && !c.tapped[l.Name] {
		scale, shift, err := c.bnParams(next, cout)
		if err != nil {
			return fmt.Errorf("folding %q: %w", next.Name, err)
		}
		per := len(oihw) / cout
		for o := range cout {
			for j := range per {
				oihw[o*per+j] *= scale[o]
			}
			bias[o] = bias[o]*scale[o] + shift[o]
		}
		c.folded[next.Name] = true
		out = next.Name
	}
	attrs := []onnx.Attr{
		onnx.IntsAttr("kernel_shape", int64(k[0]), int64(k[1])),
		onnx.IntsAttr("strides", int64(strides[0]), int64(strides[1])),
		onnx.IntsAttr("dilations", int64(dil[0]), int64(dil[1])),
		onnx.IntAttr("group", int64(group)),
	}
	src := x.name
	switch pad := cfgString(l, "padding"); pad {
	case "valid":
		if p, ok := c.pads[l.Inbound[0]]; ok {
			attrs = append(attrs, onnx.IntsAttr("pads", int64(p[0]), int64(p[1]), int64(p[2]), int64(p[3])))
		}
	case "same":
		attrs = append(attrs, onnx.StringAttr("auto_pad", "SAME_UPPER"))
	default:
		return fmt.Errorf("padding %q: want valid or same", pad)
	}
	wName, bName := l.Name+"/weight", l.Name+"/bias"
	wdims := []int{cout, cin / group, k[0], k[1]}
	c.b.Initializer(wName, wdims, oihw)
	c.b.Initializer(bName, []int{cout}, bias)
	pre := out
	if act != "linear" {
		pre = out + "/preact"
	}
	c.b.Node("Conv", l.Name, []string{src, wName, bName}, []string{pre}, attrs...)
	c.info[out] = tinfo{name: pre, rank: 4, channels: cout}
	if act != "linear" {
		return c.activation(out, c.info[out], act)
	}
	c.info[l.Name] = tinfo{name: pre, rank: 4, channels: cout}
	return nil
}

// bnParams returns the per-channel scale and shift of a Keras batch norm:
// y = gamma*(x-mean)/sqrt(var+eps) + beta.
func (c *conv) bnParams(l *Layer, ch int) (scale, shift []float32, err error) {
	var axis json.RawMessage
	if cfg(l, "axis", &axis) == nil {
		var a int
		var as []int
		if json.Unmarshal(axis, &a) == nil {
			as = []int{a}
		} else if json.Unmarshal(axis, &as) != nil {
			return nil, nil, fmt.Errorf("bad axis %s", axis)
		}
		if len(as) != 1 || (as[0] != -1 && as[0] != 3) {
			return nil, nil, fmt.Errorf("axis %v: only the channel axis is supported", as)
		}
	}
	eps := float32(1e-3)
	_ = cfg(l, "epsilon", &eps)
	center, scaleOn := true, true
	_ = cfg(l, "center", &center)
	_ = cfg(l, "scale", &scaleOn)
	shape := []int{ch}
	mean, err := c.weight(l, "moving_mean", shape)
	if err != nil {
		return nil, nil, err
	}
	vr, err := c.weight(l, "moving_variance", shape)
	if err != nil {
		return nil, nil, err
	}
	gamma, beta := []float32(nil), []float32(nil)
	if scaleOn {
		if gamma, err = c.weight(l, "gamma", shape); err != nil {
			return nil, nil, err
		}
	}
	if center {
		if beta, err = c.weight(l, "beta", shape); err != nil {
			return nil, nil, err
		}
	}
	scale, shift = make([]float32, ch), make([]float32, ch)
	for i := range ch {
		s := 1 / float32(math.Sqrt(float64(vr[i])+float64(eps)))
		if gamma != nil {
			s *= gamma[i]
		}
		scale[i] = s
		shift[i] = -mean[i] * s
		if beta != nil {
			shift[i] += beta[i]
		}
	}
	return scale, shift, nil
}

// batchNorm emits a batch norm not folded into a convolution as a
// per-channel multiply-add.
func (c *conv) batchNorm(l *Layer) error {
	x, err := c.sole(l)
	if err != nil {
		return err
	}
	if x.channels <= 0 {
		return fmt.Errorf("input %q has unknown channels", l.Inbound[0])
	}
	scale, shift, err := c.bnParams(l, x.channels)
	if err != nil {
		return err
	}
	dims := []int{1, x.channels}
	if x.rank == 4 {
		dims = []int{1, x.channels, 1, 1}
	}
	sn, bn, mid := l.Name+"/scale", l.Name+"/shift", l.Name+"/scaled"
	c.b.Initializer(sn, dims, scale)
	c.b.Initializer(bn, dims, shift)
	c.b.Node("Mul", mid, []string{x.name, sn}, []string{mid})
	c.b.Node("Add", l.Name, []string{mid, bn}, []string{l.Name})
	c.info[l.Name] = tinfo{name: l.Name, rank: x.rank, channels: x.channels}
	return nil
}

// activation emits out = act(x).
func (c *conv) activation(out string, x tinfo, act string) error {
	switch act {
	case "linear":
		c.b.Node("Identity", out, []string{x.name}, []string{out})
	case "relu":
		c.b.Node("Relu", out, []string{x.name}, []string{out})
	case "sigmoid":
		c.b.Node("Sigmoid", out, []string{x.name}, []string{out})
	case "tanh":
		c.b.Node("Tanh", out, []string{x.name}, []string{out})
	case "softmax":
		c.b.Node("Softmax", out, []string{x.name}, []string{out}, onnx.IntAttr("axis", 1))
	case "relu6":
		c.clip(out, x.name, 0, 6)
	default:
		return fmt.Errorf("activation %q is not supported", act)
	}
	c.info[out] = tinfo{name: out, rank: x.rank, channels: x.channels}
	return nil
}

func (c *conv) clip(out, x string, lo, hi float32) {
	a, b := c.constName(out), c.constName(out)
	c.b.Initializer(a, nil, []float32{lo})
	c.b.Initializer(b, nil, []float32{hi})
	c.b.Node("Clip", out, []string{x, a, b}, []string{out})
}

func (c *conv) reluLayer(l *Layer) error {
	x, err := c.sole(l)
	if err != nil {
		return err
	}
	var maxV *float32
	var slope, thr float32
	_ = cfg(l, "max_value", &maxV)
	_ = cfg(l, "negative_slope", &slope)
	_ = cfg(l, "threshold", &thr)
	switch {
	case thr != 0:
		return fmt.Errorf("threshold %v is not supported", thr)
	case slope != 0 && maxV != nil:
		return fmt.Errorf("negative_slope with max_value is not supported")
	case slope != 0:
		c.b.Node("LeakyRelu", l.Name, []string{x.name}, []string{l.Name}, onnx.FloatAttr("alpha", slope))
	case maxV != nil:
		c.clip(l.Name, x.name, 0, *maxV)
	default:
		c.b.Node("Relu", l.Name, []string{x.name}, []string{l.Name})
	}
	c.info[l.Name] = tinfo{name: l.Name, rank: x.rank, channels: x.channels}
	return nil
}

func (c *conv) pool(l *Layer) error {
	x, err := c.map4(l)
	if err != nil {
		return err
	}
	k, err := cfgPair(l, "pool_size", []int{2, 2})
	if err != nil {
		return err
	}
	s, err := cfgPair(l, "strides", k[:])
	if err != nil {
		return err
	}
	if df := cfgString(l, "data_format"); df != "" && df != "channels_last" {
		return fmt.Errorf("data_format %q: only channels_last is supported", df)
	}
	attrs := []onnx.Attr{
		onnx.IntsAttr("kernel_shape", int64(k[0]), int64(k[1])),
		onnx.IntsAttr("strides", int64(s[0]), int64(s[1])),
	}
	switch pad := cfgString(l, "padding"); pad {
	case "valid", "":
	case "same":
		// TF's same pooling ignores padded cells (max) and leaves them out
		// of the count (average), as ONNX's SAME_UPPER does by default.
		attrs = append(attrs, onnx.StringAttr("auto_pad", "SAME_UPPER"))
	default:
		return fmt.Errorf("padding %q: want valid or same", pad)
	}
	op := "MaxPool"
	if l.Class == "AveragePooling2D" {
		op = "AveragePool"
	}
	c.b.Node(op, l.Name, []string{x.name}, []string{l.Name}, attrs...)
	c.info[l.Name] = tinfo{name: l.Name, rank: 4, channels: x.channels}
	return nil
}

func (c *conv) dense(l *Layer) error {
	x, err := c.sole(l)
	if err != nil {
		return err
	}
	if x.rank != 2 {
		return fmt.Errorf("input has rank %d: Dense on feature maps is not supported (add Flatten or pooling)", x.rank)
	}
	var units int
	if err := cfg(l, "units", &units); err != nil || units <= 0 {
		return fmt.Errorf("bad units")
	}
	in := -1
	if x.channels > 0 {
		in = x.channels
	}
	w, err := c.weight(l, "kernel", []int{in, units})
	if err != nil {
		return err
	}
	in = len(w) / units
	bias := make([]float32, units)
	useBias := true
	_ = cfg(l, "use_bias", &useBias)
	if useBias {
		bv, err := c.weight(l, "bias", []int{units})
		if err != nil {
			return err
		}
		copy(bias, bv)
	}
	act := cfgString(l, "activation")
	if act == "" {
		act = "linear"
	}
	wn, bn := l.Name+"/weight", l.Name+"/bias"
	c.b.Initializer(wn, []int{in, units}, w)
	c.b.Initializer(bn, []int{units}, bias)
	pre := l.Name
	if act != "linear" {
		pre = l.Name + "/preact"
	}
	c.b.Node("Gemm", l.Name+"/gemm", []string{x.name, wn, bn}, []string{pre})
	c.info[l.Name] = tinfo{name: pre, rank: 2, channels: units}
	if act != "linear" {
		return c.activation(l.Name, c.info[l.Name], act)
	}
	return nil
}

func (c *conv) concat(l *Layer) error {
	if len(l.Inbound) < 1 {
		return fmt.Errorf("no inputs")
	}
	axis := -1
	_ = cfg(l, "axis", &axis)
	rank := c.in(l, 0).rank
	var names []string
	ch := 0
	for i := range l.Inbound {
		x := c.in(l, i)
		if x.rank != rank {
			return fmt.Errorf("inputs differ in rank")
		}
		names = append(names, x.name)
		if x.channels <= 0 {
			ch = -1
		} else if ch >= 0 {
			ch += x.channels
		}
	}
	if axis < 0 {
		axis += rank
	}
	// Keras NHWC axis -> NCHW axis.
	var oax int
	switch {
	case rank == 4 && axis == 3, rank == 2 && axis == 1:
		oax = 1
	case rank == 4 && (axis == 1 || axis == 2):
		oax = axis + 1
		ch = c.in(l, 0).channels
	default:
		return fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	c.b.Node("Concat", l.Name, names, []string{l.Name}, onnx.IntAttr("axis", int64(oax)))
	c.info[l.Name] = tinfo{name: l.Name, rank: rank, channels: max(ch, 0)}
	return nil
}

// cfg decodes config key into v; a missing key is an error.
func cfg(l *Layer, key string, v any) error {
	raw, ok := l.Config[key]
	if !ok {
		return fmt.Errorf("config has no %q", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("config %q: %v", key, err)
	}
	return nil
}

func cfgString(l *Layer, key string) string {
	var s string
	_ = cfg(l, key, &s)
	return s
}

func cfgInt(l *Layer, key string, def int) int {
	v := def
	if raw, ok := l.Config[key]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &v) != nil {
			return -1
		}
	}
	return v
}

// cfgPair reads an int or a pair of positive ints (kernel sizes, strides);
// def is used when the key is absent or null (nil def: required).
func cfgPair(l *Layer, key string, def []int) ([2]int, error) {
	raw, ok := l.Config[key]
	if !ok || string(raw) == "null" {
		if def == nil {
			return [2]int{}, fmt.Errorf("config has no %q", key)
		}
		return [2]int{def[0], def[1]}, nil
	}
	var one int
	var two []int
	if json.Unmarshal(raw, &one) == nil {
		two = []int{one, one}
	} else if json.Unmarshal(raw, &two) != nil || len(two) != 2 {
		return [2]int{}, fmt.Errorf("config %q: want an int or a pair, got %s", key, raw)
	}
	if slices.ContainsFunc(two, func(v int) bool { return v <= 0 || v > 1<<12 }) {
		return [2]int{}, fmt.Errorf("config %q: %v out of range", key, two)
	}
	return [2]int{two[0], two[1]}, nil
}
