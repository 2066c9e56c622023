package dataset

import (
	"path/filepath"
	"testing"
)

// Skipping a split leaves it empty and the other splits exactly as in a
// full load.
func TestSkipSplits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	if err := WriteMVTec(Demo(DemoOptions{Seed: 3, NTrain: 30, NTestGood: 4, NTestBad: 4}), dir); err != nil {
		t.Fatal(err)
	}
	full, err := LoadMVTec(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	train, err := LoadMVTec(dir, Options{SkipTest: true})
	if err != nil {
		t.Fatal(err)
	}
	test, err := LoadMVTec(dir, Options{SkipTrain: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(train.Test) != 0 || train.HasMasks || len(test.Train) != 0 || len(test.Val) != 0 {
		t.Fatalf("skipped splits not empty: %d test, %d train, %d val", len(train.Test), len(test.Train), len(test.Val))
	}
	if names(train.Train) != names(full.Train) || names(train.Val) != names(full.Val) || names(test.Test) != names(full.Test) || !test.HasMasks {
		t.Fatal("kept splits differ from a full load")
	}
	for _, s := range test.Test {
		if ld := mustLoad(t, &s); ld.Image == nil || ld.Mask == nil {
			t.Fatalf("%s: image or mask missing", s.Name)
		}
	}
}

// IDX skips converting the skipped split but keeps the others identical.
func TestSkipSplitsIDX(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	writeIDXDir(t, dir, false, false)
	full, err := LoadIDX(dir, 2, Options{MinVal: 1, Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	train, err := LoadIDX(dir, 2, Options{MinVal: 1, Seed: 6, SkipTest: true})
	if err != nil {
		t.Fatal(err)
	}
	test, err := LoadIDX(dir, 2, Options{MinVal: 1, Seed: 6, SkipTrain: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(train.Test) != 0 || len(test.Train)+len(test.Val) != 0 || names(train.Train) != names(full.Train) ||
		names(train.Val) != names(full.Val) || names(test.Test) != names(full.Test) {
		t.Fatal("kept splits differ from a full load")
	}
	for i := range test.Test {
		if !sameF(test.Test[i].Image.Pix, full.Test[i].Image.Pix, 0) {
			t.Fatalf("%s: pixels differ", test.Test[i].Name)
		}
	}
	if train.Train[0].Image == nil || !sameF(train.Train[0].Image.Pix, full.Train[0].Image.Pix, 0) {
		t.Fatal("training pixels differ")
	}
}
