package dataset

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestDemoDefaultsAndDeterminism(t *testing.T) {
	ds := Demo(DemoOptions{Seed: 7})
	if ds.Name != "demo-weave" || len(ds.Train) != 72 || len(ds.Val) != 8 || len(ds.Test) != 60 || !ds.HasMasks {
		t.Fatalf("%s: train %d val %d test %d", ds.Name, len(ds.Train), len(ds.Val), len(ds.Test))
	}
	perDefect := map[string]int{}
	for _, s := range ds.Test {
		perDefect[s.Defect]++
		if s.Image.C != 3 || s.Image.H != 64 || s.Image.W != 64 || s.Mask == nil {
			t.Fatalf("%s: bad shape or mask", s.Name)
		}
	}
	for _, d := range DemoDefects() {
		if perDefect[d] != 10 {
			t.Fatalf("defect counts %v", perDefect)
		}
	}
	if perDefect["good"] != 20 {
		t.Fatalf("defect counts %v", perDefect)
	}
	again := Demo(DemoOptions{Seed: 7})
	for i := range ds.Test {
		if !sameF(ds.Test[i].Image.Pix, again.Test[i].Image.Pix, 0) || !sameF(ds.Test[i].Mask.Pix, again.Test[i].Mask.Pix, 0) {
			t.Fatalf("test %d differs between identical calls", i)
		}
	}
	if names(ds.Val) != names(again.Val) {
		t.Fatal("val split differs between identical calls")
	}
	other := Demo(DemoOptions{Seed: 8})
	if sameF(ds.Train[0].Image.Pix, other.Train[0].Image.Pix, 0.01) {
		t.Fatal("seed does not change the images")
	}
}

func meanAbsDiff(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i] - b[i]))
	}
	return s / float64(len(a))
}

func TestDemoFamiliesMasksExact(t *testing.T) {
	for fi, fam := range DemoFamilies() {
		opt := DemoOptions{Seed: 11, Family: fam, NTrain: 6, NTestGood: 2, NTestBad: 12, Size: 48}
		ds := Demo(opt)
		// normal images vary from one to the next
		if d := meanAbsDiff(ds.Train[0].Image.Pix, ds.Train[1].Image.Pix); d < 0.02 {
			t.Fatalf("%s: normal images nearly identical (mean diff %v)", fam, d)
		}
		g := demoGen{family: fi, size: 48, seed: 11}
		for _, s := range ds.Test {
			if s.Label == 0 {
				continue
			}
			// regenerate the clean image from the same stream: the mask must
			// be exactly the set of modified pixels
			var k int
			for j := 0; j < 12; j++ {
				if demoDefects[j%4] == s.Defect && s.Name == badName(j) {
					k = j
				}
			}
			clean := g.normal(g.rng(2, k))
			hw := 48 * 48
			area, inDiff := 0, 0.0
			for i := 0; i < hw; i++ {
				maxd := float32(0)
				for c := 0; c < 3; c++ {
					d := s.Image.Pix[c*hw+i] - clean.Pix[c*hw+i]
					maxd = max(maxd, d, -d)
					inDiff += math.Abs(float64(d))
				}
				if s.Mask.Pix[i] == 1 {
					area++
					if maxd < 2.0/255 {
						t.Fatalf("%s %s: masked pixel %d changed only %v", fam, s.Name, i, maxd)
					}
				} else if s.Mask.Pix[i] != 0 || maxd != 0 {
					t.Fatalf("%s %s: unmasked pixel %d changed by %v", fam, s.Name, i, maxd)
				}
			}
			if frac := float64(area) / float64(hw); frac < 0.004 || frac > 0.06 {
				t.Fatalf("%s %s: defect covers %.2f%% of the image", fam, s.Name, 100*frac)
			}
			// clearly visible: a large mean change over the defect
			if mean := inDiff / float64(3*area); mean < 0.08 {
				t.Fatalf("%s %s: mean change %v inside the defect", fam, s.Name, mean)
			}
		}
	}
}

// badName is the Name of defective test image j (defect types in turn).
func badName(j int) string {
	return DemoDefects()[j%4] + "/" + pad3(j/4)
}

func pad3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestDemoErrors(t *testing.T) {
	for _, o := range []DemoOptions{{Family: "plaid"}, {Size: 8}, {NTrain: -1}, {NTrain: 1}, {NTestBad: -2}} {
		if _, err := GenerateDemo(o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Demo did not panic on an unknown family")
		}
	}()
	Demo(DemoOptions{Family: "plaid"})
}

func TestWriteMVTecRoundTrip(t *testing.T) {
	ds := Demo(DemoOptions{Seed: 5, Family: "grain", Size: 32, NTrain: 12, NTestGood: 3, NTestBad: 5})
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteMVTec(ds, dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadMVTec(dir, Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if names(back.Train) != names(ds.Train) || names(back.Val) != names(ds.Val) || names(back.Test) != names(ds.Test) {
		t.Fatalf("splits differ:\n%s\n%s\n%s\n%s", names(back.Val), names(ds.Val), names(back.Test), names(ds.Test))
	}
	if !back.HasMasks {
		t.Fatal("masks lost")
	}
	const q = 0.5/255 + 1e-6 // 8-bit quantisation
	check := func(a, b []Sample) {
		for i := range a {
			la, lb := mustLoad(t, &a[i]), mustLoad(t, &b[i])
			if a[i].Label != b[i].Label || a[i].Defect != b[i].Defect || la.Image.C != 3 {
				t.Fatalf("%s: label/defect/channels differ", a[i].Name)
			}
			if !sameF(la.Image.Pix, lb.Image.Pix, q) {
				t.Fatalf("%s: pixels differ beyond quantisation", a[i].Name)
			}
			if (la.Mask == nil) != (lb.Mask == nil) || (la.Mask != nil && !sameF(la.Mask.Pix, lb.Mask.Pix, 0)) {
				t.Fatalf("%s: masks differ", a[i].Name)
			}
		}
	}
	check(back.Train, ds.Train)
	check(back.Val, ds.Val)
	check(back.Test, ds.Test)

	// the written tree holds only the expected files (no temporaries)
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if want := 12 + 3 + 5 + 5; n != want {
		t.Fatalf("%d files written, want %d", n, want)
	}
	if err := WriteMVTec(ds, dir); err == nil {
		t.Fatal("writing into a non-empty folder succeeded")
	}
}

func TestWriteMVTecGrayAndNames(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "idx")
	writeIDXDir(t, src, true, true)
	ds, err := LoadIDX(src, 1, Options{MinVal: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "mv")
	if err := WriteMVTec(ds, out); err != nil {
		t.Fatal(err)
	}
	back, err := LoadMVTec(out, Options{MinVal: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Test) != 10 || back.HasMasks || mustLoad(t, &back.Test[0]).Image.C != 1 {
		t.Fatalf("gray round trip: %d test, masks %v", len(back.Test), back.HasMasks)
	}
	for _, s := range back.Test {
		if _, err := os.Stat(s.Path); err != nil || (s.Label == 0) != (s.Defect == "good") {
			t.Fatalf("%s: %v", s.Name, err)
		}
	}
	// colliding file names are refused
	ds.Test[1].Name = ds.Test[0].Name
	ds.Test[1].Label, ds.Test[1].Defect = ds.Test[0].Label, ds.Test[0].Defect
	if err := WriteMVTec(ds, filepath.Join(dir, "mv2")); err == nil {
		t.Fatal("colliding names accepted")
	}
}

func BenchmarkDemo(b *testing.B) {
	for _, f := range DemoFamilies() {
		b.Run(f, func(b *testing.B) {
			for b.Loop() {
				Demo(DemoOptions{Seed: 1, Family: f})
			}
		})
	}
}
