package dataset

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// grid parses rows of '.' and '#' into a 0/1 map.
func grid(rows ...string) *imageio.Map {
	m := imageio.NewMap(len(rows), len(rows[0]))
	for y, r := range rows {
		for x, c := range r {
			if c == '#' {
				m.Set(y, x, 1)
			}
		}
	}
	return m
}

func TestRLEColumnMajor(t *testing.T) {
	// 3 rows × 4 columns; pixels are numbered down each column:
	//   1 4 7 10
	//   2 5 8 11
	//   3 6 9 12
	cases := []struct {
		rle  string
		want *imageio.Map
	}{
		{"1 2", grid("#...", "#...", "....")},
		{"5 3", grid("..#.", ".#..", ".#..")}, // 5, 6 down column 1, then 7 tops column 2
		{"3 1 10 3", grid("...#", "...#", "#..#")},
		{"1 12", grid("####", "####", "####")},
		{"", grid("....", "....", "....")},
	}
	for _, c := range cases {
		runs, err := parseRLE(c.rle, "case")
		if err != nil {
			t.Fatalf("%q: %v", c.rle, err)
		}
		got, err := (&rleMask{runs: runs}).decode(3, 4)
		if err != nil {
			t.Fatalf("%q: %v", c.rle, err)
		}
		if !sameF(got.Pix, c.want.Pix, 0) {
			t.Fatalf("%q: got %v want %v", c.rle, got.Pix, c.want.Pix)
		}
	}
	for _, bad := range []string{"1", "0 3", "2 0", "x 1", "1 -2"} {
		_, err := parseRLE(bad, "train.csv line 7")
		wantErr(t, err, "train.csv line 7")
	}
	runs, _ := parseRLE("11 3", "train.csv line 9")
	_, err := (&rleMask{runs: runs}).decode(3, 4)
	wantErr(t, err, "train.csv line 9", "11+3")
	// runs whose end overflows int64 are refused, not wrapped
	runs, _ = parseRLE("4611686018427387904 4611686018427387905", "train.csv line 10")
	_, err = (&rleMask{runs: runs}).decode(3, 4)
	wantErr(t, err, "train.csv line 10")
}

// buildSeverstal writes 8 normal 4×6 images n0..n7 and anomalous ones:
// a1 (class 1), a3 (class 3), a13 (classes 1 and 3).
func buildSeverstal(t *testing.T, dir string, header string, rows []string) {
	t.Helper()
	for i := 0; i < 8; i++ {
		writeImg(t, filepath.Join(dir, "train_images", fmt.Sprintf("n%d.jpg.png", i)), 1, 4, 6, uint64(i))
	}
	for i, n := range []string{"a1", "a3", "a13"} {
		writeImg(t, filepath.Join(dir, "train_images", n+".jpg.png"), 1, 4, 6, uint64(40+i))
	}
	writeFile(t, filepath.Join(dir, "train.csv"), []byte(header+"\n"+strings.Join(rows, "\n")+"\n"))
}

func TestSeverstal(t *testing.T) {
	dir := t.TempDir()
	buildSeverstal(t, dir, "ImageId,ClassId,EncodedPixels", []string{
		"a1.jpg.png,1,1 2",
		"a3.jpg.png,3,21 4",
		"a13.jpg.png,1,5 1",
		"a13.jpg.png,3,24 1",
		"gone.jpg.png,2,1 1",
	})
	opt := Options{Seed: 4, MinVal: 1}
	ds, err := Load(Source{Dir: dir}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Layout != LayoutSeverstal {
		t.Fatalf("detected %s", ds.Layout)
	}
	// 8 normals: round(1.6) = 2 test, val max(1, round(0.6)) = 1, train 5
	if len(ds.Train) != 5 || len(ds.Val) != 1 || len(ds.Test) != 5 || !ds.HasMasks {
		t.Fatalf("train %d val %d test %d masks %v", len(ds.Train), len(ds.Val), len(ds.Test), ds.HasMasks)
	}
	want := map[string]*imageio.Map{
		// a1: pixels 1,2 = column 0 rows 0,1
		"class1/a1.jpg": grid("#.....", "#.....", "......", "......"),
		// a3: pixels 21..24 = column 5, rows 0..3
		"class3/a3.jpg": grid(".....#", ".....#", ".....#", ".....#"),
		// a13: pixel 5 = column 1 row 0, pixel 24 = column 5 row 3
		"class1+class3/a13.jpg": grid(".#....", "......", "......", ".....#"),
	}
	for _, s := range ds.Test {
		ld := mustLoad(t, &s)
		if s.Label == 0 {
			if s.Defect != "good" || !sameF(ld.Mask.Pix, make([]float32, 24), 0) {
				t.Fatalf("%s: normal test sample wrong", s.Name)
			}
			continue
		}
		w, ok := want[s.Name]
		if !ok || !sameF(ld.Mask.Pix, w.Pix, 0) {
			t.Fatalf("%s: mask %v", s.Name, ld.Mask.Pix)
		}
	}
	if !strings.Contains(strings.Join(ds.Warnings, "\n"), "train.csv lists 1 images not in train_images: gone.jpg.png") {
		t.Fatalf("warnings %q", ds.Warnings)
	}
	again, _ := Load(Source{Dir: dir}, opt)
	if names(again.Test) != names(ds.Test) || names(again.Val) != names(ds.Val) {
		t.Fatal("split not deterministic")
	}

	// class 3 only: a1 (class 1 only) is left out; a13's mask has only its class-3 run
	ds, err = Load(Source{Layout: LayoutSeverstal, Dir: dir, Class: 3}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ds.Test[2:]); got != "class3/a13.jpg,class3/a3.jpg" {
		t.Fatalf("class 3 test %s", got)
	}
	if ld := mustLoad(t, &ds.Test[2]); !sameF(ld.Mask.Pix, grid("......", "......", "......", ".....#").Pix, 0) {
		t.Fatalf("class-3 mask of a13 %v", ld.Mask.Pix)
	}
	if !strings.Contains(strings.Join(ds.Warnings, "\n"), "1 images with only defects of classes other than 3 left out") {
		t.Fatalf("warnings %q", ds.Warnings)
	}

	// the older one-row-per-class format
	old := t.TempDir()
	buildSeverstal(t, old, "ImageId_ClassId,EncodedPixels", []string{
		"a1.jpg.png_1,1 2", "a1.jpg.png_2,", "a3.jpg.png_3,21 4", "a13.jpg.png_1,5 1", "a13.jpg.png_3,24 1", "n0.jpg.png_1,",
	})
	o, err := Load(Source{Dir: old}, opt)
	if err != nil || names(o.Test) != names(again.Test) {
		t.Fatalf("old format: %v", err)
	}

	// errors name the line
	writeFile(t, filepath.Join(old, "train.csv"), []byte("ImageId,ClassId,EncodedPixels\na1.jpg.png,1,1 2\na3.jpg.png,7,1 1\n"))
	_, err = Load(Source{Dir: old}, opt)
	wantErr(t, err, "train.csv line 3", "class \"7\"")
	writeFile(t, filepath.Join(old, "train.csv"), []byte("ImageId,ClassId,EncodedPixels\na1.jpg.png,1,20 9\n"))
	_, err = Load(Source{Dir: old}, opt)
	wantErr(t, err, "train.csv line 2", "6x4")
	writeFile(t, filepath.Join(old, "train.csv"), []byte("Image,Class\n"))
	_, err = Load(Source{Dir: old}, opt)
	wantErr(t, err, "train.csv", "header")
	_, err = Load(Source{Layout: LayoutSeverstal, Dir: dir, Class: 5}, opt)
	wantErr(t, err, "class 5")
}
