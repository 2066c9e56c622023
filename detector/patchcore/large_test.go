package patchcore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/imageio"
)

// TestFitStreamLarge fits PatchCore (mobilenet_v2, defaults) on
// VIGIL_LARGE_N (default 10000) generated 256×256 images, decoded one
// batch at a time through FitStream, and logs the time, bank size and Go
// heap peak. Peak RSS is measured from outside:
//
//	go test -c -o /tmp/pc.test ./detector/patchcore
//	VIGIL_LARGE=1 /usr/bin/time -v /tmp/pc.test -test.run FitStreamLarge -test.v
//
// VIGIL_MODELS locates the backbones (default /work/shared/models).
func TestFitStreamLarge(t *testing.T) {
	if os.Getenv("VIGIL_LARGE") != "1" {
		t.Skip("set VIGIL_LARGE=1 to fit on 10,000 generated images (minutes)")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("VIGIL_LARGE_N")); err == nil && v > 0 {
		n = v
	}
	bdir := filepath.Join(envOr("VIGIL_MODELS", "/work/shared/models"), "mobilenet_v2_1.0_224_quant")
	if _, err := os.Stat(bdir); err != nil {
		t.Skipf("backbone folder %s: %v", bdir, err)
	}
	d, err := New(json.RawMessage(fmt.Sprintf(`{"backbone":"mobilenet_v2","backbone_dir":%q}`, bdir)))
	if err != nil {
		t.Fatal(err)
	}
	// A textured surface: smooth random stripes plus per-pixel noise, a
	// different seed per image, so patches vary as in real data.
	gen := func(i int) *imageio.Image {
		r := rand.New(rand.NewPCG(uint64(i), 99))
		im := imageio.New(3, 256, 256)
		fx, fy, ph := 0.02+0.05*r.Float64(), 0.02+0.05*r.Float64(), r.Float64()*6
		for c := 0; c < 3; c++ {
			for y := 0; y < 256; y++ {
				for x := 0; x < 256; x++ {
					v := 0.5 + 0.3*sin(fx*float64(x)+fy*float64(y)+ph+float64(c)) + 0.1*r.NormFloat64()
					im.Pix[(c*256+y)*256+x] = float32(v)
				}
			}
		}
		return im
	}
	t0 := time.Now()
	err = d.FitStream(context.Background(), n, func(lo, hi int) ([]*imageio.Image, error) {
		out := make([]*imageio.Image, hi-lo)
		for i := range out {
			out[i] = gen(lo + i)
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("fit %d images of 256x256 in %.1f s: bank %d x %d, Go heap now %d MiB, heap sys %d MiB", n, time.Since(t0).Seconds(), d.bank.N, d.dim, ms.HeapAlloc>>20, ms.HeapSys>>20)
}

func sin(x float64) float64 { return math.Sin(x) }
