package server

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/safetensors"
)

// gateDet is a small real detector for the server's tests: it learns the
// mean gray image at 16x16; the map is the absolute difference to it at
// the image's size, the score the map's mean. With Block set, Score waits
// for the test's gate (or the request's context) so that queueing,
// deadlines, reloads and draining can be tested deterministically; with
// Panic set it panics, standing in for a bug.
type gateDet struct {
	cfg  gateConfig
	mean []float32
}

type gateConfig struct {
	Block bool   `json:"block" help:"wait for the test's gate in Score"`
	Panic bool   `json:"panic" help:"panic in Score"`
	Delay int    `json:"delay_ms" help:"sleep this long in Score"`
	Seed  uint64 `json:"seed" help:"unused"`
}

const gateMethod = "servetest_gate"

// gate releases blocked Score calls, one per value sent; entered reports
// each call that starts waiting.
var (
	gate    = make(chan struct{}, 64)
	entered = make(chan struct{}, 64)
	// armed is false while fitGate fits and calibrates: Block and Panic
	// act on served requests only
	armed atomic.Bool
)

func init() {
	detector.RegisterMethod(detector.Method{
		Name: gateMethod, Summary: "mean image with a gate (server tests only)",
		Defaults: func() any { return gateConfig{} },
		New: func(raw json.RawMessage) (detector.Detector, error) {
			var c gateConfig
			if err := detector.DecodeConfig(gateMethod, raw, &c); err != nil {
				return nil, err
			}
			return &gateDet{cfg: c}, nil
		},
	})
}

const gateSize = 16

func (d *gateDet) Method() string        { return gateMethod }
func (d *gateDet) Config() any           { return d.cfg }
func (d *gateDet) InputSize() (h, w int) { return gateSize, gateSize }

func (d *gateDet) small(img *imageio.Image) *imageio.Image {
	if img.C == 3 {
		img, _ = imageio.ToGray(img)
	}
	return imageio.Resize(img, gateSize, gateSize)
}

func (d *gateDet) Fit(ctx context.Context, train []*imageio.Image) error {
	d.mean = make([]float32, gateSize*gateSize)
	for _, img := range train {
		p := d.small(img)
		for i := range d.mean {
			d.mean[i] += p.Pix[i] / float32(len(train))
		}
	}
	return nil
}

func (d *gateDet) Score(ctx context.Context, imgs []*imageio.Image) ([]detector.Result, error) {
	serving := armed.Load() && !(imgs[0].H == 64 && imgs[0].W == 64) // the warm-up image passes
	if d.cfg.Panic && serving {
		panic("gateDet: deliberate panic")
	}
	if d.cfg.Delay > 0 && serving {
		time.Sleep(time.Duration(d.cfg.Delay) * time.Millisecond)
	}
	if d.cfg.Block && serving {
		entered <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make([]detector.Result, len(imgs))
	for k, img := range imgs {
		p := d.small(img)
		m := imageio.NewMap(gateSize, gateSize)
		for i := range m.Pix {
			m.Pix[i] = float32(math.Abs(float64(p.Pix[i] - d.mean[i])))
		}
		full := imageio.ResizeMap(m, img.H, img.W)
		s := 0.0
		for _, v := range full.Pix {
			s += float64(v)
		}
		out[k] = detector.Result{Score: s / float64(len(full.Pix)), Map: full}
	}
	return out, nil
}

func (d *gateDet) Tensors() []safetensors.Tensor {
	return []safetensors.Tensor{safetensors.F32("mean", []int{len(d.mean)}, d.mean)}
}

func (d *gateDet) Restore(config json.RawMessage, t map[string]safetensors.Tensor) error {
	if err := json.Unmarshal(config, &d.cfg); err != nil {
		return err
	}
	v, err := detector.Float32s(t, "mean", gateSize*gateSize)
	d.mean = v
	return err
}

// textureImage is a 32x32 gray image around level with seeded noise.
func textureImage(rng *rand.Rand, level float64) *imageio.Image {
	img := imageio.New(1, 32, 32)
	for i := range img.Pix {
		img.Pix[i] = float32(min(1, max(0, level+0.05*rng.NormFloat64())))
	}
	return img
}

// defectImage is a normal texture with a bright 10x10 square.
func defectImage(rng *rand.Rand) *imageio.Image {
	img := textureImage(rng, 0.5)
	for y := 8; y < 18; y++ {
		for x := 10; x < 20; x++ {
			img.Set(0, y, x, 0.98)
		}
	}
	return img
}

// fitGate fits the gate detector on 40 seeded normals around level (30
// fit, 10 calibrate) and saves it as dir/name.safetensors.
func fitGate(t *testing.T, dir, name string, level float64, cfg string) string {
	t.Helper()
	armed.Store(false)
	defer armed.Store(true)
	rng := rand.New(rand.NewPCG(11, uint64(level*1000)))
	ds := &dataset.Dataset{Name: "mem", Layout: "demo"}
	for i := range 40 {
		s := dataset.Sample{Name: "n" + string(rune('A'+i)), Defect: "good", Image: textureImage(rng, level)}
		if i < 30 {
			ds.Train = append(ds.Train, s)
		} else {
			ds.Val = append(ds.Val, s)
		}
	}
	out := filepath.Join(dir, name+".safetensors")
	var raw json.RawMessage
	if cfg != "" {
		raw = json.RawMessage(cfg)
	}
	if _, err := pipeline.Fit(context.Background(), pipeline.FitOptions{Method: gateMethod, Config: raw, Dataset: ds,
		DataOptions: dataset.Options{Seed: 1}, Alpha: 0.1, Out: out, DataDesc: "test"}); err != nil {
		t.Fatalf("fit %s: %v", name, err)
	}
	return out
}
