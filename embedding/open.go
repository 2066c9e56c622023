package embedding

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vigil-ad/vigil/backbone"
)

// Source names a backbone as configured in a detector: a built-in name
// (mobilenet_v2, mobilenet_v1), "random" or "random:SEED" (no weights
// needed), or a .tflite / .onnx file; Layers names the tensors to tap in an
// ONNX file. The help tags are what `vigil methods` prints for the
// detectors that embed it.
type Source struct {
	Backbone    string   `json:"backbone" help:"feature extractor: mobilenet_v2, mobilenet_v1, a .tflite/.onnx file, or random[:seed] (untrained, for tests)"`
	BackboneDir string   `json:"backbone_dir,omitempty" help:"folder searched first for backbone files (else $VIGIL_BACKBONE_DIR, then $VIGIL_HOME/backbones)"`
	Layers      []string `json:"layers,omitempty" help:"layer names to tap (ONNX backbones); empty: the backbone's default taps"`
}

// BackboneAuto is the feature detectors' default backbone: resnet50 when
// its converted file is found (vigil backbone pull resnet50), else
// mobilenet_v2. A fitted model records the backbone it used (Resolved).
const BackboneAuto = "auto"

// Resolved returns s with "auto" replaced by the backbone it stands for
// now; other names are returned as they are.
func (s Source) Resolved() Source {
	if s.Backbone != BackboneAuto {
		return s
	}
	s.Backbone = "mobilenet_v2"
	if _, err := backbone.Locate("resnet50", backbone.OpenOptions{BackboneDir: s.BackboneDir}); err == nil {
		s.Backbone = "resnet50"
	}
	return s
}

// Open resolves the source to an extractor.
func (s Source) Open() (backbone.Extractor, error) {
	s = s.Resolved()
	name := s.Backbone
	switch {
	case name == "random":
		return backbone.NewRandom(0), nil
	case strings.HasPrefix(name, "random:"):
		seed, err := strconv.ParseUint(strings.TrimPrefix(name, "random:"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("backbone %q: seed is not a number", name)
		}
		return backbone.NewRandom(seed), nil
	}
	return backbone.Open(name, backbone.OpenOptions{BackboneDir: s.BackboneDir, Layers: s.Layers})
}

// Lazy holds a detector's extractor, opened from its Source on first use.
type Lazy struct {
	ex backbone.Extractor
}

// Extractor returns the extractor, opening s on first use.
func (l *Lazy) Extractor(s Source) (backbone.Extractor, error) {
	if l.ex == nil {
		ex, err := s.Open()
		if err != nil {
			return nil, err
		}
		l.ex = ex
	}
	return l.ex, nil
}

// Check reports, without loading it, whether the backbone can be found: a
// built-in name must be located, a file must exist; "random" always can.
func (s Source) Check() error {
	s = s.Resolved()
	name := s.Backbone
	lower := strings.ToLower(name)
	switch {
	case name == "random" || strings.HasPrefix(name, "random:"):
		return nil
	case strings.HasSuffix(lower, ".onnx") || strings.HasSuffix(lower, ".tflite"):
		st, err := os.Stat(name)
		if err != nil {
			return fmt.Errorf("backbone file %s does not exist", name)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("backbone %s is not a file", name)
		}
		return nil
	}
	_, err := backbone.Locate(name, backbone.OpenOptions{BackboneDir: s.BackboneDir})
	return err
}

// Ready reports whether the extractor is already open (or set by Use).
func (l *Lazy) Ready() bool { return l.ex != nil }

// Use makes ex the extractor instead of opening the Source: one loaded
// backbone shared by several detectors, or a wrapper around it (a
// benchmark's feature cache). ex must compute what the Source names.
func (l *Lazy) Use(ex backbone.Extractor) { l.ex = ex }
