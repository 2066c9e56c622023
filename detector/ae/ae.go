// Package ae is reconstruction-based anomaly detection with a fully
// convolutional autoencoder (arch.FCAE) trained on random crops of normal
// images. At test time the whole image is reconstructed at once (edge-
// padded to a multiple of the bottleneck stride); the anomaly map is the
// training criterion computed locally (squared residual, 1 − SSIM map, …,
// or their weighted sum), smoothed, and the image score is its maximum or
// the mean of its top-k fraction.
//
// Package aegmm builds on the exported Detector: it trains the same
// autoencoder and fits a density on its codes.
package ae

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// Name is the registry name of the method.
const Name = "ae"

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     Name,
		Summary:  "fully convolutional autoencoder trained on normal crops; map = local reconstruction error (L2, SSIM, ...)",
		New:      func(cfg json.RawMessage) (detector.Detector, error) { return New(cfg) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// Config holds the hyper-parameters. The network keys (width, depth,
// stride, latent) and the loss fix the model; train holds the training
// pipeline's settings.
type Config struct {
	Size   int          `json:"size" help:"the longer image side is resized to size pixels (aspect kept) for training and scoring; maps come back at the input's size; 0: native size"`
	Gray   bool         `json:"gray" help:"convert images to one luminance channel; else the training images' channels are used (gray inputs are replicated to match a colour model)"`
	Width  int          `json:"width" help:"channels of the first encoder stage; each further stage doubles them (at most 8x)"`
	Depth  int          `json:"depth" help:"extra 3x3 convolutions per stage in the encoder and the decoder"`
	Stride int          `json:"stride" help:"bottleneck stride, a power of two (2..64): the code has one vector per stride x stride pixels"`
	Latent int          `json:"latent" help:"channels of the bottleneck code"`
	Loss   string       `json:"loss" help:"training criterion and anomaly map: l2, ssim, msssim, cwssim, msgms, or a weighted sum such as ssim+0.5*l2"`
	Blur   float64      `json:"blur" help:"Gaussian sigma, in working-resolution pixels, applied to the signed residual before the l2 term of the map squares it (pixel noise cancels, defects wider than the noise grain remain); 0: none"`
	Smooth float64      `json:"smooth" help:"Gaussian sigma, in working-resolution pixels, applied to the map before the image score is taken; 0: none"`
	Score  string       `json:"score" enum:"max,topk" help:"image score: max of the smoothed map, or topk: mean of its top_k fraction of highest values"`
	TopK   float64      `json:"top_k" help:"fraction of the map averaged by score topk, in (0,1]"`
	Seed   uint64       `json:"seed" help:"seed of initialisation, validation split, crops, shuffling and augmentation (vigil fit --seed): same seed, same model"`
	Train  train.Config `json:"train" help:"training pipeline settings (train.seed is taken from seed)"`
	// Channels is recorded by Fit.
	Channels int `json:"channels,omitempty" help:"set by fit: channel count of the model's input; leave unset"`
}

// DefaultConfig returns the defaults: 256-pixel working images, 64-pixel
// crops, width 16 (width 32 costs three times as much per step), stride
// 8 with 8 code channels (an 8x bottleneck for gray images, 24x for
// colour), L2, 25 epochs of 200 steps (5000 steps of 16 crops: about 11
// minutes on 2 quiet cores at 0.125 s a step). L2 over SSIM: on magnetic
// tile pixel AUROC / AUPRO 0.594 / 0.603 against 0.538 / 0.457, on
// cookies 0.845 / 0.649 against 0.319 / 0.025 (SSIM's map peaks on the
// background texture).
func DefaultConfig() Config {
	tc := train.Defaults()
	tc.Epochs = 25
	tc.StepsPerEpoch = 200
	tc.Patch = 64
	tc.BatchSize = 16
	tc.LR = 1e-3
	tc.Augment.HFlip, tc.Augment.VFlip = true, true
	return Config{Size: 256, Width: 16, Depth: 1, Stride: 8, Latent: 8, Loss: "l2",
		Smooth: 4, Score: "max", TopK: 0.01, Train: tc}
}

// ParseConfig reads a JSON configuration over the defaults (refusing
// unknown keys and wrong types by name) and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	return ParseConfigFor(Name, raw, DefaultConfig())
}

// ParseConfigFor decodes raw over into (a method's defaults) with strict
// keys and validates it, naming method in errors.
func ParseConfigFor(method string, raw json.RawMessage, into Config) (Config, error) {
	if err := detector.DecodeConfig(method, raw, &into); err != nil {
		return into, err
	}
	return into, into.ValidateAs(method)
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error { return c.ValidateAs(Name) }

// ValidateAs is Validate with errors prefixed by method's name (for a
// method that embeds Config).
func (c Config) ValidateAs(method string) error {
	bad := func(format string, a ...any) error { return fmt.Errorf(method+" config: "+format, a...) }
	switch {
	case c.Size < 0:
		return bad("size %d must be >= 0", c.Size)
	case c.Size > 0 && c.Size < c.Stride:
		return bad("size %d is smaller than stride %d", c.Size, c.Stride)
	case c.Blur < 0 || math.IsInf(c.Blur, 0):
		return bad("blur %g must be >= 0", c.Blur)
	case c.Smooth < 0 || math.IsInf(c.Smooth, 0):
		return bad("smooth %g must be >= 0", c.Smooth)
	case c.Score != "max" && c.Score != "topk":
		return bad("score %q must be \"max\" or \"topk\"", c.Score)
	case c.Score == "topk" && !(c.TopK > 0 && c.TopK <= 1):
		return bad("top_k %g must be in (0,1]", c.TopK)
	case c.Channels < 0:
		return bad("channels %d must be >= 0", c.Channels)
	case c.Gray && c.Channels > 1:
		return bad("channels %d with gray", c.Channels)
	case c.Train.Seed != 0 && c.Train.Seed != c.Seed:
		return bad("train.seed %d: set the method's seed key instead (vigil fit --seed)", c.Train.Seed)
	case c.Train.Patch == 0 || c.Train.Patch%c.Stride != 0:
		return bad("train.patch %d must be a positive multiple of stride %d", c.Train.Patch, c.Stride)
	}
	if err := c.spec(max(c.Channels, 1)).Validate(); err != nil {
		return bad("%v", err)
	}
	if _, err := parseLoss(c.Loss); err != nil {
		return bad("%v", err)
	}
	if err := c.Train.Validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

func (c Config) spec(channels int) arch.FCAESpec {
	return arch.FCAESpec{In: channels, Width: c.Width, Depth: c.Depth, Stride: c.Stride, Latent: c.Latent}
}

// Detector is the autoencoder detector. Scoring is safe to call
// concurrently once fitted (the network is only read).
type Detector struct {
	cfg    Config
	loss   lossSpec
	net    *arch.FCAE
	sess   train.Session
	report train.Report // of the last Fit
}

// New makes an unfitted detector from a JSON configuration (nil = defaults).
func New(raw json.RawMessage) (*Detector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(cfg)
}

// NewFromConfig makes an unfitted detector from a parsed configuration.
func NewFromConfig(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loss, _ := parseLoss(cfg.Loss)
	return &Detector{cfg: cfg, loss: loss}, nil
}

// Method returns "ae".
func (d *Detector) Method() string { return Name }

// Config returns the configuration, including the fitted channel count.
func (d *Detector) Config() any { return d.cfg }

// Settings returns the parsed configuration (for methods built on ae).
func (d *Detector) Settings() Config { return d.cfg }

// Net returns the fitted network (nil before Fit or Restore).
func (d *Detector) Net() *arch.FCAE { return d.net }

// TrainReport describes the last Fit's training (epochs, losses, seconds).
func (d *Detector) TrainReport() train.Report { return d.report }

// SetTrainSession says where checkpoints go and whether to resume.
func (d *Detector) SetTrainSession(s train.Session) { d.sess = s }

// Preprocessing describes the input preprocessing for the model file.
func (d *Detector) Preprocessing() any {
	return struct {
		Size int  `json:"size"`
		Gray bool `json:"gray"`
	}{d.cfg.Size, d.cfg.Gray}
}

// Tensors returns the network's parameters, named "ae.enc.<i>.weight", ….
func (d *Detector) Tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, p := range d.net.Params() {
		ts = append(ts, safetensors.F32("ae."+p.Name, p.Value.Shape, p.Value.Data))
	}
	return ts
}

// Restore loads a fitted model, checking every tensor's presence, shape
// and values.
func (d *Detector) Restore(raw json.RawMessage, tensors map[string]safetensors.Tensor) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	return d.RestoreConfig(cfg, tensors)
}

// RestoreConfig is Restore with a parsed configuration.
func (d *Detector) RestoreConfig(cfg Config, tensors map[string]safetensors.Tensor) error {
	if cfg.Channels < 1 {
		return fmt.Errorf("channels missing from the config (model was never fitted)")
	}
	nd, err := NewFromConfig(cfg)
	if err != nil {
		return err
	}
	net, err := arch.NewFCAE(cfg.spec(cfg.Channels), 0)
	if err != nil {
		return err
	}
	for _, p := range net.Params() {
		v, err := modelcheck.Float32s(tensors, "ae."+p.Name, p.Value.Shape...)
		if err != nil {
			return err
		}
		copy(p.Value.Data, v)
	}
	net.Train(false)
	*d = Detector{cfg: cfg, loss: nd.loss, net: net, sess: d.sess}
	return nil
}

// Work converts one input image to the working image: alpha dropped,
// channels matched to the model, the longer side resized to Size.
func (d *Detector) Work(img *imageio.Image, idx int) (*imageio.Image, error) {
	return d.cfg.work(img, idx, d.cfg.Channels)
}

func (c Config) work(img *imageio.Image, idx, channels int) (*imageio.Image, error) {
	img, err := train.Appearance(img, idx)
	if err != nil {
		return nil, err
	}
	switch {
	case img.C == channels:
	case channels == 1:
		img, err = imageio.ToGray(img)
	case img.C == 1 && channels == 3:
		img, err = imageio.ToRGB(img) // a grayscale picture in a colour data set
	default:
		err = fmt.Errorf("%d channels; the model uses %d", img.C, channels)
	}
	if err != nil {
		return nil, fmt.Errorf("image %d: %w", idx, err)
	}
	if h, w := c.workSize(img.H, img.W); h != img.H || w != img.W {
		img = imageio.Resize(img, h, w)
	}
	return img, nil
}

// workSize is the working resolution of an h×w input: the longer side
// becomes Size, the shorter keeps the aspect ratio (at least 1 pixel).
func (c Config) workSize(h, w int) (int, int) {
	if c.Size == 0 {
		return h, w
	}
	if h >= w {
		return c.Size, max(1, int(math.Round(float64(w)*float64(c.Size)/float64(h))))
	}
	return max(1, int(math.Round(float64(h)*float64(c.Size)/float64(w)))), c.Size
}

// Margin is the border, in pixels, that Padded adds on every side: two
// code cells. Zero padding inside the network makes the outermost codes
// unlike any the crops' interiors gave; with a mirrored margin the image's
// own border is interior to the network's input.
func (d *Detector) Margin() int { return 2 * d.cfg.Stride }

// Padded returns the working image mirrored by Margin pixels on every side
// and further on the bottom and right up to multiples of the stride, as a
// [1,C,H',W'] tensor; the image starts at (Margin, Margin).
func (d *Detector) Padded(work *imageio.Image) *tensor.Tensor {
	s, m := d.cfg.Stride, d.Margin()
	ph, pw := (work.H+s-1)/s*s+2*m, (work.W+s-1)/s*s+2*m
	t := tensor.New(1, work.C, ph, pw)
	xs := make([]int, pw)
	for x := range xs {
		xs[x] = imageio.Reflect(x-m, work.W)
	}
	for c := 0; c < work.C; c++ {
		src := work.Plane(c)
		dst := t.Data[c*ph*pw : (c+1)*ph*pw]
		for y := 0; y < ph; y++ {
			row := src[imageio.Reflect(y-m, work.H)*work.W:]
			out := dst[y*pw : (y+1)*pw]
			for x, sx := range xs {
				out[x] = row[sx]
			}
		}
	}
	return t
}

// Fit trains the autoencoder on crops of the (working-size) normal images.
func (d *Detector) Fit(ctx context.Context, imgs []*imageio.Image) error {
	if len(imgs) == 0 {
		return fmt.Errorf("ae: no training images")
	}
	if imgs[0] == nil {
		return fmt.Errorf("image 0: empty or inconsistent image")
	}
	cfg := d.cfg
	cfg.Channels = train.ModelChannels(cfg.Gray, imgs[0])
	cfg.Train.Seed = cfg.Seed
	if err := cfg.Validate(); err != nil {
		return err
	}
	work := make([]*imageio.Image, len(imgs))
	for i, img := range imgs {
		w, err := cfg.work(img, i, cfg.Channels)
		if err != nil {
			return err
		}
		if w.H < cfg.Train.Patch || w.W < cfg.Train.Patch {
			return fmt.Errorf("image %d: working size %dx%d is smaller than train.patch %d", i, w.W, w.H, cfg.Train.Patch)
		}
		work[i] = w
	}
	net, err := arch.NewFCAE(cfg.spec(cfg.Channels), cfg.Seed)
	if err != nil {
		return err
	}
	d.net = nil // a failed fit leaves the detector unfitted
	rep, err := trainNet(ctx, net, d.loss, cfg.Loss, work, cfg.Train, d.sess)
	if err != nil {
		return err
	}
	net.Train(false)
	d.cfg, d.net, d.report = cfg, net, rep
	return nil
}

// Reconstruct returns the reconstruction of a padded [1,C,H,W] input.
func (d *Detector) Reconstruct(x *tensor.Tensor) *tensor.Tensor {
	var y *nn.Var
	nn.NoGrad(func() { y = d.net.Forward(nn.NewVar(x)) })
	return y.Value
}

// Codes returns the bottleneck code [1,Latent,H/Stride,W/Stride] of a
// padded input.
func (d *Detector) Codes(x *tensor.Tensor) *tensor.Tensor {
	var z *nn.Var
	nn.NoGrad(func() { z = d.net.Encode(nn.NewVar(x)) })
	return z.Value
}

// Score reconstructs each image whole and returns its anomaly map and score.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.net == nil {
		return nil, fmt.Errorf("ae: not fitted")
	}
	out := make([]detector.Result, len(images))
	for i, img := range images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		work, err := d.Work(img, i)
		if err != nil {
			return nil, err
		}
		x := d.Padded(work)
		pix := d.loss.Map(d.Reconstruct(x), x, d.cfg.Blur)
		m := Crop(pix, x.Shape[3], d.Margin(), work.H, work.W)
		if out[i], err = d.Result(m, img.H, img.W, i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Crop returns the h×w window at (off, off) of a row-major grid of width pw.
func Crop(pix []float32, pw, off, h, w int) *imageio.Map {
	m := imageio.NewMap(h, w)
	for y := 0; y < h; y++ {
		o := (y+off)*pw + off
		copy(m.Pix[y*w:(y+1)*w], pix[o:o+w])
	}
	return m
}

// Result smooths a working-resolution map, takes the image score from it
// and resizes it to the input's h×w; a non-finite value is an error.
func (d *Detector) Result(m *imageio.Map, h, w, idx int) (detector.Result, error) {
	if d.cfg.Smooth > 0 {
		m = imageio.GaussianSmooth(m, d.cfg.Smooth)
	}
	for _, v := range m.Pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return detector.Result{}, fmt.Errorf("image %d: anomaly map has a non-finite value %v", idx, v)
		}
	}
	score := detector.MapScore(m.Pix, d.cfg.Score, d.cfg.TopK)
	if m.H != h || m.W != w {
		m = imageio.ResizeMap(m, h, w)
	}
	return detector.Result{Score: score, Map: m}, nil
}
