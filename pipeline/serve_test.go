package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// TestScoreImagesMatchesPredict: scoring decoded images in memory gives
// exactly Predict's scores, p-values and decisions on the same files; a
// poisoned image is an error and never normal; a cancelled context is
// returned as the error.
func TestScoreImagesMatchesPredict(t *testing.T) {
	src := foldersData(t, 30, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	poison := normalImage(rng)
	poison.Pix[0] = 1 // the fake detector scores this NaN
	writeImage(t, filepath.Join(src.Abnormal, "poison.png"), poison)
	_, model := fitFolders(t, src, nil)
	m, err := LoadModel(model, "")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := Predict(context.Background(), PredictOptions{Loaded: m, Paths: []string{src.Abnormal}})
	if err != nil {
		t.Fatal(err)
	}
	var imgs []*imageio.Image
	for _, r := range pr.Rows {
		img, err := imageio.Load(r.Path)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	imgs = append(imgs, nil) // malformed input: an error, not a panic
	rs, err := m.ScoreImages(context.Background(), imgs, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(pr.Rows)+1 {
		t.Fatalf("%d results for %d images", len(rs), len(imgs))
	}
	for i, row := range pr.Rows {
		r := rs[i]
		if r.Verdict() != row.Verdict {
			t.Errorf("%s: verdict %s, Predict %s", row.Name, r.Verdict(), row.Verdict)
		}
		if strings.Contains(row.Name, "poison") {
			if r.Err == nil || r.Verdict() != "error" {
				t.Errorf("poisoned image: err %v verdict %s", r.Err, r.Verdict())
			}
			continue
		}
		if r.Score != row.Score || r.PValue != row.PValue {
			t.Errorf("%s: score %v p %v, Predict %v p %v", row.Name, r.Score, r.PValue, row.Score, row.PValue)
		}
		if r.Map == nil || r.Map.H != imgs[i].H || r.Map.W != imgs[i].W {
			t.Errorf("%s: map %v for a %dx%d image", row.Name, r.Map, imgs[i].W, imgs[i].H)
		}
		if r.Anomalous && r.PredMask == nil && m.Calib.PixelThreshold != nil {
			t.Errorf("%s: no predicted mask", row.Name)
		}
	}
	if last := rs[len(rs)-1]; last.Err == nil || last.Verdict() != "error" {
		t.Errorf("nil image: err %v verdict %s", last.Err, last.Verdict())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.ScoreImages(ctx, imgs[:2], false); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: err %v, want context.Canceled", err)
	}
	if b := m.Backbone(); b != "" {
		t.Errorf("backbone %q for a method without one", b)
	}
	_ = os.Remove(model)
}
