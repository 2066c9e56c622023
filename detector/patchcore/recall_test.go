package patchcore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/tensor"
)

// TestIVFRecallRealData reports recall@1 of the ivf search against the
// exact search, and both search times, on the test patches of a real
// data set (magnetic tile by default) with mobilenet_v2:
//
//	VIGIL_REALDATA=1 go test ./detector/patchcore -run IVFRecall -v
//
// VIGIL_DATA and VIGIL_MODELS locate the data set and backbones;
// VIGIL_NPROBE lists nprobe values (default "1 2 4 8 16").
func TestIVFRecallRealData(t *testing.T) {
	if os.Getenv("VIGIL_REALDATA") != "1" {
		t.Skip("set VIGIL_REALDATA=1 to measure ivf recall on real data")
	}
	data := envOr("VIGIL_DATA", "/work/shared/data/magnetic_tile/mt")
	bdir := filepath.Join(envOr("VIGIL_MODELS", "/work/shared/models"), "mobilenet_v2_1.0_224_quant")
	load := func(pattern string, n int) []*imageio.Image {
		files, _ := filepath.Glob(filepath.Join(data, pattern))
		if len(files) == 0 {
			t.Skipf("no images match %s in %s", pattern, data)
		}
		sort.Strings(files)
		step := max(1, len(files)/n)
		var out []*imageio.Image
		for i := 0; i < len(files) && len(out) < n; i += step {
			im, err := imageio.Load(files[i])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, im)
		}
		return out
	}
	train, test := load("train/good/*", 1<<30), load("test/*/*", 64)
	d, err := New(json.RawMessage(fmt.Sprintf(`{"backbone":"mobilenet_v2","backbone_dir":%q,"search":"ivf"}`, bdir)))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	ex, _ := d.Extractor(d.cfg.Source)
	var rows []float32
	err = embedding.Extract(ex, d.cfg.Geometry, test, 8, func(_ int, f []*tensor.Tensor) error {
		r, _, _, _, _, err := d.patches(ex, f)
		rows = append(rows, r...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	nq := len(rows) / d.dim
	t0 := time.Now()
	_, exact := d.bank.Search(rows, nq, 1)
	te := time.Since(t0)
	t.Logf("bank %d x %d, %d lists, %d test patches of %d images: exact search %.1f ms/image", d.bank.N, d.dim, d.ivf.Lists(), nq, len(test), float64(te.Microseconds())/1000/float64(len(test)))
	var probes []int
	for _, f := range filepath.SplitList(envOr("VIGIL_NPROBE", "1:2:4:8:16")) {
		var p int
		fmt.Sscan(f, &p)
		probes = append(probes, p)
	}
	for _, p := range probes {
		t0 := time.Now()
		_, got := d.ivf.Search(rows, nq, p)
		ti := time.Since(t0)
		hit := 0
		for i := range got {
			if got[i] == exact[i] {
				hit++
			}
		}
		t.Logf("nprobe %2d: recall@1 %.4f, search %.1f ms/image (%.1fx faster than exact)", p, float64(hit)/float64(nq), float64(ti.Microseconds())/1000/float64(len(test)), float64(te)/float64(ti))
	}
	// Whole Score time over the backbone forward alone (prepared input
	// batches, as bench TestSpeedRatios), exact and ivf at nprobe 4 and 8,
	// interleaved rounds, minimum times.
	var xs []*tensor.Tensor
	for lo := 0; lo < len(test); lo += 8 {
		x, err := d.cfg.Geometry.Batch(test[lo:min(lo+8, len(test))])
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	ix := d.ivf
	runs := []struct {
		name  string
		probe int
	}{{"forward", 0}, {"exact", 0}, {"ivf nprobe 4", 4}, {"ivf nprobe 8", 8}}
	best := make([]time.Duration, len(runs))
	for round := 0; round < 3; round++ {
		for i, r := range runs {
			t0 := time.Now()
			switch {
			case i == 0:
				for _, x := range xs {
					if _, err := ex.Features(x); err != nil {
						t.Fatal(err)
					}
				}
			default:
				d.ivf, d.cfg.Probe = nil, r.probe
				if r.probe > 0 {
					d.ivf = ix
				}
				if _, err := d.Score(context.Background(), test); err != nil {
					t.Fatal(err)
				}
			}
			if el := time.Since(t0); round == 0 || el < best[i] {
				best[i] = el
			}
		}
	}
	for i, r := range runs {
		t.Logf("%-13s %.1f ms/image, %.2fx forward", r.name, float64(best[i].Microseconds())/1000/float64(len(test)), float64(best[i])/float64(best[0]))
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
