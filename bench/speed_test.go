package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/backbone"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/padim"
	"github.com/vigil-ad/vigil/detector/patchcore"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/tensor"
)

// env returns the variable or a default.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// loadImages decodes the first n images matching pattern.
func loadImages(t *testing.T, pattern string, n int) []*imageio.Image {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Skipf("no images match %s", pattern)
	}
	sort.Strings(files)
	files = files[:min(n, len(files))]
	out := make([]*imageio.Image, len(files))
	for i, f := range files {
		if out[i], err = imageio.Load(f); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// best runs fn reps times and returns the fastest wall time.
func best(reps int, fn func() error) (time.Duration, error) {
	var b time.Duration
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		if d := time.Since(t0); r == 0 || d < b {
			b = d
		}
	}
	return b, nil
}

// TestSpeedRatios measures, in one process and on the same images, the
// MobileNetV2 forward pass alone (prepared input tensors, batch as the
// detectors use), preparation plus forward (resize, crop, RGB), and the
// whole Score of PaDiM and PatchCore, at input sides 224 and 256, and
// prints per-image times and Score / forward ratios.
//
//	VIGIL_REALDATA=1 go test ./bench -run SpeedRatios -v -timeout 30m
//
// VIGIL_DATA (default /work/shared/data/magnetic_tile/mt) and
// VIGIL_MODELS (default /work/shared/models) locate the data; VIGIL_N
// (default 64) is the number of test images scored; VIGIL_FIT_N (default
// 761) the number of training images fitted on; VIGIL_SIZES (default
// "224 256") and VIGIL_METHODS (default "padim patchcore") pick the runs.
func TestSpeedRatios(t *testing.T) {
	if os.Getenv("VIGIL_REALDATA") != "1" {
		t.Skip("set VIGIL_REALDATA=1 to run the real-data speed harness")
	}
	data := env("VIGIL_DATA", "/work/shared/data/magnetic_tile/mt")
	models := env("VIGIL_MODELS", "/work/shared/models")
	var n, nfit int
	fmt.Sscan(env("VIGIL_N", "64"), &n)
	fmt.Sscan(env("VIGIL_FIT_N", "761"), &nfit)
	bdir := filepath.Join(models, "mobilenet_v2_1.0_224_quant")
	if _, err := os.Stat(bdir); err != nil {
		t.Skipf("backbone folder %s: %v", bdir, err)
	}
	train := loadImages(t, filepath.Join(data, "train/good/*"), nfit)
	test := loadImages(t, filepath.Join(data, "test/*/*"), 1<<30)
	// Every n-th so that the sample mixes good and defective images.
	step := max(1, len(test)/n)
	var sample []*imageio.Image
	for i := 0; i < len(test) && len(sample) < n; i += step {
		sample = append(sample, test[i])
	}
	ctx := context.Background()
	var sizes []int
	for _, f := range strings.Fields(env("VIGIL_SIZES", "224 256")) {
		var v int
		fmt.Sscan(f, &v)
		sizes = append(sizes, v)
	}
	methods := strings.Fields(env("VIGIL_METHODS", "padim patchcore"))
	for _, size := range sizes {
		cfg := fmt.Sprintf(`{"backbone":"mobilenet_v2","backbone_dir":%q,"size":%d}`, bdir, size)
		ex, err := backbone.Open("mobilenet_v2", backbone.OpenOptions{BackboneDir: bdir})
		if err != nil {
			t.Fatal(err)
		}
		g := embedding.Geometry{Size: size}
		const batch = 8
		var xs []*tensor.Tensor
		for lo := 0; lo < len(sample); lo += batch {
			x, err := g.Batch(sample[lo:min(lo+batch, len(sample))])
			if err != nil {
				t.Fatal(err)
			}
			xs = append(xs, x)
		}
		fwd, err := best(3, func() error {
			for _, x := range xs {
				if _, err := ex.Features(x); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		prep, err := best(3, func() error {
			return embedding.Extract(ex, g, sample, batch, func(int, []*tensor.Tensor) error { return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(len(sample)) }
		t.Logf("size %d: backbone forward alone %.1f ms/image, with input preparation %.1f ms/image", size, per(fwd), per(prep))
		for _, method := range methods {
			var d detector.Detector
			switch method {
			case "padim":
				d, err = padim.New(json.RawMessage(cfg))
			default:
				d, err = patchcore.New(json.RawMessage(cfg))
			}
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			if err := d.Fit(ctx, train); err != nil {
				t.Fatal(err)
			}
			fit := time.Since(t0)
			sc, err := best(3, func() error { _, err := d.Score(ctx, sample); return err })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("size %d %-9s: fit %d images %.1f s, score %.1f ms/image, score/forward %.2f, score/(prep+forward) %.2f", size, method, len(train), fit.Seconds(), per(sc), float64(sc)/float64(fwd), float64(sc)/float64(prep))
		}
	}
}
