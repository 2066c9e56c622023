package dataset

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// Every image of a split comes back with its label and pixel values /255.
func TestLoadIDXClasses(t *testing.T) {
	dir := t.TempDir()
	writeIDXDir(t, dir, true, true)
	imgs, labels, err := LoadIDXClasses(dir, "t10k")
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 10 || len(labels) != 10 {
		t.Fatalf("%d images, %d labels, want 10", len(imgs), len(labels))
	}
	for i, m := range imgs {
		if labels[i] != i%4 || m.C != 1 || m.H != 3 || m.W != 2 {
			t.Fatalf("image %d: label %d, %dx%dx%d", i, labels[i], m.C, m.H, m.W)
		}
		for k, v := range m.Pix {
			if want := float32(byte((i*6+k)*7)) / 255; v != want {
				t.Fatalf("image %d pixel %d = %v, want %v", i, k, v, want)
			}
		}
	}
	if _, _, err := LoadIDXClasses(dir, "valid"); err == nil {
		t.Error("a missing split was accepted")
	}
}

// Class folders are sorted by name, their images labelled by the folder's
// index; an empty class folder is refused by name.
func TestClassFiles(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 2, 2))
	g.Set(0, 0, color.Gray{200})
	for _, p := range []string{"shirt/a.png", "shirt/b.png", "bag/c.png"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := imageio.SavePNG(filepath.Join(dir, p), g); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "shirt", "notes.txt"), []byte("x"), 0o644)
	paths, labels, names, err := ClassFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "bag,shirt" || len(paths) != 3 || labels[0] != 0 || labels[1] != 1 || labels[2] != 1 ||
		paths[0] != filepath.Join(dir, "bag", "c.png") || paths[2] != filepath.Join(dir, "shirt", "b.png") {
		t.Fatalf("paths %v labels %v names %v", paths, labels, names)
	}
	os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
	if _, _, _, err := ClassFiles(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty class folder: %v", err)
	}
}
