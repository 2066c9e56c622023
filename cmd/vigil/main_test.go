package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/pipeline"
)

// vigil runs one command line in-process and returns exit code and outputs.
func vigil(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nosuchcommand"},
		{"fit", "--bogus-flag"},
		{"fit", "--data", "x"},            // no --out
		{"fit", "--out", "m.safetensors"}, // no data
		{"fit", "--method", "nope", "--data", "x", "--out", "m"}, // unknown method
		{"test", "--data", "x"},                                  // no --model
		{"eval"},                                                 // no --scores
		{"predict", "--model", "m", "--out", "d"},                // no images
		{"demo", "--family", "plaid"},
		{"fit", "--data", "x", "--out", "m", "--alpha", "2"},
		{"fit", "--data", "x", "--out", "m", "--rule", "median"},
		{"fit", "--data", "x", "--out", "m", "extra"},
		{"fit", "--idx", "x", "--out", "m"},                    // no --normal-class
		{"test", "--model", "m", "--data", "x", "--seed", "3"}, // test uses the model's split
		{"backbone", "pull", "--dir", "d"},                     // no name
		{"methods", "nosuch"},
	} {
		code, _, stderr := vigil(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
}

func TestHelpExits0(t *testing.T) {
	for _, c := range []string{"fit", "test", "predict", "eval", "demo", "version", "backbone", "bench", "methods", "serve", "export", "classify", "worker", "submit", "monitor"} {
		code, out, stderr := vigil(t, c, "--help")
		if code != 0 || !strings.Contains(out, "Usage: vigil "+c) || stderr != "" {
			t.Errorf("%s --help: exit %d, output %q, stderr %q", c, code, out, stderr)
		}
		if n := strings.Count(out, "Usage:"); n != 1 {
			t.Errorf("%s --help printed the usage %d times", c, n)
		}
	}
	// fit --method M --help lists the method's parameters
	code, out, _ := vigil(t, "fit", "--method", "pcarecon", "--help")
	if code != 0 || !strings.Contains(out, "components") {
		t.Errorf("fit --method pcarecon --help: exit %d, %q", code, out)
	}
}

// Usage errors go to stderr only; every flag is checked before any data
// is read (the data folder here exists and holds images).
func TestFlagsValidatedBeforeData(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := vigil(t, "demo", "--write", data, "--family", "grain"); code != 0 {
		t.Fatal(stderr)
	}
	cat := filepath.Join(data, "grain")
	out := filepath.Join(dir, "m.safetensors")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--alpha", "NaN"}, "alpha"},
		{[]string{"--val-fraction", "1.5"}, "val-fraction"},
		{[]string{"--val-fraction", "0"}, "val-fraction"},
		{[]string{"--out", dir}, "folder"},
		{[]string{"--out", filepath.Join(dir, "no", "m.safetensors")}, "does not exist"},
		{[]string{"--method", "padim", "--backbone", filepath.Join(dir, "none.onnx")}, "none.onnx"},
		{[]string{"--method", "pcarecon", "--backbone", "mobilenet_v2"}, "backbone"},
		{[]string{"--method", "pcarecon", "--config", `{"componets":2}`}, "componets"},
		{[]string{"--calibration", "cv:1"}, "calibration"},
	} {
		args := append([]string{"fit", "--method", "pcarecon", "--data", cat, "--out", out, "--quiet"}, tc.args...)
		code, stdout, stderr := vigil(t, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 naming %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

func TestMethodsListsParameters(t *testing.T) {
	code, out, _ := vigil(t, "methods")
	for _, want := range []string{"pcarecon", "padim", "patchcore", "knn", "components", "backbone"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("vigil methods: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	// Every method heads its table with its summary, once.
	for _, m := range []string{"pcarecon", "padim"} {
		if n := strings.Count(out, "\n"+m+": "); n != 1 {
			t.Errorf("vigil methods: %d summary lines for %s, want 1", n, m)
		}
	}
}

func TestFailureExits1WithFileName(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nowhere")
	code, _, stderr := vigil(t, "fit", "--data", missing, "--out", filepath.Join(dir, "m.safetensors"), "--quiet")
	if code != 2 || !strings.Contains(stderr, "nowhere") {
		t.Fatalf("exit %d, stderr %q: want 2 (checked before reading) and the missing folder named", code, stderr)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	code, _, stderr = vigil(t, "test", "--model", bad, "--data", dir, "--quiet")
	if code != 1 || !strings.Contains(stderr, "bad.safetensors") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.safetensors")); err == nil {
		t.Fatal("a failed fit left a model file")
	}
}

func TestEvalCSV(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.csv")
	// normals 0.1 0.4, anomalous 0.35 0.8: AUROC = 3/4.
	os.WriteFile(p, []byte("score,label,name\n0.1,0,a\n0.4,0,b\n0.35,1,c\n0.8,1,d\n"), 0o644)
	code, out, stderr := vigil(t, "eval", "--scores", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		AUROC float64 `json:"auroc"`
		N0    int     `json:"n_normal"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.AUROC != 0.75 || r.N0 != 2 {
		t.Fatalf("got %+v from %s", r, out)
	}
	os.WriteFile(p, []byte("0.1,0\n0.2,7\n"), 0o644)
	if code, _, stderr := vigil(t, "eval", "--scores", p); code != 1 || !strings.Contains(stderr, "s.csv") {
		t.Fatalf("bad label: exit %d, %q", code, stderr)
	}
}

// The whole path a user takes: write the demo data, fit, test with a
// report, predict.
func TestFitTestPredictEndToEnd(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := vigil(t, "demo", "--write", data, "--family", "grain"); code != 0 {
		t.Fatalf("demo --write: %s", stderr)
	}
	cat := filepath.Join(data, "grain")
	model := filepath.Join(dir, "m.safetensors")
	code, out, stderr := vigil(t, "fit", "--method", "pcarecon", "--data", cat, "--out", model, "--quiet", "--json")
	if code != 0 {
		t.Fatalf("fit: %s", stderr)
	}
	var fs pipeline.FitResult
	if err := json.Unmarshal([]byte(out), &fs); err != nil || fs.NTrain == 0 || fs.Threshold <= 0 || fs.Rule != "conformal" {
		t.Fatalf("fit summary %q: %v", out, err)
	}
	// The 3-sigma rule stores a different threshold in the model.
	model3 := filepath.Join(dir, "m3.safetensors")
	code, out, stderr = vigil(t, "fit", "--method", "pcarecon", "--data", cat, "--out", model3, "--rule", "three_sigma", "--quiet", "--json")
	var fs3 pipeline.FitResult
	if code != 0 || json.Unmarshal([]byte(out), &fs3) != nil || fs3.Rule != "three_sigma" || fs3.Threshold == fs.Threshold {
		t.Fatalf("fit --rule three_sigma: exit %d, %q, %s", code, out, stderr)
	}
	rep := filepath.Join(dir, "report")
	code, out, stderr = vigil(t, "test", "--model", model, "--data", cat, "--json", "--report", rep, "--quiet")
	if code != 0 {
		t.Fatalf("test: %s", stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "aupro", "threshold", "target_fpr", "test_fpr", "test_tpr", "n_normal", "n_anomalous", "seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("test --json lacks %q", k)
		}
	}
	if auc, _ := m["image_auroc"].(float64); auc < 0.9 {
		t.Errorf("image AUROC %v on the demo grain texture, want > 0.9", m["image_auroc"])
	}
	if _, ok := m["pixel_auroc"].(float64); !ok {
		t.Errorf("pixel_auroc is %v, want a number (the demo has masks)", m["pixel_auroc"])
	}
	for _, f := range []string{"index.html", "metrics.json"} {
		if _, err := os.Stat(filepath.Join(rep, f)); err != nil {
			t.Errorf("report lacks %s", f)
		}
	}
	imgs, _ := filepath.Glob(filepath.Join(cat, "test", "hole", "*.png"))
	good, _ := filepath.Glob(filepath.Join(cat, "test", "good", "*.png"))
	pred := filepath.Join(dir, "pred")
	code, out, stderr = vigil(t, "predict", "--model", model, "--out", pred, "--json", "--quiet", imgs[0], good[0])
	if code != 0 {
		t.Fatalf("predict: %s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("predict printed %q", out)
	}
	var p0, p1 struct {
		Score    float64 `json:"score"`
		PValue   float64 `json:"p_value"`
		Decision string  `json:"decision"`
	}
	json.Unmarshal([]byte(lines[0]), &p0)
	json.Unmarshal([]byte(lines[1]), &p1)
	if p0.Decision != "anomalous" || p0.Score <= p1.Score || p0.PValue > p1.PValue {
		t.Errorf("hole image %+v vs good image %+v", p0, p1)
	}
	if _, err := os.Stat(filepath.Join(pred, "results.json")); err != nil {
		t.Error("predict wrote no results.json")
	}

	// A folder of images, and a broken one: reported, the others run, exit 1.
	os.WriteFile(filepath.Join(cat, "test", "hole", "zz_broken.png"), []byte("not a png"), 0o644)
	code, out, stderr = vigil(t, "predict", "--model", model, "--out", pred, "--quiet", filepath.Join(cat, "test", "hole"))
	if code != 1 || !strings.Contains(out, "zz_broken.png") || !strings.Contains(out, "ERROR") {
		t.Fatalf("predict on a folder with a broken image: exit %d, %q, %q", code, out, stderr)
	}
	os.Remove(filepath.Join(cat, "test", "hole", "zz_broken.png"))

	// vigil test does not need train/good.
	os.RemoveAll(filepath.Join(cat, "train"))
	if code, _, stderr = vigil(t, "test", "--model", model, "--data", cat, "--quiet"); code != 0 {
		t.Fatalf("test without train/: exit %d: %s", code, stderr)
	}

	// Without masks the pixel metrics are null.
	os.RemoveAll(filepath.Join(cat, "ground_truth"))
	code, out, stderr = vigil(t, "test", "--model", model, "--data", cat, "--json", "--quiet")
	if code != 0 {
		t.Fatalf("test without masks: %s", stderr)
	}
	m = nil
	json.Unmarshal([]byte(out), &m)
	if m["pixel_auroc"] != nil || m["aupro"] != nil {
		t.Errorf("without masks pixel metrics should be null: %v %v", m["pixel_auroc"], m["aupro"])
	}
}

func TestDemoSingleFamily(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := vigil(t, "demo", "--family", "brushed", "--report", dir, "--quiet")
	if code != 0 {
		t.Fatalf("demo: %s", stderr)
	}
	if !strings.Contains(out, "HTML report: ") || !strings.Contains(out, filepath.Join(dir, "index.html")) {
		t.Fatalf("demo output lacks the report path: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "brushed", "index.html")); err != nil {
		t.Fatal(err)
	}
}

// Defect B10: the metrics are out before the report is written; a report
// that cannot be written is an error after them. Defect B11: a relative
// --backbone-dir is stored as an absolute path.
func TestMetricsBeforeReportAndAbsoluteBackboneDir(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := vigil(t, "demo", "--write", data, "--family", "grain"); code != 0 {
		t.Fatal(stderr)
	}
	fams, _ := filepath.Glob(filepath.Join(data, "*"))
	cat := fams[0]
	model := filepath.Join(dir, "m.safetensors")
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	os.Mkdir(filepath.Join(dir, "bb"), 0o755)
	code, _, stderr := vigil(t, "fit", "--method", "padim", "--backbone", "random:1", "--backbone-dir", "bb",
		"--config", `{"size":32,"dim":8}`, "--data", cat, "--out", model, "--quiet")
	if code != 0 {
		t.Fatalf("fit: %s", stderr)
	}
	m, err := pipeline.LoadModel(model, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Meta.Config), `"backbone_dir":"`+filepath.Join(dir, "bb")+`"`) {
		t.Fatalf("config %s: want the absolute backbone_dir %s", m.Meta.Config, filepath.Join(dir, "bb"))
	}
	rep := filepath.Join(dir, "rep")
	os.MkdirAll(filepath.Join(rep, "metrics.json", "blocker"), 0o755) // metrics.json cannot be written
	code, out, stderr := vigil(t, "test", "--model", model, "--data", cat, "--report", rep, "--quiet")
	if code != 1 || !strings.Contains(out, "image AUROC") || !strings.Contains(stderr, "report") {
		t.Fatalf("unwritable report: exit %d, stdout %q, stderr %q; want the metrics printed, then exit 1", code, out, stderr)
	}
}
