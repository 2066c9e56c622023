package knn

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/safetensors"
)

func TestContractImageMode(t *testing.T) {
	detectortest.Run(t, "knn", `{"backbone":"random:1","size":64,"mode":"image","dim":16,"k":3,"seed":3}`, detectortest.Options{NoMap: true, Defect: 20, Progress: true})
}

func TestContractPatchModeWithClusters(t *testing.T) {
	detectortest.Run(t, "knn", `{"backbone":"random:1","size":64,"mode":"patch","dim":24,"k":1,"clusters":128,"seed":3}`, detectortest.Options{})
}

// A crafted model whose values (not shapes) are bad is refused with an
// error naming the tensor; the untouched model restores.
func TestRestoreRefusesCraftedValues(t *testing.T) {
	const cfg = `{"backbone":"random:1","size":64,"dim":2}`
	good := func() map[string][]float32 {
		return map[string][]float32{
			"grid":           {1, 1},
			"pca_mean":       {0.5, 0, 1, 2},
			"pca_components": {1, 0, 0, 0, 0, 0.6, 0.8, 0},
			"bank":           {0, 1, 2, 3, 4, 5},
		}
	}
	shapes := map[string][]int{"grid": {2}, "pca_mean": {4}, "pca_components": {2, 4}, "bank": {3, 2}}
	restore := func(config string, v map[string][]float32) error {
		ts := map[string]safetensors.Tensor{}
		for name, x := range v {
			ts[name] = safetensors.F32(name, shapes[name], x)
		}
		return new(Detector).Restore(json.RawMessage(config), ts)
	}
	if err := restore(cfg, good()); err != nil {
		t.Fatalf("good model refused: %v", err)
	}
	nan := float32(math.NaN())
	for _, c := range []struct {
		why, config, name string
		edit              func(v map[string][]float32)
	}{
		{"NaN mean", cfg, "pca_mean", func(v map[string][]float32) { v["pca_mean"][2] = nan }},
		{"infinite bank", cfg, "bank", func(v map[string][]float32) { v["bank"][5] = float32(math.Inf(1)) }},
		{"component not unit length", cfg, "pca_components", func(v map[string][]float32) { v["pca_components"][0] = 2 }},
		{"NaN component", cfg, "pca_components", func(v map[string][]float32) { v["pca_components"][5] = nan }},
		{"patch grid in image mode", cfg, "grid", func(v map[string][]float32) { v["grid"] = []float32{2, 2} }},
		{"fractional grid", `{"backbone":"random:1","size":64,"dim":2,"mode":"patch"}`, "grid", func(v map[string][]float32) { v["grid"] = []float32{2.5, 2} }},
		{"negative grid", `{"backbone":"random:1","size":64,"dim":2,"mode":"patch"}`, "grid", func(v map[string][]float32) { v["grid"] = []float32{-2, 2} }},
		{"more components than dim", `{"backbone":"random:1","size":64,"dim":1}`, "pca_components", func(map[string][]float32) {}},
	} {
		v := good()
		c.edit(v)
		if err := restore(c.config, v); err == nil || !strings.Contains(err.Error(), `"`+c.name+`"`) {
			t.Errorf("%s: err %v, want one naming %q", c.why, err, c.name)
		}
	}
}
