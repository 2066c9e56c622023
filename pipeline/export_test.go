package pipeline

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// TestExport writes a fitted padim model as ONNX, reads the file back and
// checks the metadata (method, threshold equal to the model's) and that
// Vigil's executor scores an image as the loaded model does; a method
// without an exporter is refused by name.
func TestExport(t *testing.T) {
	src := foldersData(t, 20, 2)
	_, model := fitFolders(t, src, func(o *FitOptions) {
		o.Method, o.Config = "padim", []byte(`{"backbone":"random:1","size":32,"dim":6}`)
	})
	out := filepath.Join(t.TempDir(), "padim.onnx")
	if err := Export(model, "", out); err != nil {
		t.Fatal(err)
	}
	om, err := onnx.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for _, p := range om.Metadata {
		meta[p.Key] = p.Value
	}
	m, err := LoadModel(model, "")
	if err != nil {
		t.Fatal(err)
	}
	if meta["vigil.method"] != "padim" || meta["vigil.preprocess"] == "" || meta["vigil.input"] == "" {
		t.Fatalf("metadata %v", meta)
	}
	if thr, err := strconv.ParseFloat(meta["vigil.threshold"], 64); err != nil || thr != m.Calib.Threshold {
		t.Fatalf("vigil.threshold %q, model's %v", meta["vigil.threshold"], m.Calib.Threshold)
	}
	img := normalImage(rand.New(rand.NewPCG(77, 1))) // gray 32x32: replicated to RGB
	want, err := m.Detector.Score(context.Background(), []*imageio.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	rgb, err := imageio.ToRGB(img)
	if err != nil {
		t.Fatal(err)
	}
	e, err := onnx.NewExecutor(om, []string{"score"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Run(map[string]*tensor.Tensor{"image": tensor.From(rgb.Pix, 1, 3, 32, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if got := float64(res["score"].Data[0]); math.Abs(got-want[0].Score) > 1e-4*math.Abs(want[0].Score) {
		t.Fatalf("exported score %g, model's %g", got, want[0].Score)
	}

	_, plain := fitFolders(t, src, nil)
	err = Export(plain, "", filepath.Join(t.TempDir(), "mean.onnx"))
	if err == nil || !strings.Contains(err.Error(), "cannot be exported") || !strings.Contains(err.Error(), "padim") {
		t.Fatalf("err = %v, want a refusal naming the exportable methods", err)
	}
}
