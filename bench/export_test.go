package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/detector"
	_ "github.com/vigil-ad/vigil/detector/ae" // the exported methods
	_ "github.com/vigil-ad/vigil/detector/aegmm"
	_ "github.com/vigil-ad/vigil/detector/dagmm"
	_ "github.com/vigil-ad/vigil/detector/deepsvdd"
	_ "github.com/vigil-ad/vigil/detector/geotrans"
	_ "github.com/vigil-ad/vigil/detector/padim"
	_ "github.com/vigil-ad/vigil/detector/patchcore"
	_ "github.com/vigil-ad/vigil/detector/pcarecon"
	_ "github.com/vigil-ad/vigil/detector/riad"
	_ "github.com/vigil-ad/vigil/detector/students"
	_ "github.com/vigil-ad/vigil/detector/svdd"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/tensor"
)

// TestExportInputs is bench/export.sh's Go half (skipped unless
// VIGIL_EXPORT_PREP names an output folder). For the model
// VIGIL_EXPORT_MODEL (backbones looked up in VIGIL_EXPORT_BACKBONE_DIR
// first) and every image under VIGIL_EXPORT_IMAGES it writes the exported
// graph's input, prepared as the file's metadata says (decode, RGB,
// embedding.Geometry.Input with the vigil.geometry entry), as raw
// little-endian float32
// [1,3,S,S] files, and a manifest index.tsv: raw file, image path, the
// model's own score (Detector.Score, one image at a time, as vigil test
// and predict compute it), and the score of the exported file
// VIGIL_EXPORT_ONNX run by Vigil's onnx executor (see
// VIGIL_EXPORT_SCORE_PREPARED below). It logs ms per image of
// both, so ONNX Runtime's timing can be read beside them.
func TestExportInputs(t *testing.T) {
	dir := os.Getenv("VIGIL_EXPORT_PREP")
	if dir == "" {
		t.Skip("bench/export.sh sets VIGIL_EXPORT_PREP, VIGIL_EXPORT_MODEL, VIGIL_EXPORT_ONNX and VIGIL_EXPORT_IMAGES")
	}
	m, err := pipeline.LoadModel(os.Getenv("VIGIL_EXPORT_MODEL"), os.Getenv("VIGIL_EXPORT_BACKBONE_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	om, err := onnx.ReadFile(os.Getenv("VIGIL_EXPORT_ONNX"))
	if err != nil {
		t.Fatal(err)
	}
	// The input is prepared from the file's own description.
	var g embedding.Geometry
	for _, p := range om.Metadata {
		if p.Key == "vigil.geometry" {
			if err := json.Unmarshal([]byte(p.Value), &g); err != nil {
				t.Fatalf("vigil.geometry %q: %v", p.Value, err)
			}
		}
	}
	// Not Geometry.Validate: its multiples of 32 are a backbone's need,
	// and methods without one (deepsvdd at 28, say) export other sides.
	if g.Size < 1 || g.Crop < 0 || g.Crop > g.Size || (g.Aspect != "" && g.Aspect != embedding.AspectStretch) {
		t.Fatalf("vigil.geometry %+v: want size >= 1, crop in 0..size, aspect stretch", g)
	}
	ex, err := onnx.NewExecutor(om, []string{detector.ExportScore})
	if err != nil {
		t.Fatal(err)
	}
	samples, err := pipeline.ExpandPaths([]string{os.Getenv("VIGIL_EXPORT_IMAGES")})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	index, err := os.Create(filepath.Join(dir, "index.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer index.Close()
	s := g.Side()
	// With VIGIL_EXPORT_SCORE_PREPARED set, Score sees the prepared S×S
	// input rather than the image: for methods whose own preprocessing
	// keeps the aspect ratio (ae, aegmm), which the fixed-size graph cannot.
	prepared := os.Getenv("VIGIL_EXPORT_SCORE_PREPARED") != ""
	var tScore, tExec time.Duration
	maxRel := 0.0
	ctx := context.Background()
	for i, smp := range samples {
		img, err := imageio.Load(smp.Path)
		if err != nil {
			t.Fatal(err)
		}
		in, err := g.Input(img)
		if err != nil {
			t.Fatalf("%s: %v", smp.Path, err)
		}
		raw := make([]byte, 4*len(in.Pix))
		for j, v := range in.Pix {
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(v))
		}
		name := fmt.Sprintf("%04d.raw", i)
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if prepared {
			img = in
		}
		t0 := time.Now()
		res, err := m.Detector.Score(ctx, []*imageio.Image{img})
		if err != nil {
			t.Fatalf("%s: %v", smp.Path, err)
		}
		t1 := time.Now()
		out, err := ex.Run(map[string]*tensor.Tensor{embedding.ExportInput: tensor.From(in.Pix, 1, 3, s, s)})
		if err != nil {
			t.Fatalf("%s: %v", smp.Path, err)
		}
		t2 := time.Now()
		if i > 0 { // the first run of each includes one-time set-up
			tScore += t1.Sub(t0)
			tExec += t2.Sub(t1)
		}
		es := float64(out[detector.ExportScore].Data[0])
		maxRel = max(maxRel, math.Abs(es-res[0].Score)/math.Abs(res[0].Score))
		fmt.Fprintf(index, "%s\t%s\t%.9g\t%.9g\n", name, smp.Path, res[0].Score, es)
	}
	n := float64(max(len(samples)-1, 1))
	t.Logf("%s: %d images at %dx%d; Vigil Score %.1f ms/image, Vigil executor on the export %.1f ms/image; max relative score difference executor vs Score %.3g",
		m.Detector.Method(), len(samples), s, s, float64(tScore.Milliseconds())/n, float64(tExec.Milliseconds())/n, maxRel)
}
