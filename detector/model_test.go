package detector

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/atomicfile"
	"github.com/vigil-ad/vigil/safetensors"
)

// meanDet scores an image by the squared distance of its per-channel mean
// from the training mean: small, but a real fitted model to persist.
type meanDet struct {
	cfg  meanCfg
	mean []float32
}

type meanCfg struct {
	Channels int `json:"channels"`
}

func (d *meanDet) Method() string { return "testmean" }
func (d *meanDet) Config() any    { return d.cfg }
func (d *meanDet) Fit(_ context.Context, imgs []*imageio.Image) error {
	d.mean = make([]float32, d.cfg.Channels)
	for _, im := range imgs {
		for c := 0; c < d.cfg.Channels; c++ {
			d.mean[c] += chanMean(im, c) / float32(len(imgs))
		}
	}
	return nil
}
func (d *meanDet) Score(_ context.Context, imgs []*imageio.Image) ([]Result, error) {
	out := make([]Result, len(imgs))
	for i, im := range imgs {
		var s float64
		for c := 0; c < d.cfg.Channels; c++ {
			v := float64(chanMean(im, c) - d.mean[c])
			s += v * v
		}
		out[i].Score = s
	}
	return out, nil
}
func (d *meanDet) Tensors() []safetensors.Tensor {
	return []safetensors.Tensor{safetensors.F32("mean", []int{len(d.mean)}, d.mean)}
}
func (d *meanDet) Restore(cfg json.RawMessage, ts map[string]safetensors.Tensor) error {
	if err := json.Unmarshal(cfg, &d.cfg); err != nil {
		return err
	}
	v, err := Float32s(ts, "mean", d.cfg.Channels)
	d.mean = v
	return err
}

func chanMean(im *imageio.Image, c int) float32 {
	var s float32
	for _, v := range im.Plane(c) {
		s += v
	}
	return s / float32(im.H*im.W)
}

func init() {
	Register("testmean", func(cfg json.RawMessage) (Detector, error) {
		d := &meanDet{cfg: meanCfg{Channels: 3}}
		if len(cfg) > 0 {
			if err := json.Unmarshal(cfg, &d.cfg); err != nil {
				return nil, err
			}
		}
		return d, nil
	})
}

func testImages(n int, shift float32) []*imageio.Image {
	var out []*imageio.Image
	for i := 0; i < n; i++ {
		im := imageio.New(3, 4, 5)
		for j := range im.Pix {
			im.Pix[j] = float32((i*7+j*3)%11)/20 + shift
		}
		out = append(out, im)
	}
	return out
}

func fitted(t *testing.T) Detector {
	d, err := New("testmean", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(context.Background(), testImages(6, 0)); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSaveLoadRoundTrip(t *testing.T) {
	d := fitted(t)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	calib := json.RawMessage(`{"threshold":0.25}`)
	if err := Save(path, d, Meta{Calibration: calib, Extra: map[string]string{"data": "x"}}); err != nil {
		t.Fatal(err)
	}
	d2, meta, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Method != "testmean" || string(meta.Calibration) != string(calib) || meta.Extra["data"] != "x" || meta.Version == "" {
		t.Fatalf("metadata not round-tripped: %+v", meta)
	}
	imgs := testImages(4, 0.1)
	a, _ := d.Score(context.Background(), imgs)
	b, _ := d2.Score(context.Background(), imgs)
	for i := range a {
		if a[i].Score != b[i].Score || math.IsNaN(a[i].Score) {
			t.Fatalf("image %d: score %v before save, %v after load", i, a[i].Score, b[i].Score)
		}
	}
}

func TestLoadRefusesTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(path, fitted(t), Meta{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, n := range []int{0, 5, 12, len(b) - 1} {
		if err := os.WriteFile(path, b[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("truncated to %d bytes: want an error naming the file, got %v", n, err)
		}
	}
}

func TestLoadRefusesUnknownMethod(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	md := map[string]string{"format": "vigil-model/1", "method": "nosuchmethod", "config": "{}"}
	if err := safetensors.WriteFile(path, md, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "nosuchmethod") {
		t.Fatalf("want unknown-method error, got %v", err)
	}
}

func TestLoadRefusesShapeMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	md := map[string]string{"format": "vigil-model/1", "method": "testmean", "config": `{"channels":3}`}
	ts := []safetensors.Tensor{safetensors.F32("mean", []int{2}, []float32{1, 2})}
	if err := safetensors.WriteFile(path, md, ts); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), `"mean"`) {
		t.Fatalf("want shape error naming tensor mean, got %v", err)
	}
	if err := safetensors.WriteFile(path, md, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(path); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("want missing-tensor error, got %v", err)
	}
}

func TestLoadRefusesForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := safetensors.WriteFile(path, map[string]string{"method": "testmean"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(path); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("want format error, got %v", err)
	}
}

// An interrupted save must leave the previous model intact and no temp file.
func TestSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := Save(path, fitted(t), Meta{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	boom := errors.New("disk full")
	err := atomicfile.Write(path, func(w io.Writer) error {
		w.Write([]byte("partial garbage"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("want the fill error, got %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("failed save changed the existing model")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
	if _, _, err := Load(path); err != nil {
		t.Fatal(err)
	}
}

func TestNewUnknown(t *testing.T) {
	if _, err := New("bogus", nil); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("got %v", err)
	}
}

// Fail closed: a corrupt tensor value is refused when a model loads.
func TestFloat32sRefusesNonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		ts := map[string]safetensors.Tensor{"w": safetensors.F32("w", []int{3}, []float32{1, bad, 2})}
		_, err := Float32s(ts, "w", 3)
		if err == nil || !strings.Contains(err.Error(), `"w"`) || !strings.Contains(err.Error(), "index 1") {
			t.Fatalf("value %v: %v; want an error naming tensor w and index 1", bad, err)
		}
	}
	ts := map[string]safetensors.Tensor{"w": safetensors.F32("w", []int{2}, []float32{1, 2})}
	if v, err := Float32s(ts, "w", 2); err != nil || v[1] != 2 {
		t.Fatalf("finite tensor: %v %v", v, err)
	}
}
