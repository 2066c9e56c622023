package pipeline

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/dataset"
	_ "github.com/vigil-ad/vigil/detector/padim" // for ChooseMethod
	"github.com/vigil-ad/vigil/imageio"
)

// normalImage is a gray 32x32 image around 0.5 with seeded noise (never
// exactly 1 at the top-left pixel, the fake detector's NaN trigger).
func normalImage(rng *rand.Rand) *imageio.Image {
	img := imageio.New(1, 32, 32)
	for i := range img.Pix {
		img.Pix[i] = float32(0.5 + 0.08*rng.NormFloat64())
	}
	return img
}

// anomalous adds a bright 8x8 square and returns its mask.
func anomalous(img *imageio.Image, rng *rand.Rand) *imageio.Map {
	m := imageio.NewMap(img.H, img.W)
	y0, x0 := 4+rng.IntN(18), 4+rng.IntN(18)
	for y := y0; y < y0+8; y++ {
		for x := x0; x < x0+8; x++ {
			img.Set(0, y, x, 0.95)
			m.Set(y, x, 1)
		}
	}
	return m
}

func writeImage(t *testing.T, path string, img *imageio.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imageio.SavePNG(path, img.ToGoImage()); err != nil {
		t.Fatal(err)
	}
}

func writeMask(t *testing.T, path string, m *imageio.Map) {
	t.Helper()
	if err := imageio.SavePNG(path, m.ToGoImage()); err != nil {
		t.Fatal(err)
	}
}

// foldersData writes nNormal normal and nBad anomalous images (with masks)
// in the plain-folders layout and returns the source.
func foldersData(t *testing.T, nNormal, nBad int) dataset.Source {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	src := dataset.Source{Normal: filepath.Join(dir, "normal"), Abnormal: filepath.Join(dir, "abnormal"), Masks: filepath.Join(dir, "masks")}
	for i := range nNormal {
		writeImage(t, filepath.Join(src.Normal, fmtName("n", i)+".png"), normalImage(rng))
	}
	os.MkdirAll(src.Masks, 0o755)
	for i := range nBad {
		img := normalImage(rng)
		m := anomalous(img, rng)
		writeImage(t, filepath.Join(src.Abnormal, fmtName("a", i)+".png"), img)
		writeMask(t, filepath.Join(src.Masks, fmtName("a", i)+"_mask.png"), m)
	}
	return src
}

func fmtName(p string, i int) string { return p + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

func fitFolders(t *testing.T, src dataset.Source, extra func(*FitOptions)) (*FitResult, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "model.safetensors")
	o := FitOptions{Method: meanMethod, Data: src, DataOptions: dataset.Options{Seed: 3}, Alpha: 0.1, Out: out}
	if extra != nil {
		extra(&o)
	}
	res, err := Fit(context.Background(), o)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	return res, out
}

func TestFitEvaluateRoundTrip(t *testing.T) {
	src := foldersData(t, 60, 10)
	fr, model := fitFolders(t, src, nil)
	if fr.NTrain+fr.NVal != 48 { // 20% of 60 normals are test normals
		t.Fatalf("fitted on %d+%d images, want 48", fr.NTrain, fr.NVal)
	}
	m, err := LoadModel(model, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Prov == nil || len(m.Prov.Fitted) != 48 {
		t.Fatalf("provenance %+v: want 48 fitted hashes", m.Prov)
	}
	var seen int
	res, err := Evaluate(context.Background(), EvalOptions{Loaded: m, Data: src, OnImage: func(r *ImageResult) error {
		if r.Image == nil || r.Map == nil {
			t.Errorf("%s: callback without pictures", r.Name)
		}
		if r.Label == 1 && r.Mask == nil {
			t.Errorf("%s: anomalous image without its mask", r.Name)
		}
		seen++
		return nil
	}})
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if res.NNormal != 12 || res.NAnomalous != 10 || seen != 22 || len(res.Rows) != 22 {
		t.Fatalf("n_normal %d n_anomalous %d callbacks %d rows %d", res.NNormal, res.NAnomalous, seen, len(res.Rows))
	}
	if res.ImageAUROC == nil || *res.ImageAUROC < 0.95 {
		t.Fatalf("image AUROC %v, want >= 0.95 on bright squares", res.ImageAUROC)
	}
	if res.PixelAUROC == nil || *res.PixelAUROC < 0.9 || res.AUPRO == nil || res.AUPROBound == nil {
		t.Fatalf("pixel AUROC %v AUPRO %v (note %q)", res.PixelAUROC, res.AUPRO, res.PixelNote)
	}
	// The ROC curve runs from (0,0) to (1,1) and its area is the AUROC.
	n := len(res.ROC.X)
	if n < 2 || res.ROC.X[0] != 0 || res.ROC.Y[0] != 0 || res.ROC.X[n-1] != 1 || res.ROC.Y[n-1] != 1 || len(res.PR.X) == 0 {
		t.Fatalf("ROC %v / %v, PR %d points", res.ROC.X, res.ROC.Y, len(res.PR.X))
	}
	area := 0.0
	for i := 1; i < n; i++ {
		area += (res.ROC.X[i] - res.ROC.X[i-1]) * (res.ROC.Y[i] + res.ROC.Y[i-1]) / 2
	}
	if math.Abs(area-*res.ImageAUROC) > 1e-9 {
		t.Fatalf("ROC area %v, AUROC %v", area, *res.ImageAUROC)
	}
	// The confusion counts agree with the rows' verdicts.
	fp := 0
	for _, r := range res.Rows {
		if r.Label == 0 && r.Verdict == "anomalous" {
			fp++
		}
	}
	if res.Confusion.FP != fp {
		t.Fatalf("confusion FP %d, rows say %d", res.Confusion.FP, fp)
	}
}

// Same seed, same model, same scores.
func TestFitDeterministic(t *testing.T) {
	src := foldersData(t, 30, 4)
	a, _ := fitFolders(t, src, nil)
	b, _ := fitFolders(t, src, nil)
	if a.Threshold != b.Threshold || a.NTrain != b.NTrain {
		t.Fatalf("two fits differ: %v vs %v", a, b)
	}
}

// Defect B6: a test image that was a training image is refused by name,
// whatever the seed or layout used at test time.
func TestEvaluateRefusesTrainingImages(t *testing.T) {
	src := foldersData(t, 30, 4)
	_, model := fitFolders(t, src, nil)
	ds, err := dataset.Load(src, dataset.Options{Seed: 3, SkipTest: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ds.Train[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src.Abnormal, "leak.png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Evaluate(context.Background(), EvalOptions{Model: model, Data: dataset.Source{Normal: src.Normal, Abnormal: src.Abnormal}})
	if err == nil || !strings.Contains(err.Error(), "leak") {
		t.Fatalf("Evaluate with a training image among the test images: %v; want an error naming leak", err)
	}
}

// Defect B6: the normal test images are the ones held out at fit time,
// and none of them was fitted on.
func TestEvaluateUsesStoredSplit(t *testing.T) {
	src := foldersData(t, 40, 4)
	_, model := fitFolders(t, src, func(o *FitOptions) { o.DataOptions.Seed = 11 })
	m, err := LoadModel(model, "")
	if err != nil {
		t.Fatal(err)
	}
	fitted := map[string]bool{}
	for _, h := range m.Prov.Fitted {
		fitted[h] = true
	}
	res, err := Evaluate(context.Background(), EvalOptions{Loaded: m, Data: src, OnImage: func(r *ImageResult) error {
		if fitted[r.SHA256] {
			t.Errorf("test image %s was fitted on", r.Name)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.NNormal != 8 {
		t.Fatalf("%d normal test images, want the 8 held out", res.NNormal)
	}
}

// Defect B7: a NaN score is an error for that image, never "normal".
func TestFailClosed(t *testing.T) {
	src := foldersData(t, 30, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	img := normalImage(rng)
	img.Pix[0] = 1 // the fake detector scores this NaN
	writeImage(t, filepath.Join(src.Abnormal, "poison.png"), img)
	writeMask(t, filepath.Join(src.Masks, "poison_mask.png"), imageio.NewMap(32, 32))
	_, model := fitFolders(t, src, nil)
	res, err := Evaluate(context.Background(), EvalOptions{Model: model, Data: src})
	if err != nil {
		t.Fatal(err)
	}
	if res.NErrors != 1 || res.NAnomalous != 4 {
		t.Fatalf("errors %d anomalous %d; want the poisoned image counted as an error only", res.NErrors, res.NAnomalous)
	}
	for _, r := range res.Rows {
		if strings.Contains(r.Name, "poison") && (r.Verdict != "error" || !strings.Contains(r.Error, "NaN")) {
			t.Fatalf("poisoned row %+v", r)
		}
	}
	// predict: the poisoned image and an undecodable file are errors, the
	// others still run
	bad := filepath.Join(src.Abnormal, "sub", "broken.png")
	os.MkdirAll(filepath.Dir(bad), 0o755)
	os.WriteFile(bad, []byte("\x89PNG not really"), 0o644)
	os.WriteFile(filepath.Join(src.Abnormal, "notes.txt"), []byte("not an image"), 0o644)
	pr, err := Predict(context.Background(), PredictOptions{Model: model, Paths: []string{src.Abnormal}})
	if err != nil {
		t.Fatal(err)
	}
	if pr.N != 6 || pr.NErrors != 2 {
		t.Fatalf("predict: %d images, %d errors; want 6 and 2", pr.N, pr.NErrors)
	}
	for _, r := range pr.Rows {
		bad := strings.Contains(r.Name, "poison") || strings.Contains(r.Name, "broken")
		if bad != (r.Verdict == "error") {
			t.Fatalf("row %+v", r)
		}
	}
}

func TestOptionsRefusedBeforeData(t *testing.T) {
	src := foldersData(t, 12, 1)
	dir := t.TempDir()
	good := FitOptions{Method: meanMethod, Data: src, Alpha: 0.1, Out: filepath.Join(dir, "m.safetensors")}
	cases := map[string]func(o *FitOptions){
		"alpha":        func(o *FitOptions) { o.Alpha = math.NaN() },
		"alpha ":       func(o *FitOptions) { o.Alpha = 1 },
		"val-fraction": func(o *FitOptions) { o.DataOptions.ValFraction = 1.5 },
		"out":          func(o *FitOptions) { o.Out = dir },
		"out ":         func(o *FitOptions) { o.Out = filepath.Join(dir, "missing", "m.safetensors") },
		"data":         func(o *FitOptions) { o.Data = dataset.Source{Dir: filepath.Join(dir, "nowhere")} },
		"rule":         func(o *FitOptions) { o.Rule = "median" },
		"calibration":  func(o *FitOptions) { o.Calibration = "cv:1" },
		"":             func(o *FitOptions) { o.Config = []byte(`{"sise":3}`) },
		"normal-class": func(o *FitOptions) { o.Data = dataset.Source{IDX: dir} },
	}
	for field, mod := range cases {
		o := good
		mod(&o)
		_, err := Fit(context.Background(), o)
		var oe *OptionError
		if err == nil || !IsOptionError(err) {
			t.Errorf("%q: err %v, want an OptionError", field, err)
			continue
		}
		if asOpt(err, &oe); oe.Field != strings.TrimSpace(field) {
			t.Errorf("%q: error names field %q (%v)", field, oe.Field, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m.safetensors")); err == nil {
		t.Fatal("a refused fit wrote a model")
	}
}

func asOpt(err error, oe **OptionError) bool {
	for err != nil {
		if e, ok := err.(*OptionError); ok {
			*oe = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// inMemory makes a dataset of n normal training images (the last nVal
// for validation) without files.
func inMemory(n, nVal int, seed uint64) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(seed, 99))
	ds := &dataset.Dataset{Name: "mem", Layout: "demo"}
	for i := range n {
		s := dataset.Sample{Name: fmtName("n", i), Defect: "good", Image: normalImage(rng)}
		if i < n-nVal {
			ds.Train = append(ds.Train, s)
		} else {
			ds.Val = append(ds.Val, s)
		}
	}
	return ds
}

// Defect B13: with 30 training normals, cross-conformal calibration keeps
// the false-positive rate on fresh normals within the binomial band at
// α = 5%, where the split (5 validation images) cannot reach it.
func TestCrossConformalFPR(t *testing.T) {
	const alpha, reps, fresh = 0.05, 20, 300
	var fp, total int
	for r := range reps {
		seed := uint64(100 + r)
		out := filepath.Join(t.TempDir(), "m.safetensors")
		fr, err := Fit(context.Background(), FitOptions{Method: meanMethod, Dataset: inMemory(30, 5, seed),
			DataOptions: dataset.Options{Seed: seed}, Alpha: alpha, Calibration: "cv:5", Out: out})
		if err != nil {
			t.Fatal(err)
		}
		if fr.NCalib != 30 || fr.NTrain != 30 {
			t.Fatalf("cv:5 calibrated on %d scores, fitted on %d; want all 30", fr.NCalib, fr.NTrain)
		}
		m, err := LoadModel(out, "")
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 5))
		imgs := make([]*imageio.Image, fresh)
		for i := range imgs {
			imgs[i] = normalImage(rng)
		}
		res, err := m.Detector.Score(context.Background(), imgs)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range res {
			if m.Calib.Decide(x.Score) {
				fp++
			}
			total++
		}
	}
	fpr := float64(fp) / float64(total)
	band := 3 * math.Sqrt(alpha*(1-alpha)/float64(total))
	if fpr > alpha+band || fpr == 0 {
		t.Fatalf("cross-conformal FPR on fresh normals %.4f, want in (0, %.4f]", fpr, alpha+band)
	}
	// The split leaves 5 validation scores: the smallest reachable FPR is
	// 1/6 and Fit says so.
	fr, err := Fit(context.Background(), FitOptions{Method: meanMethod, Dataset: inMemory(30, 5, 1),
		Alpha: alpha, Out: filepath.Join(t.TempDir(), "m.safetensors")})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(fr.MinAlpha-1.0/6) > 1e-12 || len(fr.Warnings) == 0 {
		t.Fatalf("split with 5 validation scores: min FPR %v, warnings %q", fr.MinAlpha, fr.Warnings)
	}
}

// writeIDX writes a tiny IDX dataset: 40 training and 20 test images of
// 8x8, classes 0 and 5.
func writeIDX(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 4))
	for _, split := range []struct {
		prefix string
		n      int
	}{{"train", 40}, {"t10k", 20}} {
		img := binary.BigEndian.AppendUint32(nil, 0x803)
		img = binary.BigEndian.AppendUint32(img, uint32(split.n))
		img = binary.BigEndian.AppendUint32(img, 8)
		img = binary.BigEndian.AppendUint32(img, 8)
		lab := binary.BigEndian.AppendUint32(nil, 0x801)
		lab = binary.BigEndian.AppendUint32(lab, uint32(split.n))
		for i := range split.n {
			class := byte(0)
			if i%2 == 1 {
				class = 5
			}
			lab = append(lab, class)
			for p := range 64 {
				v := 100 + rng.IntN(20)
				if class == 5 && p < 32 {
					v += 80
				}
				img = append(img, byte(v))
			}
		}
		os.WriteFile(filepath.Join(dir, split.prefix+"-images-idx3-ubyte"), img, 0o644)
		os.WriteFile(filepath.Join(dir, split.prefix+"-labels-idx1-ubyte"), lab, 0o644)
	}
}

// Defect B6: vigil test --idx without --normal-class takes the model's
// class, and a different class is refused.
func TestIDXNormalClassFromModel(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	_, err := Fit(context.Background(), FitOptions{Method: meanMethod, Config: []byte(`{"size":8}`),
		Data: dataset.Source{IDX: dir, NormalClass: 5, NormalClassSet: true}, Alpha: 0.2, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate(context.Background(), EvalOptions{Model: out, Data: dataset.Source{IDX: dir}})
	if err != nil {
		t.Fatal(err)
	}
	if res.NNormal != 10 || res.ImageAUROC == nil || *res.ImageAUROC < 0.9 {
		t.Fatalf("normal %d AUROC %v: want class 5 as normal", res.NNormal, res.ImageAUROC)
	}
	_, err = Evaluate(context.Background(), EvalOptions{Model: out, Data: dataset.Source{IDX: dir, NormalClass: 0, NormalClassSet: true}})
	if !IsOptionError(err) || !strings.Contains(err.Error(), "5") {
		t.Fatalf("evaluating a class-5 model with class 0: %v", err)
	}
}

func TestExpandPaths(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, p := range []string{"b.png", "a/c.png", "a/b/d.png", ".hidden/e.png"} {
		writeImage(t, filepath.Join(dir, p), normalImage(rng))
	}
	os.WriteFile(filepath.Join(dir, "readme.txt"), nil, 0o644)
	got, err := ExpandPaths([]string{dir, filepath.Join(dir, "b.png")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, strings.TrimPrefix(s.Name, dir+"/"))
	}
	want := "a/b/d.png a/c.png b.png b.png" // the folder's files, then the file given
	if strings.Join(names, " ") != want {
		t.Fatalf("ExpandPaths: %v, want %s", names, want)
	}
	if _, err := ExpandPaths([]string{filepath.Join(dir, "nope")}); !IsOptionError(err) {
		t.Fatalf("missing path: %v", err)
	}
}

// MVTec LOCO: validation/good calibrates, every mask file is a region,
// and sPRO is reported.
func TestEvaluateLOCO(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 20 {
		writeImage(t, filepath.Join(dir, "train/good", fmtName("t", i)+".png"), normalImage(rng))
	}
	for i := range 6 {
		writeImage(t, filepath.Join(dir, "validation/good", fmtName("v", i)+".png"), normalImage(rng))
		writeImage(t, filepath.Join(dir, "test/good", fmtName("g", i)+".png"), normalImage(rng))
		img := normalImage(rng)
		m := anomalous(img, rng)
		name := fmtName("s", i)
		writeImage(t, filepath.Join(dir, "test/structural_anomalies", name+".png"), img)
		os.MkdirAll(filepath.Join(dir, "ground_truth/structural_anomalies", name), 0o755)
		mask := imageio.New(1, 32, 32)
		for j, v := range m.Pix {
			mask.Pix[j] = v * 200 / 255 // pixel value 200 names the defect
		}
		writeImage(t, filepath.Join(dir, "ground_truth/structural_anomalies", name, "000.png"), mask)
	}
	os.WriteFile(filepath.Join(dir, "defects_config.json"), []byte(`[{"defect_name":"blob","pixel_value":200,"saturation_threshold":0.5,"relative_saturation":true}]`), 0o644)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	fr, err := Fit(context.Background(), FitOptions{Method: meanMethod, Data: dataset.Source{Dir: dir}, Alpha: 0.2, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if fr.Layout != dataset.LayoutLOCO || fr.NVal != 6 {
		t.Fatalf("layout %q, %d validation images; want mvtec_loco with validation/good", fr.Layout, fr.NVal)
	}
	res, err := Evaluate(context.Background(), EvalOptions{Model: out, Data: dataset.Source{Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	if res.AUsPRO == nil || *res.AUsPRO <= 0 || *res.AUsPRO > 1 || res.PerDefect["structural_anomalies"].N != 6 {
		t.Fatalf("AUsPRO %v, per defect %+v (note %q)", res.AUsPRO, res.PerDefect, res.PixelNote)
	}
}

// Defect B12: an anomalous test image without a mask makes the pixel
// metrics null with a reason naming it.
func TestPixelMetricsNullNamesImagesWithoutMask(t *testing.T) {
	src := foldersData(t, 30, 4)
	os.Remove(filepath.Join(src.Masks, fmtName("a", 2)+"_mask.png"))
	_, model := fitFolders(t, src, nil)
	res, err := Evaluate(context.Background(), EvalOptions{Model: model, Data: src})
	if err != nil {
		t.Fatal(err)
	}
	if res.PixelAUROC != nil || res.AUPRO != nil || !strings.Contains(res.PixelNote, fmtName("a", 2)) {
		t.Fatalf("pixel AUROC %v, AUPRO %v, note %q: want null naming %s", res.PixelAUROC, res.AUPRO, res.PixelNote, fmtName("a", 2))
	}
	if res.ImageAUROC == nil {
		t.Fatal("image metrics lost with the masks")
	}
}

// Defect B11: without --method, padim when its backbone is found.
func TestChooseMethod(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_BACKBONE_DIR", "")
	t.Setenv("VIGIL_HOME", t.TempDir())
	if m, note := ChooseMethod(dir); m != "pcarecon" || !strings.Contains(note, "pcarecon") {
		t.Fatalf("no backbone: %s (%s)", m, note)
	}
	os.WriteFile(filepath.Join(dir, "mobilenet_v2_1.0_224_quant.tflite"), []byte("x"), 0o644)
	if m, note := ChooseMethod(dir); m != "padim" || !strings.Contains(note, "padim") {
		t.Fatalf("backbone present: %s (%s)", m, note)
	}
}

// Fit says which backbone a feature method used.
func TestFitReportsBackbone(t *testing.T) {
	src := foldersData(t, 20, 2)
	res, _ := fitFolders(t, src, func(o *FitOptions) {
		o.Method, o.Config = "padim", []byte(`{"backbone":"random:1","size":32,"dim":4}`)
	})
	if res.Backbone != "random:1" {
		t.Fatalf("backbone %q, want random:1", res.Backbone)
	}
	res, _ = fitFolders(t, src, nil)
	if res.Backbone != "" {
		t.Fatalf("a method without a backbone reports %q", res.Backbone)
	}
}

// A StreamFitter is fed batch by batch and gives the same model as a
// plain fit on all images at once.
func TestFitStreamed(t *testing.T) {
	src := foldersData(t, 30, 3)
	plain, pm := fitFolders(t, src, nil)
	streamed, sm := fitFolders(t, src, func(o *FitOptions) { o.Method = streamMethod })
	if plain.NTrain != streamed.NTrain {
		t.Fatalf("%d vs %d training images", plain.NTrain, streamed.NTrain)
	}
	a, _ := LoadModel(pm, "")
	b, _ := LoadModel(sm, "")
	ma, mb := a.Detector.(*meanDet).mean, b.Detector.(*streamMeanDet).mean
	for i := range ma {
		if d := ma[i] - mb[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("mean pixel %d: %v plain, %v streamed", i, ma[i], mb[i])
		}
	}
	if len(b.Prov.Fitted) != len(a.Prov.Fitted) {
		t.Fatalf("streamed fit recorded %d hashes, plain %d", len(b.Prov.Fitted), len(a.Prov.Fitted))
	}
}
