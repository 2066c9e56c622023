package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// buildMVTec writes a small MVTec-layout dataset and returns the images
// written, by path.
func buildMVTec(t *testing.T, dir string, withGT bool) map[string]*imageio.Image {
	t.Helper()
	imgs := map[string]*imageio.Image{}
	add := func(rel string, seed uint64) {
		p := filepath.Join(dir, rel)
		imgs[p] = writeImg(t, p, 3, 6, 5, seed)
	}
	for i := 0; i < 8; i++ {
		add(fmt.Sprintf("train/good/%03d.png", i), uint64(i))
	}
	writeFile(t, filepath.Join(dir, "train/good/.hidden.png"), []byte("junk"))
	writeFile(t, filepath.Join(dir, "train/good/notes.txt"), []byte("not an image"))
	add("test/good/000.png", 100)
	add("test/good/001.png", 101)
	add("test/crack/000.png", 200)
	add("test/crack/001.png", 201)
	add("test/hole/000.png", 300)
	if withGT {
		writeMask(t, filepath.Join(dir, "ground_truth/crack/000_mask.png"), 6, 5, 0, 1)
		writeMask(t, filepath.Join(dir, "ground_truth/crack/001_mask.png"), 6, 5, 7)
		writeMask(t, filepath.Join(dir, "ground_truth/hole/000_mask.png"), 6, 5, 29)
	}
	return imgs
}

func TestLoadMVTec(t *testing.T) {
	dir := t.TempDir()
	imgs := buildMVTec(t, dir, true)
	ds, err := LoadMVTec(dir, Options{Seed: 3, MinVal: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 6 || len(ds.Val) != 2 || len(ds.Test) != 5 || !ds.HasMasks {
		t.Fatalf("train %d val %d test %d masks %v", len(ds.Train), len(ds.Val), len(ds.Test), ds.HasMasks)
	}
	if got := names(ds.Test); got != "crack/000,crack/001,good/000,good/001,hole/000" {
		t.Fatalf("test order %s", got)
	}
	all := append(append(append([]Sample{}, ds.Train...), ds.Val...), ds.Test...)
	for _, s := range all {
		want, ok := imgs[s.Path]
		if !ok {
			t.Fatalf("unexpected path %s", s.Path)
		}
		if s.Image != nil {
			t.Fatalf("%s decoded at load time", s.Path)
		}
		if ld := mustLoad(t, &s); ld.Image.C != 3 || !sameF(ld.Image.Pix, want.Pix, 0) {
			t.Fatalf("%s: pixels differ", s.Path)
		}
	}
	masks := map[string][]int{"crack/000": {0, 1}, "crack/001": {7}, "hole/000": {29}, "good/000": nil, "good/001": nil}
	for _, s := range ds.Test {
		ld := mustLoad(t, &s)
		if ld.Mask == nil || !s.HasMask() {
			t.Fatalf("%s: nil mask", s.Name)
		}
		want := imageio.NewMap(6, 5)
		for _, i := range masks[s.Name] {
			want.Pix[i] = 1
		}
		if !sameF(ld.Mask.Pix, want.Pix, 0) {
			t.Fatalf("%s: mask %v", s.Name, ld.Mask.Pix)
		}
		if (s.Label == 1) != (s.Defect != "good") {
			t.Fatalf("%s: label %d defect %s", s.Name, s.Label, s.Defect)
		}
	}
	// same seed, same split; some other seed gives another split
	again, err := LoadMVTec(dir, Options{Seed: 3, MinVal: 2})
	if err != nil {
		t.Fatal(err)
	}
	if names(again.Val) != names(ds.Val) || names(again.Train) != names(ds.Train) {
		t.Fatal("split not deterministic")
	}
	differs := false
	for seed := uint64(4); seed < 20 && !differs; seed++ {
		o, err := LoadMVTec(dir, Options{Seed: seed, MinVal: 2})
		if err != nil {
			t.Fatal(err)
		}
		differs = names(o.Val) != names(ds.Val)
	}
	if !differs {
		t.Fatal("the seed does not change the validation split")
	}
	// no validation split when both knobs are negative
	o, err := LoadMVTec(dir, Options{ValFraction: -1, MinVal: -1})
	if err != nil || len(o.Val) != 0 || len(o.Train) != 8 {
		t.Fatalf("no-val load: %v, %d val", err, len(o.Val))
	}
}

func TestLoadMVTecMasksAbsentOrPartial(t *testing.T) {
	dir := t.TempDir()
	buildMVTec(t, dir, false)
	ds, err := LoadMVTec(dir, Options{MinVal: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ds.HasMasks {
		t.Fatal("HasMasks without ground_truth")
	}
	for _, s := range ds.Test {
		if s.HasMask() || mustLoad(t, &s).Mask != nil {
			t.Fatalf("%s has a mask", s.Name)
		}
	}
	// one defect image with a mask, the others without
	writeMask(t, filepath.Join(dir, "ground_truth/crack/001_mask.png"), 6, 5, 3)
	ds, err = LoadMVTec(dir, Options{MinVal: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ds.HasMasks {
		t.Fatal("HasMasks with masks missing")
	}
	for _, s := range ds.Test {
		if (mustLoad(t, &s).Mask != nil) != (s.Name == "crack/001") || s.HasMask() != (s.Name == "crack/001") {
			t.Fatalf("%s: mask presence wrong", s.Name)
		}
	}
	if got := strings.Join(ds.NoMask, ","); got != "crack/000,hole/000" {
		t.Fatalf("NoMask %q", got)
	}
	writeMask(t, filepath.Join(dir, "ground_truth/crack/009_mask.png"), 6, 5, 3)
	writeMask(t, filepath.Join(dir, "ground_truth/dent/000_mask.png"), 6, 5, 3)
	ds, err = LoadMVTec(dir, Options{MinVal: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(ds.Warnings, "|"); !strings.Contains(w, "ground_truth/crack/009_mask.png has no image") || !strings.Contains(w, "ground_truth/dent/000_mask.png has no image") {
		t.Fatalf("warnings %q", ds.Warnings)
	}
}

func TestLoadMVTecErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadMVTec(dir, Options{})
	wantErr(t, err, filepath.Join(dir, "train", "good"))
	_, err = LoadMVTec(filepath.Join(dir, "nope"), Options{})
	wantErr(t, err, "nope")

	buildMVTec(t, dir, true)
	// default validation (at least 5) leaves 3 of 8: fine; MinVal 8 refuses
	_, err = LoadMVTec(dir, Options{MinVal: 8})
	wantErr(t, err, filepath.Join(dir, "train", "good"), "8 normal training images")

	// a mask of the wrong size names the mask file
	bad := filepath.Join(dir, "ground_truth/hole/000_mask.png")
	writeMask(t, bad, 5, 5)
	_, err = LoadMVTec(dir, Options{})
	wantErr(t, err, bad, "5x5", "5x6")
	writeMask(t, bad, 6, 5, 29)

	// a corrupt test image names the file
	broken := filepath.Join(dir, "test/crack/002.png")
	writeFile(t, broken, []byte("\x89PNG\r\n\x1a\ngarbage"))
	_, err = LoadMVTec(dir, Options{})
	wantErr(t, err, broken)
	os.Remove(broken)

	// duplicate stems are refused
	dup := filepath.Join(dir, "test/hole/000.jpg")
	writeFile(t, dup, []byte("x"))
	_, err = LoadMVTec(dir, Options{})
	wantErr(t, err, "000.jpg", "000.png")
	os.Remove(dup)

	// an oversized image is refused by MaxPixels (6x5 = 30 pixels)
	_, err = LoadMVTec(dir, Options{MaxPixels: 29})
	wantErr(t, err, "limit of 29")

	// missing test folder, empty train folder
	d2 := t.TempDir()
	mustMkdir(t, filepath.Join(d2, "train/good"))
	_, err = LoadMVTec(d2, Options{})
	wantErr(t, err, filepath.Join(d2, "test"))
	mustMkdir(t, filepath.Join(d2, "test/good"))
	_, err = LoadMVTec(d2, Options{})
	wantErr(t, err, "no images", filepath.Join(d2, "train", "good"))
}

func TestLoadFolders(t *testing.T) {
	dir := t.TempDir()
	nd, ad, md := filepath.Join(dir, "ok"), filepath.Join(dir, "ng"), filepath.Join(dir, "masks")
	for i := 0; i < 10; i++ {
		writeImg(t, filepath.Join(nd, fmt.Sprintf("n%02d.png", i)), 1, 4, 4, uint64(i))
	}
	a0 := writeImg(t, filepath.Join(ad, "a0.png"), 1, 4, 4, 50)
	writeImg(t, filepath.Join(ad, "a1.png"), 1, 4, 4, 51)
	writeImg(t, filepath.Join(ad, "a2.png"), 1, 4, 4, 52)
	writeMask(t, filepath.Join(md, "a0_mask.png"), 4, 4, 0)
	writeMask(t, filepath.Join(md, "a1.png"), 4, 4, 1)
	writeMask(t, filepath.Join(md, "a2.png"), 4, 4, 2) // loses to a2_mask
	writeMask(t, filepath.Join(md, "a2_mask.png"), 4, 4, 3)

	opt := Options{Seed: 9, MinVal: 1}
	ds, err := LoadFolders(nd, ad, md, opt)
	if err != nil {
		t.Fatal(err)
	}
	// 10 normals: 2 test, then val max(1, round(0.8)) = 1, train 7
	if len(ds.Train) != 7 || len(ds.Val) != 1 || len(ds.Test) != 5 || !ds.HasMasks {
		t.Fatalf("train %d val %d test %d masks %v", len(ds.Train), len(ds.Val), len(ds.Test), ds.HasMasks)
	}
	seen := map[string]bool{}
	for _, s := range append(append(append([]Sample{}, ds.Train...), ds.Val...), ds.Test...) {
		if seen[s.Path] {
			t.Fatalf("%s appears twice", s.Path)
		}
		seen[s.Path] = true
	}
	if len(seen) != 13 {
		t.Fatalf("%d distinct images, want 13", len(seen))
	}
	wantMask := map[string]int{"anomaly/a0": 0, "anomaly/a1": 1, "anomaly/a2": 3}
	for _, s := range ds.Test {
		ld := mustLoad(t, &s)
		if s.Label == 0 {
			if s.Defect != "good" || ld.Mask == nil || !s.HasMask() || !sameF(ld.Mask.Pix, make([]float32, 16), 0) {
				t.Fatalf("%s: normal test sample wrong", s.Name)
			}
			continue
		}
		if s.Defect != AnomalyDefect {
			t.Fatalf("%s: defect %q", s.Name, s.Defect)
		}
		for i, v := range ld.Mask.Pix {
			if (v == 1) != (i == wantMask[s.Name]) {
				t.Fatalf("%s: mask %v, want pixel %d", s.Name, ld.Mask.Pix, wantMask[s.Name])
			}
		}
		if s.Name == "anomaly/a0" && !sameF(ld.Image.Pix, a0.Pix, 0) {
			t.Fatal("a0 pixels differ")
		}
	}
	again, _ := LoadFolders(nd, ad, md, opt)
	if names(again.Test) != names(ds.Test) || names(again.Val) != names(ds.Val) {
		t.Fatal("split not deterministic")
	}

	// no masks folder, no anomalous folder
	ds, err = LoadFolders(nd, ad, "", opt)
	if err != nil || ds.HasMasks || ds.Test[len(ds.Test)-1].HasMask() {
		t.Fatalf("without masks: %v", err)
	}
	ds, err = LoadFolders(nd, "", "", opt)
	if err != nil || len(ds.Test) != 2 {
		t.Fatalf("without anomalies: %v", err)
	}
	// errors name the folder
	_, err = LoadFolders(filepath.Join(dir, "missing"), ad, md, opt)
	wantErr(t, err, "missing")
	_, err = LoadFolders(nd, ad, filepath.Join(dir, "nomasks"), opt)
	wantErr(t, err, "nomasks")
	one := filepath.Join(dir, "one")
	writeImg(t, filepath.Join(one, "x.png"), 1, 4, 4, 1)
	_, err = LoadFolders(one, "", "", opt)
	wantErr(t, err, one)
	_, err = LoadFolders(nd, "", "", Options{MinVal: 8})
	wantErr(t, err, nd)
}
