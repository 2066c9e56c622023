package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
)

// meanDet is a small real detector for the pipeline's tests: it learns
// the mean training image at a fixed working size; the map is the absolute
// difference to it (upsampled to the image), the score the map's mean.
// An image whose top-left pixel is exactly 1 scores NaN, standing in for a
// corrupt model, so fail-closed handling can be tested.
type meanDet struct {
	cfg  meanConfig
	mean []float32
	fits int // Fit calls, for the cross-conformal test
}

type meanConfig struct {
	Size int    `json:"size" help:"working size"`
	Seed uint64 `json:"seed" help:"unused; accepted as every method's seed"`
}

const meanMethod = "test_mean"

func init() {
	detector.RegisterMethod(detector.Method{
		Name: meanMethod, Summary: "mean image (pipeline tests only)",
		Defaults: func() any { return meanConfig{Size: 16} },
		New: func(raw json.RawMessage) (detector.Detector, error) {
			c := meanConfig{Size: 16}
			if err := detector.DecodeConfig(meanMethod, raw, &c); err != nil {
				return nil, err
			}
			if c.Size < 1 {
				return nil, fmt.Errorf("size must be >= 1")
			}
			return &meanDet{cfg: c}, nil
		},
	})
}

func (d *meanDet) Method() string        { return meanMethod }
func (d *meanDet) Config() any           { return d.cfg }
func (d *meanDet) InputSize() (h, w int) { return d.cfg.Size, d.cfg.Size }
func (d *meanDet) prep(img *imageio.Image) *imageio.Image {
	if img.C == 3 {
		img, _ = imageio.ToGray(img)
	}
	if img.H != d.cfg.Size || img.W != d.cfg.Size {
		img = imageio.Resize(img, d.cfg.Size, d.cfg.Size)
	}
	return img
}

func (d *meanDet) Fit(ctx context.Context, train []*imageio.Image) error {
	d.fits++
	n := d.cfg.Size * d.cfg.Size
	d.mean = make([]float32, n)
	for _, img := range train {
		if img.H != d.cfg.Size || img.W != d.cfg.Size {
			return fmt.Errorf("training image is %dx%d: the pipeline should have resized it to the working size", img.W, img.H)
		}
		p := d.prep(img)
		for i := range d.mean {
			d.mean[i] += p.Pix[i] / float32(len(train))
		}
	}
	return nil
}

func (d *meanDet) Score(ctx context.Context, imgs []*imageio.Image) ([]detector.Result, error) {
	out := make([]detector.Result, len(imgs))
	for k, img := range imgs {
		p := d.prep(img)
		m := imageio.NewMap(d.cfg.Size, d.cfg.Size)
		s := 0.0
		for i := range m.Pix {
			m.Pix[i] = float32(math.Abs(float64(p.Pix[i] - d.mean[i])))
			s += float64(m.Pix[i])
		}
		full := m
		if img.H != m.H || img.W != m.W {
			full = imageio.ResizeMap(m, img.H, img.W)
		}
		out[k] = detector.Result{Score: s / float64(len(m.Pix)), Map: full}
		if img.Pix[0] == 1 {
			out[k].Score = math.NaN()
		}
	}
	return out, nil
}

func (d *meanDet) Tensors() []safetensors.Tensor {
	return []safetensors.Tensor{safetensors.F32("mean", []int{len(d.mean)}, d.mean)}
}

func (d *meanDet) Restore(config json.RawMessage, t map[string]safetensors.Tensor) error {
	if err := json.Unmarshal(config, &d.cfg); err != nil {
		return err
	}
	v, err := detector.Float32s(t, "mean", d.cfg.Size*d.cfg.Size)
	d.mean = v
	return err
}

// streamMeanDet is meanDet fitted batch by batch (detector.StreamFitter).
type streamMeanDet struct {
	meanDet
	batches int
}

const streamMethod = "test_stream_mean"

func init() {
	detector.RegisterMethod(detector.Method{
		Name: streamMethod, Summary: "mean image fitted in batches (pipeline tests only)",
		Defaults: func() any { return meanConfig{Size: 16} },
		New: func(raw json.RawMessage) (detector.Detector, error) {
			c := meanConfig{Size: 16}
			if err := detector.DecodeConfig(streamMethod, raw, &c); err != nil {
				return nil, err
			}
			return &streamMeanDet{meanDet: meanDet{cfg: c}}, nil
		},
	})
}

func (d *streamMeanDet) Method() string { return streamMethod }

func (d *streamMeanDet) FitStream(ctx context.Context, n int, load func(lo, hi int) ([]*imageio.Image, error)) error {
	sum := make([]float32, d.cfg.Size*d.cfg.Size)
	for lo := 0; lo < n; lo += 4 {
		hi := min(lo+4, n)
		imgs, err := load(lo, hi)
		if err != nil {
			return err
		}
		if len(imgs) != hi-lo {
			return fmt.Errorf("asked for %d images, got %d", hi-lo, len(imgs))
		}
		d.batches++
		for _, img := range imgs {
			if img.H != d.cfg.Size || img.W != d.cfg.Size {
				return fmt.Errorf("image %dx%d not at the working size", img.W, img.H)
			}
			p := d.prep(img)
			for i := range sum {
				sum[i] += p.Pix[i]
			}
		}
	}
	d.mean = make([]float32, len(sum))
	for i := range sum {
		d.mean[i] = sum[i] / float32(n)
	}
	return nil
}
