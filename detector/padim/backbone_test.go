package padim

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector"
)

func TestCheckBackbone(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.onnx")
	d, err := detector.New("padim", []byte(`{"backbone":"`+missing+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.(detector.Checker).Check(); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing backbone file: %v", err)
	}
	d, _ = detector.New("padim", []byte(`{"backbone":"random:3"}`))
	if err := d.(detector.Checker).Check(); err != nil {
		t.Fatalf("random backbone: %v", err)
	}
	// A built-in backbone is looked for in the directory set after loading
	// (the default "auto" falls back to mobilenet_v2 when resnet50 is absent).
	t.Setenv("VIGIL_HOME", t.TempDir())
	t.Setenv("VIGIL_BACKBONE_DIR", "")
	d, _ = detector.New("padim", nil)
	d.(detector.BackboneDirSetter).SetBackboneDir(dir)
	if err := d.(detector.Checker).Check(); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("mobilenet_v2 in an empty folder: %v", err)
	}
}
