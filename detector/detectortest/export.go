package detectortest

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// ExportReport is what CheckExport measured: the largest differences
// between the exported graph, run by Vigil's onnx executor, and the
// detector's own Score.
type ExportReport struct {
	ScoreRel float64 // largest |score − Score| / max(|Score|, 1e-12)
	MapAbs   float64 // largest |map − Score's map| over every pixel
	MapScale float64 // largest |Score's map| value
	Model    *onnx.Model
}

// CheckExport fits the method with the JSON config on generated textures
// of side size (the detector's input size, so the map of the prepared
// input is the map of the image), exports it (detector.Exporter), sends the
// model through Encode and Decode, runs it with onnx.Executor on normal and
// defective images and compares "score" and "map" with Score: the score
// within relative tol, every map pixel within tol times the map's largest
// value. Scores must differ between images (a constant would compare
// equal without testing anything). A method whose Score gives no map
// (image scores only) must export a graph with the "score" output alone;
// only the scores are compared then.
func CheckExport(t *testing.T, method, config string, size int, tol float64) ExportReport {
	t.Helper()
	ctx := context.Background()
	d, err := detector.New(method, json.RawMessage(config))
	if err != nil {
		t.Fatal(err)
	}
	var train []*imageio.Image
	for i := 0; i < 12; i++ {
		train = append(train, Texture(uint64(100+i), size, size))
	}
	if err := d.Fit(ctx, train); err != nil {
		t.Fatal(err)
	}
	ex, ok := d.(detector.Exporter)
	if !ok {
		t.Fatalf("%s does not implement detector.Exporter", method)
	}
	m, err := ex.ExportONNX()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if m, err = onnx.Decode(enc); err != nil {
		t.Fatal(err)
	}
	imgs := []*imageio.Image{Texture(1, size, size), Texture(2, size, size)}
	bad, _ := Plant(Texture(3, size, size), size/3, size/4, size/6)
	imgs = append(imgs, bad)
	want, err := d.Score(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	noMap := want[0].Map == nil
	outs := []string{detector.ExportScore, detector.ExportMap}
	for _, o := range m.Graph.Outputs {
		if o.Name == detector.ExportMap && noMap {
			t.Fatalf("%s gives no map, but the exported graph declares the output %q", method, detector.ExportMap)
		}
	}
	if noMap {
		outs = outs[:1]
	}
	e, err := onnx.NewExecutor(m, outs)
	if err != nil {
		t.Fatal(err)
	}
	rep := ExportReport{Model: m}
	for i, img := range imgs {
		out, err := e.Run(map[string]*tensor.Tensor{"image": tensor.From(img.Pix, 1, 3, size, size)})
		if err != nil {
			t.Fatal(err)
		}
		s, mp := out[detector.ExportScore], out[detector.ExportMap]
		if noMap {
			if len(s.Data) != 1 {
				t.Fatalf("image %d: score shape %v, want [1]", i, s.Shape)
			}
		} else if len(s.Data) != 1 || len(mp.Shape) != 4 || mp.Shape[2] != size || mp.Shape[3] != size {
			t.Fatalf("image %d: score shape %v, map shape %v, want [1] and [1 1 %d %d]", i, s.Shape, mp.Shape, size, size)
		}
		rel := math.Abs(float64(s.Data[0])-want[i].Score) / math.Max(math.Abs(want[i].Score), 1e-12)
		rep.ScoreRel = max(rep.ScoreRel, rel)
		for j, v := range mapPix(want[i].Map) {
			rep.MapAbs = max(rep.MapAbs, math.Abs(float64(mp.Data[j]-v)))
			rep.MapScale = max(rep.MapScale, math.Abs(float64(v)))
		}
		if rel > tol || math.IsNaN(rel) {
			t.Errorf("image %d: exported score %g, Score %g (relative difference %.3g > %g)", i, s.Data[0], want[i].Score, rel, tol)
		}
	}
	if rep.MapAbs > tol*rep.MapScale || math.IsNaN(rep.MapAbs) {
		t.Errorf("exported map differs by up to %.3g, more than %g of the map's scale %.3g", rep.MapAbs, tol, rep.MapScale)
	}
	if want[0].Score == want[2].Score {
		t.Fatalf("normal and defective images score the same (%g)", want[0].Score)
	}
	if noMap {
		t.Logf("%s export: max score relative difference %.3g (no map)", method, rep.ScoreRel)
	} else {
		t.Logf("%s export: max score relative difference %.3g, max map abs difference %.3g (map scale %.3g, relative %.3g)", method, rep.ScoreRel, rep.MapAbs, rep.MapScale, rep.MapAbs/rep.MapScale)
	}
	return rep
}

// mapPix is the map's values, none for a method without maps.
func mapPix(m *imageio.Map) []float32 {
	if m == nil {
		return nil
	}
	return m.Pix
}
