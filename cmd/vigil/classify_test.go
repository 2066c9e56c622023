package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// barPNG writes a 12×12 gray PNG: a horizontal bar (kind "h"), a vertical
// bar ("v") or a diagonal ("x"), shifted by off pixels.
func barPNG(t *testing.T, path, kind string, off int) {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, 12, 12))
	for y := 0; y < 12; y++ {
		for x := 0; x < 12; x++ {
			on := (kind == "h" && (y-off == 5 || y-off == 6)) || (kind == "v" && (x-off == 5 || x-off == 6)) || (kind == "x" && x-y == off)
			v := uint8((x*7 + y*3 + off) % 20)
			if on {
				v = 230
			}
			g.SetGray(x, y, color.Gray{v})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imageio.SavePNG(path, g); err != nil {
		t.Fatal(err)
	}
}

// vigil classify fit / test --json / predict on class folders: the report
// has the documented keys, the known classes are told apart, and predict
// names a class for every image.
func TestClassifyEndToEnd(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 12; i++ {
		barPNG(t, filepath.Join(dir, "train", "h", fmt.Sprintf("%02d.png", i)), "h", i%3-1)
		barPNG(t, filepath.Join(dir, "train", "v", fmt.Sprintf("%02d.png", i)), "v", i%3-1)
	}
	for i := 0; i < 4; i++ {
		for _, k := range []string{"h", "v", "x"} {
			barPNG(t, filepath.Join(dir, "test", k, fmt.Sprintf("t%d.png", i)), k, i%3-1)
		}
	}
	model := filepath.Join(dir, "m.safetensors")
	cfg := `{"depth":10,"widen":1,"alpha":0.2,"val_fraction":0.25,"train":{"epochs":4,"batch_size":16,"steps_per_epoch":6,"lr":0.005,"augment":{"hflip":false,"shift":0}}}`
	code, out, errOut := vigil(t, "classify", "fit", "--data", filepath.Join(dir, "train"), "--out", model, "--config", cfg, "--quiet")
	if code != 0 {
		t.Fatalf("fit exit %d: %s %s", code, out, errOut)
	}
	if !strings.Contains(out, "fitted 2 known classes (h, v)") {
		t.Errorf("fit output: %s", out)
	}
	code, out, errOut = vigil(t, "classify", "test", "--model", model, "--data", filepath.Join(dir, "test"), "--json")
	if code != 0 {
		t.Fatalf("test exit %d: %s %s", code, out, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("test --json: %v\n%s", err, out)
	}
	for _, k := range []string{"closed_set_accuracy", "auroc_msp", "auroc_maxlogit", "auroc_energy", "threshold", "unknown_fpr"} {
		if _, ok := rep[k].(float64); !ok {
			t.Errorf("key %q missing or not a number in %s", k, out)
		}
	}
	if rep["known_images"] != 8.0 || rep["unknown_images"] != 4.0 {
		t.Errorf("counts: %v known, %v unknown", rep["known_images"], rep["unknown_images"])
	}
	if acc := rep["closed_set_accuracy"].(float64); acc < 0.75 {
		t.Errorf("closed-set accuracy %.3f", acc)
	}
	code, out, errOut = vigil(t, "classify", "predict", "--model", model, filepath.Join(dir, "test", "h"))
	if code != 0 {
		t.Fatalf("predict exit %d: %s %s", code, out, errOut)
	}
	if n := strings.Count(out, "\n"); n != 4 {
		t.Errorf("predict printed %d lines for 4 images:\n%s", n, out)
	}
	if code, _, _ := vigil(t, "classify", "fit", "--data", dir); code != 2 {
		t.Errorf("fit without --out: exit %d, want 2", code)
	}
	if code, _, _ := vigil(t, "classify", "train"); code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
	if code, _, _ := vigil(t, "classify", "test", "--model", model, "--idx", dir); code != 1 {
		t.Errorf("IDX test of a folder model: exit %d, want 1", code)
	}
}
