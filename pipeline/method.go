package pipeline

import (
	"encoding/json"
	"fmt"

	"github.com/vigil-ad/vigil/detector"
)

// ChooseMethod picks the method for a fit that names none: the strongest
// method whose backbone is available (padim on mobilenet_v2: image AUROC
// 0.95 on magnetic tile, 0.996 on cookies, see BENCHMARKS.md), else
// pcarecon, which needs no download but is near chance on several real
// sets. note says which was chosen and why.
func ChooseMethod(backboneDir string) (method, note string) {
	cfg, _ := json.Marshal(map[string]string{"backbone_dir": backboneDir})
	if backboneDir == "" {
		cfg = nil
	}
	if det, err := detector.New("padim", cfg); err == nil {
		if c, ok := det.(detector.Checker); ok && c.Check() == nil {
			return "padim", "no --method given: using padim (the strongest method whose backbone is available)"
		}
	}
	return "pcarecon", fmt.Sprintf("no --method given and no pretrained backbone found (get one with 'vigil backbone pull mobilenet_v2'): using pcarecon, which is weak on many real datasets")
}
