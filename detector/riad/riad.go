// Package riad is RIAD, reconstruction by inpainting (Zavrtanik et al.
// 2021): a U-Net learns to inpaint normal images. Each training image is
// cut into a grid of k×k tiles (k drawn per batch from ks), the tiles are
// dealt at random to n disjoint masks, the network inpaints the image
// once per mask from the pixels that mask leaves visible, and the n
// inpaintings are merged, each pixel from the inpainting whose mask hid
// it; the loss compares the merged image with the original (MSE + SSIM +
// MSGMS). A defect cannot be inpainted from its normal surroundings, so
// at test time the same merge, for every k, is compared with the image by
// multi-scale gradient magnitude similarity; the map is 1 − MSGMS
// averaged over k and smoothed, and the image score is its maximum.
package riad

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

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
const Name = "riad"

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     Name,
		Summary:  "RIAD: U-Net inpainting of masked tiles; map = multi-scale gradient magnitude dissimilarity of the merged inpainting",
		New:      func(cfg json.RawMessage) (detector.Detector, error) { return New(cfg) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// Config holds the hyper-parameters.
type Config struct {
	Size       int          `json:"size" help:"images are resized to size x size, a multiple of 2^depth, for training and scoring; maps come back at the input's size"`
	Gray       bool         `json:"gray" help:"convert images to one luminance channel; else the training images' channels are used (gray inputs are replicated to match a colour model)"`
	Ks         []int        `json:"ks" help:"tile sides k, in working-resolution pixels: training draws one per batch; the map averages all"`
	Masks      int          `json:"masks" help:"disjoint masks per k (n): each hides a random 1/n of the tiles, so every pixel is hidden exactly once"`
	Width      int          `json:"width" help:"U-Net channels at full resolution, doubled at each level"`
	Depth      int          `json:"depth" help:"U-Net levels below full resolution (2x downsamplings)"`
	BatchNorm  bool         `json:"batch_norm" help:"batch normalisation after every 3x3 convolution of the U-Net"`
	SSIMWeight float64      `json:"ssim_weight" help:"weight of the SSIM loss added to the MSE loss"`
	GMSWeight  float64      `json:"gms_weight" help:"weight of the multi-scale gradient magnitude similarity loss added to the MSE loss"`
	Smooth     float64      `json:"smooth" help:"Gaussian sigma, in working-resolution pixels, applied to the map before the image score (its maximum) is taken; 0: none"`
	Seed       uint64       `json:"seed" help:"seed of initialisation, crops, augmentation and masks (train.seed, if given, must equal it): same seed, same model"`
	Train      train.Config `json:"train" help:"training pipeline settings (train.patch: side of the random crops trained on, a multiple of 2^depth; 0: whole images)"`
	Channels   int          `json:"channels,omitempty" help:"set by fit: channel count of the model's input; leave unset"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	tc := train.Defaults()
	// A fixed 4000 steps whatever the number of images: measured, 1715
	// steps left magnetic tile undertrained (validation loss still
	// falling) and cookies' 65 steps (26 images) gave image AUROC 0.27
	// where 650 steps gave 0.90. A step (8 crops, 3 masks) costs about
	// 0.43 CPU-seconds, so 4000 steps are about 29 CPU-minutes.
	tc.Epochs = 16
	tc.StepsPerEpoch = 250
	tc.Patch = 64
	tc.BatchSize = 8
	tc.LR = 1e-3
	tc.Augment.HFlip, tc.Augment.VFlip = true, true
	return Config{Size: 128, Ks: []int{2, 4, 8, 16}, Masks: 3, Width: 16, Depth: 3, BatchNorm: true,
		SSIMWeight: 1, GMSWeight: 1, Smooth: 4, Train: tc}
}

// ParseConfig reads a JSON configuration over the defaults (refusing
// unknown keys and wrong types by name) and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	cfg := DefaultConfig()
	if err := detector.DecodeConfig(Name, raw, &cfg); err != nil {
		return cfg, err
	}
	if cfg.Train.Seed == 0 {
		cfg.Train.Seed = cfg.Seed // the CLI's --seed arrives as the top-level key
	}
	return cfg, cfg.Validate()
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("riad config: "+format, a...) }
	mult := 1 << max(c.Depth, 0)
	finiteNonNeg := func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }
	side := c.Train.Patch // the smallest image the network is trained on
	if side == 0 {
		side = c.Size
	}
	switch {
	case c.Depth < 1 || c.Depth > 6:
		return bad("depth %d must be in 1..6", c.Depth)
	case c.Width < 1 || c.Width > 256:
		return bad("width %d must be in 1..256", c.Width)
	case c.Size < 8 || c.Size%mult != 0:
		return bad("size %d must be >= 8 and a multiple of 2^depth = %d", c.Size, mult)
	case c.Train.Patch != 0 && (c.Train.Patch < 8 || c.Train.Patch%mult != 0 || c.Train.Patch > c.Size):
		return bad("train.patch %d must be 0 or in 8..size %d and a multiple of 2^depth = %d", c.Train.Patch, c.Size, mult)
	case c.Masks < 2 || c.Masks > 255:
		return bad("masks %d must be in 2..255", c.Masks)
	case len(c.Ks) == 0:
		return bad("ks is empty")
	case !finiteNonNeg(c.SSIMWeight):
		return bad("ssim_weight %g must be >= 0", c.SSIMWeight)
	case !finiteNonNeg(c.GMSWeight):
		return bad("gms_weight %g must be >= 0", c.GMSWeight)
	case !finiteNonNeg(c.Smooth):
		return bad("smooth %g must be >= 0", c.Smooth)
	case c.Train.Seed != c.Seed:
		return bad("train.seed %d differs from seed %d: set seed only", c.Train.Seed, c.Seed)
	case c.Channels < 0 || c.Channels == 2 || c.Channels > 3:
		return bad("channels %d must be 1 or 3", c.Channels)
	case c.Gray && c.Channels > 1:
		return bad("channels %d with gray", c.Channels)
	}
	seen := map[int]bool{}
	for _, k := range c.Ks {
		if k < 1 {
			return bad("ks: tile side %d must be >= 1", k)
		}
		if seen[k] {
			return bad("ks: tile side %d repeated", k)
		}
		seen[k] = true
		// Every mask must hide something in the smallest trained image.
		if t := (side + k - 1) / k; t*t < c.Masks {
			return bad("ks: tile side %d gives %d tiles on a %d-pixel side, fewer than masks %d", k, t*t, side, c.Masks)
		}
	}
	if err := c.Train.Validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

func (c Config) spec() arch.UNetSpec {
	ch := max(c.Channels, 1)
	return arch.UNetSpec{In: ch, Out: ch, Width: c.Width, Depth: c.Depth, BatchNorm: c.BatchNorm}
}

// Detector is the RIAD detector. Scoring is safe to call concurrently
// once fitted (the network is only read).
type Detector struct {
	cfg  Config
	net  *arch.UNet
	sess train.Session
}

// New makes an unfitted detector from a JSON configuration (nil = defaults).
func New(raw json.RawMessage) (*Detector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg}, nil
}

// Method returns "riad".
func (d *Detector) Method() string { return Name }

// Config returns the configuration, including the fitted channel count.
func (d *Detector) Config() any {
	c := d.cfg
	c.Ks = slices.Clone(c.Ks)
	return c
}

// SetTrainSession says where checkpoints go and whether to resume.
func (d *Detector) SetTrainSession(s train.Session) { d.sess = s }

// InputSize is the working resolution every image is resized to.
func (d *Detector) InputSize() (h, w int) { return d.cfg.Size, d.cfg.Size }

// Preprocessing describes the input preprocessing for the model file.
func (d *Detector) Preprocessing() any {
	return struct {
		Size int  `json:"size"`
		Gray bool `json:"gray"`
	}{d.cfg.Size, d.cfg.Gray}
}

const prefix = "unet."

// Tensors returns the U-Net's parameters and batch-norm statistics, named
// "unet.enc.0.conv1.weight", ….
func (d *Detector) Tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, p := range d.net.Params() {
		ts = append(ts, safetensors.F32(prefix+p.Name, p.Value.Shape, p.Value.Data))
	}
	for _, b := range d.net.Buffers() {
		ts = append(ts, safetensors.F32(prefix+b.Name, b.T.Shape, b.T.Data))
	}
	return ts
}

// Restore loads a fitted model, checking every tensor's presence, shape
// and values (finite; batch-norm variances positive).
func (d *Detector) Restore(raw json.RawMessage, tensors map[string]safetensors.Tensor) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	if cfg.Channels < 1 {
		return fmt.Errorf("riad config: channels missing (model was never fitted)")
	}
	net, err := arch.NewUNet(cfg.spec(), 0)
	if err != nil {
		return err
	}
	for _, p := range net.Params() {
		v, err := modelcheck.Float32s(tensors, prefix+p.Name, p.Value.Shape...)
		if err != nil {
			return err
		}
		copy(p.Value.Data, v)
	}
	for _, b := range net.Buffers() {
		v, err := modelcheck.Float32s(tensors, prefix+b.Name, b.T.Shape...)
		if err != nil {
			return err
		}
		if len(b.Name) > 3 && b.Name[len(b.Name)-3:] == "var" {
			for _, x := range v {
				if !(x > 0) {
					return fmt.Errorf("tensor %q: variance %g must be > 0", prefix+b.Name, x)
				}
			}
		}
		copy(b.T.Data, v)
	}
	net.Train(false)
	d.cfg, d.net = cfg, net
	return nil
}

// workSet is the images' appearance at the model's channels, size×size.
func (c Config) workSet(imgs []*imageio.Image, channels int) (*train.Set, error) {
	return train.AppearanceSet(imgs, channels, c.Gray, c.Size)
}

// Fit trains the inpainting network on the normal images.
func (d *Detector) Fit(ctx context.Context, imgs []*imageio.Image) error {
	if len(imgs) == 0 {
		return fmt.Errorf("riad: no training images")
	}
	if imgs[0] == nil {
		return fmt.Errorf("image 0: empty or inconsistent image")
	}
	cfg := d.cfg
	cfg.Channels = train.ModelChannels(cfg.Gray, imgs[0])
	if err := cfg.Validate(); err != nil {
		return err
	}
	set, err := cfg.workSet(imgs, cfg.Channels)
	if err != nil {
		return err
	}
	net, err := arch.NewUNet(cfg.spec(), cfg.Train.Seed)
	if err != nil {
		return err
	}
	d.net = nil // a failed fit leaves the detector unfitted
	trainSet, valSet := set.Split(cfg.Train.ValFraction, cfg.Train.Seed)
	t := &task{net: net, cfg: cfg}
	if _, err := train.Fit(ctx, "riad", t, trainSet, valSet, cfg.Train, d.sess); err != nil {
		return err
	}
	net.Train(false)
	d.cfg, d.net = cfg, net
	return nil
}

// task is RIAD's training objective for the train pipeline.
type task struct {
	net *arch.UNet
	cfg Config
}

func (t *task) Module() nn.Module { return t.net }

// Fingerprint names the settings outside train that change what is
// trained, so a checkpoint of other settings is not resumed.
func (t *task) Fingerprint() string {
	c := t.cfg
	return fmt.Sprintf("size %d ks %v masks %d ssim %g gms %g", c.Size, c.Ks, c.Masks, c.SSIMWeight, c.GMSWeight)
}

// Loss draws k and a partition, inpaints the batch once per mask and
// compares the merged inpainting with the batch.
func (t *task) Loss(b *train.Batch, rng *rand.Rand) *nn.Var {
	batch := b.X
	_, _, h, w := batch.Dims4("riad")
	k := t.cfg.Ks[rng.IntN(len(t.cfg.Ks))]
	n := t.cfg.Masks
	inputs, hidden := masked(batch, partition(h, w, k, n, rng), n)
	merged := merge(t.net.Forward(nn.NewVar(inputs)), hidden, n)
	x := nn.NewVar(batch)
	loss := nn.MSELoss(merged, x)
	if t.cfg.SSIMWeight > 0 {
		loss = nn.Add(loss, nn.Scale(nn.SSIMLoss(merged, x), float32(t.cfg.SSIMWeight)))
	}
	if t.cfg.GMSWeight > 0 {
		loss = nn.Add(loss, nn.Scale(nn.MSGMSLoss(merged, x), float32(t.cfg.GMSWeight)))
	}
	return loss
}

// scoreBatch is the number of images inpainted together when scoring.
const scoreBatch = 4

// maskStream separates the scoring partitions' random stream from the
// training seed's other uses.
const maskStream = 0x71ad

// scoringPartition is the partition of an h×w image into tiles of side k
// that scoring uses, fixed by the seed.
func (d *Detector) scoringPartition(h, w, k int) []uint8 {
	return partition(h, w, k, d.cfg.Masks, rand.New(rand.NewPCG(d.cfg.Train.Seed^maskStream, uint64(k))))
}

// Maps returns, for x [B,C,Size,Size], the per-pixel anomaly maps
// [B,1,Size,Size]: 1 − MSGMS of the merged inpainting and x, averaged over
// the tile sides. The partitions are fixed by the seed, so scores are
// reproducible.
func (d *Detector) Maps(x *tensor.Tensor) *tensor.Tensor {
	b, _, h, w := x.Dims4("riad")
	acc := tensor.New(b, 1, h, w)
	n := d.cfg.Masks
	for _, k := range d.cfg.Ks {
		inputs, hidden := masked(x, d.scoringPartition(h, w, k), n)
		var merged *nn.Var
		nn.NoGrad(func() { merged = merge(d.net.Forward(nn.NewVar(inputs)), hidden, n) })
		for i, v := range nn.MSGMSMap(x, merged.Value).Data {
			acc.Data[i] += v
		}
	}
	inv := 1 / float32(len(d.cfg.Ks))
	for i := range acc.Data {
		acc.Data[i] *= inv
	}
	return acc
}

// Score inpaints each image and returns its anomaly map and score.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.net == nil {
		return nil, fmt.Errorf("riad: not fitted")
	}
	set, err := d.cfg.workSet(images, d.cfg.Channels)
	if err != nil {
		return nil, err
	}
	out := make([]detector.Result, len(images))
	c, s := d.cfg.Channels, d.cfg.Size
	plane := c * s * s
	for lo := 0; lo < len(images); lo += scoreBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+scoreBatch, len(images))
		x := tensor.New(hi-lo, c, s, s)
		for i := lo; i < hi; i++ {
			copy(x.Data[(i-lo)*plane:], set.Image(i).Data)
		}
		maps := d.Maps(x)
		for i := lo; i < hi; i++ {
			m := &imageio.Map{H: s, W: s, Pix: maps.Data[(i-lo)*s*s : (i-lo+1)*s*s]}
			if d.cfg.Smooth > 0 {
				m = imageio.GaussianSmooth(m, d.cfg.Smooth)
			}
			score := math.Inf(-1)
			for _, v := range m.Pix {
				score = math.Max(score, float64(v))
			}
			if math.IsNaN(score) || math.IsInf(score, 0) {
				return nil, fmt.Errorf("riad: image %d: anomaly score %v", i, score)
			}
			if img := images[i]; img.H != s || img.W != s {
				m = imageio.ResizeMap(m, img.H, img.W)
			}
			out[i] = detector.Result{Score: score, Map: m}
		}
	}
	return out, nil
}
