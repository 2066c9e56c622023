package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/tiff"

	"github.com/vigil-ad/vigil/imageio"
)

// writeValueMask writes a gray PNG with the given pixels at 8-bit value v.
func writeValueMask(t *testing.T, path string, h, w int, v int, on ...int) {
	t.Helper()
	m := imageio.NewMap(h, w)
	for _, i := range on {
		m.Pix[i] = float32(v) / 255
	}
	mustMkdir(t, filepath.Dir(path))
	if err := imageio.SavePNG(path, m.ToGoImage()); err != nil {
		t.Fatal(err)
	}
}

func maskOf(h, w int, on ...int) []float32 {
	m := make([]float32, h*w)
	for _, i := range on {
		m[i] = 1
	}
	return m
}

func joinW(ds *Dataset) string { return strings.Join(ds.Warnings, "\n") }

func TestLOCO(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "juice_bottle")
	const h, w = 4, 5
	for i := 0; i < 6; i++ {
		writeImg(t, filepath.Join(dir, fmt.Sprintf("train/good/%03d.png", i)), 3, h, w, uint64(i))
	}
	writeImg(t, filepath.Join(dir, "validation/good/000.png"), 3, h, w, 10)
	writeImg(t, filepath.Join(dir, "validation/good/001.png"), 3, h, w, 11)
	writeImg(t, filepath.Join(dir, "test/good/000.png"), 3, h, w, 20)
	writeImg(t, filepath.Join(dir, "test/logical_anomalies/000.png"), 3, h, w, 21)
	writeImg(t, filepath.Join(dir, "test/structural_anomalies/000.png"), 3, h, w, 22)
	writeValueMask(t, filepath.Join(dir, "ground_truth/logical_anomalies/000/000.png"), h, w, 255, 0, 1, 2, 3)
	writeValueMask(t, filepath.Join(dir, "ground_truth/logical_anomalies/000/001.png"), h, w, 100, 19)
	writeValueMask(t, filepath.Join(dir, "ground_truth/structural_anomalies/000/000.png"), h, w, 255, 5, 6)
	writeValueMask(t, filepath.Join(dir, "ground_truth/structural_anomalies/007/000.png"), h, w, 255, 5)
	writeFile(t, filepath.Join(dir, "defects_config.json"), []byte(`[
  {"defect_name": "missing_label", "pixel_value": 255, "saturation_threshold": 0.5, "relative_saturation": true},
  {"defect_name": "extra_item", "pixel_value": 100, "saturation_threshold": 2, "relative_saturation": false}
]`))
	ds, err := Load(Source{Dir: dir}, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Layout != LayoutLOCO || ds.Name != "juice_bottle" {
		t.Fatalf("layout %s name %s", ds.Layout, ds.Name)
	}
	// validation/good is Val as it is, no carving from train
	if len(ds.Train) != 6 || names(ds.Val) != "good/000,good/001" || !strings.Contains(ds.Val[0].Path, "validation") || !ds.HasMasks {
		t.Fatalf("train %d val %s masks %v", len(ds.Train), names(ds.Val), ds.HasMasks)
	}
	if got := names(ds.Test); got != "good/000,logical_anomalies/000,structural_anomalies/000" {
		t.Fatalf("test %s", got)
	}
	if !strings.Contains(joinW(ds), "ground_truth/structural_anomalies/007 has no image") {
		t.Fatalf("warnings %q", ds.Warnings)
	}
	wantMerged := [][]float32{maskOf(h, w), maskOf(h, w, 0, 1, 2, 3, 19), maskOf(h, w, 5, 6)}
	for i, s := range ds.Test {
		ld := mustLoad(t, &s)
		// the value-100 pixel is below imageio's 0.5 threshold: LOCO masks
		// count any non-zero value
		if !sameF(ld.Mask.Pix, wantMerged[i], 0) {
			t.Fatalf("%s: merged mask %v", s.Name, ld.Mask.Pix)
		}
	}
	regs, err := ds.Test[1].Regions(imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// missing_label: relative 0.5 of 4 pixels; extra_item: absolute 2,
	// capped at the 1-pixel area
	if len(regs) != 2 || regs[0].Defect != "missing_label" || regs[0].Area != 4 || regs[0].Saturation != 2 ||
		regs[1].Defect != "extra_item" || regs[1].Area != 1 || regs[1].Saturation != 1 ||
		!sameF(regs[1].Mask.Pix, maskOf(h, w, 19), 0) {
		t.Fatalf("regions %+v", regs)
	}
	if regs, err := ds.Test[0].Regions(imageio.Options{}); err != nil || len(regs) != 0 {
		t.Fatalf("normal sample regions %v %v", regs, err)
	}
	// a mask value the config does not list names the file and the value
	odd := filepath.Join(dir, "ground_truth/structural_anomalies/000/001.png")
	writeValueMask(t, odd, h, w, 50, 7)
	ds, err = Load(Source{Layout: LayoutLOCO, Dir: dir}, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ds.Test[2].Regions(imageio.Options{})
	wantErr(t, err, odd, "pixel value 50")
	os.Remove(odd)

	// written in the MVTec layout: masks merged, the validation images'
	// colliding names prefixed
	ds, err = Load(Source{Dir: dir}, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "mv")
	if err := WriteMVTec(ds, out); err != nil {
		t.Fatal(err)
	}
	back, err := LoadMVTec(out, Options{MinVal: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Train)+len(back.Val) != 8 || !exists(filepath.Join(out, "train/good/val_001.png"), false) || names(back.Test) != names(ds.Test) {
		t.Fatalf("written: %d normals, test %s", len(back.Train)+len(back.Val), names(back.Test))
	}
	for i := range back.Test {
		a, b := mustLoad(t, &back.Test[i]), mustLoad(t, &ds.Test[i])
		if !sameF(a.Mask.Pix, b.Mask.Pix, 0) || !sameF(a.Image.Pix, b.Image.Pix, 0) {
			t.Fatalf("%s: written image or mask differs", ds.Test[i].Name)
		}
	}

	// without train/ a test-only load works
	test := filepath.Join(t.TempDir(), "t")
	if err := os.CopyFS(test, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(test, "train"))
	if ds, err := Load(Source{Dir: test}, Options{SkipTrain: true}); err != nil || len(ds.Test) != 3 {
		t.Fatalf("test-only LOCO: %v", err)
	}
}

func TestMVTec3D(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bagel")
	const h, w = 4, 3
	rgb := func(rel string, seed uint64) {
		writeImg(t, filepath.Join(dir, rel), 3, h, w, seed)
	}
	cloud := func(rel string, off float32) *imageio.Image {
		img := xyzImage(3, h, w)
		for i := range img.Pix {
			img.Pix[i] += off
		}
		writeFile(t, filepath.Join(dir, rel), floatTIFF(img, binary.LittleEndian, 2, false))
		return img
	}
	for i := 0; i < 6; i++ {
		rgb(fmt.Sprintf("train/good/rgb/%03d.png", i), uint64(i))
		if i != 5 {
			cloud(fmt.Sprintf("train/good/xyz/%03d.tiff", i), float32(i))
		}
	}
	rgb("validation/good/rgb/000.png", 7)
	cloud("validation/good/xyz/000.tiff", 7)
	rgb("test/good/rgb/000.png", 8)
	writeMask(t, filepath.Join(dir, "test/good/gt/000.png"), h, w)
	cloud("test/good/xyz/000.tiff", 8)
	rgb("test/hole/rgb/000.png", 9)
	writeMask(t, filepath.Join(dir, "test/hole/gt/000.png"), h, w, 3, 4)
	holeXYZ := cloud("test/hole/xyz/000.tiff", 9)
	writeMask(t, filepath.Join(dir, "test/hole/gt/005.png"), h, w, 1)

	ds, err := Load(Source{Dir: dir}, Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Layout != LayoutMVTec3D || len(ds.Train) != 6 || len(ds.Val) != 1 || names(ds.Test) != "good/000,hole/000" || !ds.HasMasks {
		t.Fatalf("layout %s train %d val %d test %s masks %v", ds.Layout, len(ds.Train), len(ds.Val), names(ds.Test), ds.HasMasks)
	}
	wj := joinW(ds)
	if !strings.Contains(wj, "1 images have no xyz point cloud") || !strings.Contains(wj, "test/hole/gt/005.png has no image") {
		t.Fatalf("warnings %q", ds.Warnings)
	}
	hole := ds.Test[1]
	if hole.Defect != "hole" || hole.Aux[AuxXYZ] != filepath.Join(dir, "test/hole/xyz/000.tiff") {
		t.Fatalf("hole sample %+v", hole)
	}
	if ld := mustLoad(t, &hole); ld.Image.C != 3 || !sameF(ld.Mask.Pix, maskOf(h, w, 3, 4), 0) {
		t.Fatalf("hole mask %v", ld.Mask.Pix)
	}
	if ld := mustLoad(t, &ds.Test[0]); !ds.Test[0].HasMask() || !sameF(ld.Mask.Pix, maskOf(h, w), 0) {
		t.Fatal("good sample: zero gt mask not read")
	}
	got, err := hole.XYZ(imageio.Options{})
	if err != nil || !sameF(got.Pix, holeXYZ.Pix, 0) {
		t.Fatalf("xyz: %v", err)
	}
	for _, s := range ds.Train {
		if _, has := s.Aux[AuxXYZ]; has != (s.Name != "good/005") {
			t.Fatalf("%s: xyz presence wrong", s.Name)
		}
	}
	_, err = ds.Train[len(ds.Train)-1].XYZ(imageio.Options{})
	wantErr(t, err, "good/005", "no xyz")
}

func writeGrayTIFF(t *testing.T, path string, h, w int, seed byte) {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = seed + byte(i)
	}
	mustMkdir(t, filepath.Dir(path))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(f, g, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNanoTWICE(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 5; i++ {
		writeGrayTIFF(t, filepath.Join(dir, fmt.Sprintf("Normal/N%d.tif", i)), 4, 4, byte(10*i))
	}
	writeGrayTIFF(t, filepath.Join(dir, "Anomalous/images/A1.tif"), 4, 4, 100)
	writeGrayTIFF(t, filepath.Join(dir, "Anomalous/images/A2.tif"), 4, 4, 110)
	writeMask(t, filepath.Join(dir, "Anomalous/gt/A1_gt.png"), 4, 4, 0)
	writeMask(t, filepath.Join(dir, "Anomalous/gt/A2_mask.png"), 4, 4, 15)
	writeMask(t, filepath.Join(dir, "Anomalous/gt/A9.png"), 4, 4, 1)
	ds, err := Load(Source{Dir: dir}, Options{Seed: 3, MinVal: 1})
	if err != nil {
		t.Fatal(err)
	}
	// 5 normals: 1 test, 1 val, 3 train
	if ds.Layout != LayoutNanoTWICE || len(ds.Train) != 3 || len(ds.Val) != 1 || len(ds.Test) != 3 || !ds.HasMasks || ds.Split.TestFraction != 0.2 {
		t.Fatalf("layout %s train %d val %d test %d", ds.Layout, len(ds.Train), len(ds.Val), len(ds.Test))
	}
	want := map[string][]float32{"anomaly/A1": maskOf(4, 4, 0), "anomaly/A2": maskOf(4, 4, 15)}
	for _, s := range ds.Test {
		ld := mustLoad(t, &s)
		if ld.Image.C != 1 {
			t.Fatalf("%s: %d channels", s.Name, ld.Image.C)
		}
		if s.Label == 1 && !sameF(ld.Mask.Pix, want[s.Name], 0) {
			t.Fatalf("%s: mask %v", s.Name, ld.Mask.Pix)
		}
	}
	if !strings.Contains(joinW(ds), "Anomalous/gt/A9.png has no image") {
		t.Fatalf("warnings %q", ds.Warnings)
	}
}

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 6; i++ {
		writeImg(t, filepath.Join(dir, "img", fmt.Sprintf("n%d.png", i)), 1, 3, 3, uint64(i))
	}
	writeImg(t, filepath.Join(dir, "img/a/x.png"), 1, 3, 3, 50)
	writeImg(t, filepath.Join(dir, "img/b/x.png"), 1, 3, 3, 51)
	writeImg(t, filepath.Join(dir, "img/c.png"), 1, 3, 3, 52)
	writeMask(t, filepath.Join(dir, "gt/ax.png"), 3, 3, 4)
	writeMask(t, filepath.Join(dir, "gt/bx.png"), 3, 3, 8)
	manifest := filepath.Join(dir, "set.csv")
	writeFile(t, manifest, []byte("path,label,mask,defect\n"+
		"img/n0.png,0,,\nimg/n1.png,good,,\nimg/n2.png,normal,,good\nimg/n3.png,0,,\nimg/n4.png,0,,\nimg/n5.png,0,,\n"+
		"img/a/x.png,1,gt/ax.png,scratch\nimg/b/x.png,anomalous,gt/bx.png,scratch\nimg/c.png,anomaly,,\n"))
	opt := Options{Seed: 5, MinVal: 1}
	ds, err := Load(Source{Dir: manifest}, opt)
	if err != nil {
		t.Fatal(err)
	}
	// 6 normals: 1 test, 1 val, 4 train; then the anomalous rows in order,
	// colliding stems named by their path
	if ds.Layout != LayoutCSV || ds.Name != "set" || len(ds.Train) != 4 || len(ds.Val) != 1 {
		t.Fatalf("layout %s train %d val %d", ds.Layout, len(ds.Train), len(ds.Val))
	}
	if got := names(ds.Test[1:]); got != "scratch/img/a/x,scratch/img/b/x,anomaly/c" {
		t.Fatalf("test %s", got)
	}
	if ds.HasMasks || strings.Join(ds.NoMask, ",") != "anomaly/c" || !strings.Contains(joinW(ds), "1 of 3 anomalous images have no mask (anomaly/c)") {
		t.Fatalf("masks %v nomask %v warnings %q", ds.HasMasks, ds.NoMask, ds.Warnings)
	}
	if ld := mustLoad(t, &ds.Test[2]); !sameF(ld.Mask.Pix, maskOf(3, 3, 8), 0) {
		t.Fatalf("b/x mask %v", ld.Mask.Pix)
	}

	// a split column fixes the split
	fixed := filepath.Join(dir, "fixed.csv")
	writeFile(t, fixed, []byte("split,path,label\ntrain,img/n0.png,0\ntrain,img/n1.png,0\nval,img/n2.png,0\ntest,img/n3.png,0\ntest,img/c.png,1\n"))
	ds, err = Load(Source{Manifest: fixed}, opt)
	if err != nil || names(ds.Train) != "good/n0,good/n1" || names(ds.Val) != "good/n2" || names(ds.Test) != "good/n3,anomaly/c" || ds.Split.TestFraction != 0 {
		t.Fatalf("fixed split: %v", err)
	}

	bad := func(body string, parts ...string) {
		t.Helper()
		writeFile(t, fixed, []byte(body))
		_, err := Load(Source{Manifest: fixed}, opt)
		wantErr(t, err, append([]string{fixed}, parts...)...)
	}
	bad("path,label\nimg/n0.png,0\nimg/n1.png,maybe\n", "line 3", "maybe")
	bad("path,label,colour\n", "line 1", "colour")
	bad("path\nimg/n0.png\n", "line 1", "label")
	bad("path,label,split\nimg/n0.png,0,train\nimg/c.png,1,train\n", "line 3", "anomalous image in split")
	bad("path,label\nimg/n0.png,0\nimg/n1.png,0\nimg/n0.png,0\n", "line 4", "line 2")
	bad("path,label,defect\nimg/n0.png,0,crack\n", "line 2", "crack")
	bad("path,label\nimg/n0.png,0\nimg/n1.png\n", "line 3", "fields")
	bad("path,label,split\nimg/n0.png,0,later\n", "line 2", "later")
	bad("path,label\nimg/n0.png,0\nimg/gone.png,0\nimg/n1.png,0\n", "line 3", "gone.png")
	bad("path,label,mask\nimg/n0.png,0,\nimg/c.png,1,gt/cx.png\n", "line 3", "cx.png")
}

func TestWarningsAndNoMask(t *testing.T) {
	dir := t.TempDir()
	nd, ad, md := filepath.Join(dir, "ok"), filepath.Join(dir, "ng"), filepath.Join(dir, "masks")
	for i := 0; i < 10; i++ {
		c := 3
		if i < 3 {
			c = 1
		}
		writeImg(t, filepath.Join(nd, fmt.Sprintf("n%02d.png", i)), c, 4, 4, uint64(i))
	}
	writeImg(t, filepath.Join(ad, "a0.png"), 3, 4, 4, 50)
	writeImg(t, filepath.Join(ad, "a1.png"), 3, 6, 5, 51)
	writeImg(t, filepath.Join(ad, "a2.png"), 3, 6, 5, 52)
	writeMask(t, filepath.Join(md, "a0_mask.png"), 4, 4, 1)
	writeMask(t, filepath.Join(md, "a0.png"), 4, 4, 2) // loses to a0_mask, not an orphan
	writeMask(t, filepath.Join(md, "zz_mask.png"), 4, 4, 1)
	ds, err := LoadFolders(nd, ad, md, Options{Seed: 2, MinVal: 1})
	if err != nil {
		t.Fatal(err)
	}
	gray, colour := 0, 0
	for _, s := range append(append([]Sample{}, ds.Train...), ds.Val...) {
		if mustLoad(t, &s).Image.C == 1 {
			gray++
		} else {
			colour++
		}
	}
	// 2 normal test images; test sizes: 2 normals + a0 at 4x4, a1 and a2 at 5x6
	want := []string{
		fmt.Sprintf("train: %d gray and %d colour images", gray, colour),
		"test: sizes vary: 4x4 (3), 5x6 (2)",
		"zz_mask.png has no image",
		"test: 2 of 3 anomalous images have no mask (anomaly/a1, anomaly/a2); pixel metrics are undefined",
	}
	for _, w := range want {
		if !strings.Contains(joinW(ds), w) {
			t.Fatalf("warnings %q lack %q", ds.Warnings, w)
		}
	}
	if len(ds.Warnings) != len(want)+mixedTest(ds) {
		t.Fatalf("unexpected warnings %q", ds.Warnings)
	}
	if ds.HasMasks || strings.Join(ds.NoMask, ",") != "anomaly/a1,anomaly/a2" {
		t.Fatalf("HasMasks %v NoMask %v", ds.HasMasks, ds.NoMask)
	}
}

// mixedTest is 1 when the normal test images drawn mix gray and colour
// (the split is seeded, so the test only allows for it).
func mixedTest(ds *Dataset) int {
	for _, s := range ds.Test {
		if s.Label == 0 && s.c == 1 {
			return 1
		}
	}
	return 0
}

func TestSampleHash(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	writeImg(t, p, 3, 4, 5, 1)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	s := Sample{Path: p, Name: "good/a"}
	if ld := mustLoad(t, &s); ld.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("file hash %s", ld.SHA256)
	}
	// in memory: shape and pixels both count
	img := imageio.New(1, 2, 3)
	img.Pix[4] = 0.5
	flat := &imageio.Image{C: 1, H: 3, W: 2, Pix: img.Pix}
	a, b2 := Sample{Image: img}, Sample{Image: img.Clone()}
	c, d := Sample{Image: flat}, Sample{Image: img.Clone()}
	d.Image.Pix[0] = 1e-7
	ha, hb, hc, hd := mustLoad(t, &a).SHA256, mustLoad(t, &b2).SHA256, mustLoad(t, &c).SHA256, mustLoad(t, &d).SHA256
	if ha != hb || ha == hc || ha == hd || len(ha) != 64 {
		t.Fatalf("in-memory hashes %s %s %s %s", ha, hb, hc, hd)
	}
	_, err = (&Sample{Path: filepath.Join(dir, "gone.png")}).Load(imageio.Options{})
	wantErr(t, err, "gone.png")
}

func TestMVTecTestOnlyAndSplitReproducible(t *testing.T) {
	dir := t.TempDir()
	buildMVTec(t, dir, true)
	os.RemoveAll(filepath.Join(dir, "train"))
	ds, err := Load(Source{Dir: dir}, Options{SkipTrain: true})
	if err != nil || ds.Layout != LayoutMVTec || len(ds.Test) != 5 || !ds.HasMasks {
		t.Fatalf("test-only load: %v", err)
	}
	_, err = Load(Source{Dir: dir}, Options{})
	wantErr(t, err, filepath.Join(dir, "train", "good"))

	// folders: the recorded split reproduces Train, Val and Test exactly
	nd := filepath.Join(t.TempDir(), "normals")
	for i := 0; i < 20; i++ {
		writeImg(t, filepath.Join(nd, fmt.Sprintf("n%02d.png", i)), 1, 2, 2, uint64(i))
	}
	src := Source{Normal: nd}
	first, err := Load(src, Options{Seed: 77, ValFraction: 0.25, MinVal: 2, TestFraction: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	if first.Split != (SplitInfo{Seed: 77, ValFraction: 0.25, MinVal: 2, TestFraction: 0.3}) || len(first.Test) != 6 || len(first.Val) != 4 {
		t.Fatalf("split %+v test %d val %d", first.Split, len(first.Test), len(first.Val))
	}
	src2, opt2 := first.Split.Apply(src, Options{SkipTrain: true})
	again, err := Load(src2, opt2)
	if err != nil || names(again.Test) != names(first.Test) {
		t.Fatalf("reproduced test split differs: %v", err)
	}
	src3, opt3 := first.Split.Apply(src, Options{})
	full, _ := Load(src3, opt3)
	if names(full.Train) != names(first.Train) || names(full.Val) != names(first.Val) {
		t.Fatal("reproduced train/val split differs")
	}
	other, _ := Load(src, Options{Seed: 78, ValFraction: 0.25, MinVal: 2, TestFraction: 0.3})
	if names(other.Test) == names(first.Test) {
		t.Fatal("the seed does not change the test split")
	}
	// defaults are recorded resolved, so they reproduce too
	def, _ := Load(src, Options{})
	if def.Split != (SplitInfo{ValFraction: 0.1, MinVal: 5, TestFraction: 0.2}) {
		t.Fatalf("default split %+v", def.Split)
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(Source{Dir: dir}, Options{})
	wantErr(t, err, "cannot tell the layout", dir, "mvtec_loco", "severstal", "nanotwice")
	mustMkdir(t, filepath.Join(dir, "bottle", "test"))
	_, err = Load(Source{Dir: dir}, Options{})
	wantErr(t, err, "categories such as bottle")
	mustMkdir(t, filepath.Join(dir, "test"))
	mustMkdir(t, filepath.Join(dir, "Normal"))
	mustMkdir(t, filepath.Join(dir, "Anomalous"))
	_, err = Load(Source{Dir: dir}, Options{})
	wantErr(t, err, "several layouts", "mvtec, nanotwice")
	_, err = Load(Source{Layout: "voc", Dir: dir}, Options{})
	wantErr(t, err, "unknown layout", "voc", "mvtec_3d")
	_, err = Load(Source{}, Options{})
	wantErr(t, err, "no dataset given")
	_, err = Load(Source{Dir: filepath.Join(dir, "nope")}, Options{})
	wantErr(t, err, "nope")

	idx := filepath.Join(t.TempDir(), "mnist")
	writeIDXDir(t, idx, true, true)
	_, err = Load(Source{Dir: idx}, Options{})
	wantErr(t, err, "--normal-class")
	ds, err := Load(Source{Dir: idx, NormalClass: 1, NormalClassSet: true}, Options{MinVal: 1})
	if err != nil || ds.Layout != LayoutIDX || *ds.Split.NormalClass != 1 || ds.Test[0].Image == nil {
		t.Fatalf("idx: %v", err)
	}
	// the recorded normal class is applied back
	src, _ := ds.Split.Apply(Source{IDX: idx}, Options{})
	if !src.NormalClassSet || src.NormalClass != 1 {
		t.Fatalf("applied source %+v", src)
	}
}
