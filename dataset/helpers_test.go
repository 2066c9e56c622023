package dataset

import (
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// writeImg writes a deterministic c-channel h×w PNG (values k/255) at path
// and returns the image as loaded back.
func writeImg(t *testing.T, path string, c, h, w int, seed uint64) *imageio.Image {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	img := imageio.New(c, h, w)
	for i := range img.Pix {
		img.Pix[i] = float32(rng.IntN(256)) / 255
	}
	mustMkdir(t, filepath.Dir(path))
	if err := imageio.SavePNG(path, img.ToGoImage()); err != nil {
		t.Fatal(err)
	}
	return img
}

// writeMask writes a 0/255 mask with the given pixels set.
func writeMask(t *testing.T, path string, h, w int, on ...int) *imageio.Map {
	t.Helper()
	m := imageio.NewMap(h, w)
	for _, i := range on {
		m.Pix[i] = 1
	}
	mustMkdir(t, filepath.Dir(path))
	if err := imageio.SavePNG(path, m.ToGoImage()); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	mustMkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameF(a, b []float32, tol float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		d := a[i] - b[i]
		if d > tol || d < -tol {
			return false
		}
	}
	return true
}

func names(ss []Sample) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return strings.Join(out, ",")
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

var _ = image.Rect

// mustLoad decodes a sample with default options.
func mustLoad(t *testing.T, s *Sample) Loaded {
	t.Helper()
	ld, err := s.Load(imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ld
}
