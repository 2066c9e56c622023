// Package layering holds the test that keeps Vigil's imports flowing one
// way: imageio -> dataset -> engine -> backbone -> stats -> detectors ->
// decision, metrics, postprocess -> pipeline -> report -> commands.
package layering

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vigil-ad/vigil/"

// layer of each package (by path prefix inside the module); a package may
// import packages of its own layer or below only. The longest matching
// prefix wins.
var layers = map[string]int{
	"version": 0, "progress": 0, "internal": 0,
	"imageio": 1,
	"dataset": 2,
	"tensor":  3, "gemm": 3, "safetensors": 3,
	"ops": 4, "nnsearch": 4,
	"nn": 5, "optim": 5, "onnx": 5, "arch": 5,
	"backbone":  6,
	"embedding": 7,
	"stats":     8, "train": 8,
	"detector": 9, "detector/knn": 10, "detector/padim": 10, "detector/patchcore": 10, "detector/pcarecon": 10,
	"detector/ae": 10, "detector/aegmm": 10, "detector/dagmm": 10, "detector/riad": 10,
	"detector/svdd": 10, "detector/deepsvdd": 10, "detector/geotrans": 10, "detector/students": 10,
	"decision": 11, "metrics": 11, "osr": 11, "postprocess": 11, "monitor": 11,
	"pipeline": 12,
	"report":   13, "worker": 13,
	"server": 14,
	"cmd":    15, "bench": 15,
}

func layerOf(pkg string) (int, bool) {
	rel := strings.TrimPrefix(pkg, module)
	best, bestLen, ok := 0, -1, false
	for prefix, l := range layers {
		if (rel == prefix || strings.HasPrefix(rel, prefix+"/")) && len(prefix) > bestLen {
			best, bestLen, ok = l, len(prefix), true
		}
	}
	return best, ok
}

func TestImportsFlowOneWay(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH: cannot list the import graph")
	}
	cmd := exec.Command(goBin, "list", "-json", module+"...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		from, ok := layerOf(p.ImportPath)
		if !ok {
			t.Errorf("package %s has no layer: add it to the table", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to, ok := layerOf(imp)
			if ok && to > from {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must flow downward", strings.TrimPrefix(p.ImportPath, module), from, strings.TrimPrefix(imp, module), to)
			}
		}
	}
	if n < 20 {
		t.Fatalf("go list listed %d packages; expected the whole module", n)
	}
}
