package osr

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// writeIDX writes an uncompressed t10k split of n 2×2 images labelled i%5,
// pixel value = label·40.
func writeIDX(t *testing.T, dir string, n int) {
	t.Helper()
	img := binary.BigEndian.AppendUint32(nil, 0x0803)
	img = binary.BigEndian.AppendUint32(img, uint32(n))
	img = binary.BigEndian.AppendUint32(img, 2)
	img = binary.BigEndian.AppendUint32(img, 2)
	lab := binary.BigEndian.AppendUint32(nil, 0x0801)
	lab = binary.BigEndian.AppendUint32(lab, uint32(n))
	for i := 0; i < n; i++ {
		for k := 0; k < 4; k++ {
			img = append(img, byte(i%5*40))
		}
		lab = append(lab, byte(i%5))
	}
	if err := os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), lab, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Known classes map to their position in --known, others to Unknown (or
// are dropped with knownOnly); a known class absent from the split is an
// error.
func TestIDXKnown(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, 10)
	imgs, labels, classes, err := IDXKnown(dir, "t10k", []int{3, 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(classes, []string{"3", "1"}) || len(imgs) != 10 {
		t.Fatalf("classes %v, %d images", classes, len(imgs))
	}
	want := []int{Unknown, 1, Unknown, 0, Unknown, Unknown, 1, Unknown, 0, Unknown}
	if !slices.Equal(labels, want) {
		t.Fatalf("labels %v, want %v", labels, want)
	}
	if imgs[3].Pix[0] != 120.0/255 {
		t.Errorf("image 3 pixel %v, want 120/255", imgs[3].Pix[0])
	}
	_, labels, _, err = IDXKnown(dir, "t10k", []int{3, 1}, true)
	if err != nil || !slices.Equal(labels, []int{1, 0, 1, 0}) {
		t.Fatalf("known only: %v %v", labels, err)
	}
	if _, _, _, err := IDXKnown(dir, "t10k", []int{3, 7}, true); err == nil {
		t.Error("a known class without images was accepted")
	}
	if _, _, _, err := IDXKnown(dir, "t10k", []int{3, 3}, true); err == nil {
		t.Error("a repeated known class was accepted")
	}
}
