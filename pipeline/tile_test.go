package pipeline

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
)

func TestTileStarts(t *testing.T) {
	tl := Tiling{Tile: 40, Overlap: 10}
	for _, c := range []struct {
		n    int
		want []int
	}{{100, []int{0, 30, 60}}, {40, []int{0}}, {25, []int{0}}, {41, []int{0, 1}}, {71, []int{0, 30, 31}}} {
		if got := tl.starts(c.n); !slices.Equal(got, c.want) {
			t.Errorf("starts(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

// echoDet's map is its input's first channel and its score the map's
// maximum, so a correct cut-and-blend gives back the image itself.
type echoDet struct{ meanDet }

func (echoDet) Score(_ context.Context, imgs []*imageio.Image) ([]detector.Result, error) {
	out := make([]detector.Result, len(imgs))
	for i, img := range imgs {
		m := &imageio.Map{H: img.H, W: img.W, Pix: append([]float32(nil), img.Plane(0)...)}
		out[i] = detector.Result{Score: float64(slices.Max(m.Pix)), Map: m}
	}
	return out, nil
}

func TestTiledBlendReconstructs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	img := imageio.New(1, 77, 130)
	for i := range img.Pix {
		img.Pix[i] = rng.Float32()
	}
	for _, tl := range []Tiling{{Tile: 32, Overlap: 0}, {Tile: 40, Overlap: 12}, {Tile: 64, Overlap: 31}, {Tile: 200, Overlap: 8}} {
		d := &tiled{Detector: &echoDet{}, t: tl}
		res, err := d.Score(context.Background(), []*imageio.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		m := res[0].Map
		if m.H != img.H || m.W != img.W {
			t.Fatalf("%+v: map %dx%d", tl, m.W, m.H)
		}
		for k, v := range m.Pix {
			if d := v - img.Pix[k]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("%+v: pixel %d blended to %v, image has %v", tl, k, v, img.Pix[k])
			}
		}
		if res[0].Score != float64(slices.Max(img.Pix)) {
			t.Fatalf("%+v: score %v, want the image maximum", tl, res[0].Score)
		}
	}
}

// A tiled model fits on tiles, stores its tiling, and test tiles the same way.
func TestFitEvaluateTiled(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 5))
	src := dataset.Source{Normal: filepath.Join(dir, "n"), Abnormal: filepath.Join(dir, "a"), Masks: filepath.Join(dir, "m")}
	big := func() *imageio.Image {
		img := imageio.New(1, 48, 64)
		for i := range img.Pix {
			img.Pix[i] = float32(0.5 + 0.05*rng.NormFloat64())
		}
		return img
	}
	for i := range 30 {
		writeImage(t, filepath.Join(src.Normal, fmtName("n", i)+".png"), big())
	}
	for i := range 6 {
		img := big()
		m := anomalous(img, rng)
		writeImage(t, filepath.Join(src.Abnormal, fmtName("a", i)+".png"), img)
		writeImage(t, filepath.Join(src.Masks, fmtName("a", i)+"_mask.png"), &imageio.Image{C: 1, H: m.H, W: m.W, Pix: m.Pix})
	}
	out := filepath.Join(t.TempDir(), "m.safetensors")
	_, err := Fit(context.Background(), FitOptions{Method: meanMethod, Config: []byte(`{"size":32}`), Data: src, Alpha: 0.1,
		Tiling: &Tiling{Tile: 32, Overlap: 8}, Out: out})
	if err != nil {
		t.Fatal(err) // meanDet refuses training images that are not 32x32: only tiles reach it
	}
	m, err := LoadModel(out, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Detector.(*tiled); !ok || m.Prov.Tiling.Tile != 32 {
		t.Fatalf("loaded model is not tiled: %T %+v", m.Detector, m.Prov.Tiling)
	}
	res, err := Evaluate(context.Background(), EvalOptions{Loaded: m, Data: src})
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageAUROC == nil || *res.ImageAUROC < 0.9 || res.PixelAUROC == nil {
		t.Fatalf("tiled AUROC %v, pixel %v", res.ImageAUROC, res.PixelAUROC)
	}
	if _, err := Fit(context.Background(), FitOptions{Method: meanMethod, Data: src, Alpha: 0.1, Tiling: &Tiling{Tile: 32, Overlap: 32}, Out: out}); !IsOptionError(err) {
		t.Fatalf("overlap = tile: %v", err)
	}
}
