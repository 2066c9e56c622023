package onnx

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/vigil-ad/vigil/tensor"
)

// WriteCase writes a cross-check case for another runtime into dir: the
// model as NAME.onnx with every tensor of out declared as a graph output,
// the inputs and Vigil's outputs as raw little-endian float32 files, and a
// NAME.json manifest {"inputs"|"outputs": {tensor: {"file", "dims"}}}.
// onnx/testdata/ort_compare.js runs such cases in ONNX Runtime.
func WriteCase(dir, name string, m *Model, in, out map[string]*tensor.Tensor) error {
	g := *m.Graph
	g.Outputs = nil
	for _, n := range slices.Sorted(maps.Keys(out)) {
		g.Outputs = append(g.Outputs, ValueInfo{Name: n})
	}
	mm := *m
	mm.Graph = &g
	base := filepath.Join(dir, name)
	if err := WriteFile(base+".onnx", &mm); err != nil {
		return err
	}
	manifest := map[string]map[string]any{"inputs": {}, "outputs": {}}
	for kind, ts := range map[string]map[string]*tensor.Tensor{"inputs": in, "outputs": out} {
		for i, n := range slices.Sorted(maps.Keys(ts)) {
			f := fmt.Sprintf("%s.%s%d.f32", base, kind, i)
			buf := make([]byte, 4*len(ts[n].Data))
			for j, v := range ts[n].Data {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
			}
			if err := os.WriteFile(f, buf, 0o644); err != nil {
				return err
			}
			manifest[kind][n] = map[string]any{"file": f, "dims": ts[n].Shape}
		}
	}
	j, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	return os.WriteFile(base+".json", j, 0o644)
}
