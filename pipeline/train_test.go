package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/train"
)

// trainDet is meanDet that "trains": it records the session the pipeline
// gave it and writes a checkpoint file there during Fit, as a training
// detector does.
type trainDet struct {
	meanDet
	sess train.Session
}

const trainMethod = "test_train"

var lastTrain *trainDet

func init() {
	detector.RegisterMethod(detector.Method{
		Name: trainMethod, Summary: "mean image with checkpoints (pipeline tests only)",
		Defaults: func() any { return meanConfig{Size: 16} },
		New: func(raw json.RawMessage) (detector.Detector, error) {
			c := meanConfig{Size: 16}
			if err := detector.DecodeConfig(trainMethod, raw, &c); err != nil {
				return nil, err
			}
			lastTrain = &trainDet{meanDet: meanDet{cfg: c}}
			return lastTrain, nil
		},
	})
}

func (d *trainDet) Method() string                  { return trainMethod }
func (d *trainDet) SetTrainSession(s train.Session) { d.sess = s }
func (d *trainDet) Fit(ctx context.Context, imgs []*imageio.Image) error {
	if d.sess.CheckpointDir == "" {
		return errors.New("no checkpoint folder given")
	}
	if err := os.MkdirAll(d.sess.CheckpointDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.sess.CheckpointDir, "mean.ckpt"), []byte("epoch 1"), 0o644); err != nil {
		return err
	}
	// Two stages, as a method with pre-training reports them.
	for e := 1; e <= 3; e++ {
		d.sess.Progress(train.Epoch{Stage: "pre", Epoch: e, Epochs: 3, Loss: 1 / float64(e), ValLoss: math.NaN(), Elapsed: time.Duration(e) * time.Second})
	}
	d.sess.Progress(train.Epoch{Stage: "main", Epoch: 1, Epochs: 1, Loss: 0.5, ValLoss: 0.25, Elapsed: 4 * time.Second})
	return d.meanDet.Fit(ctx, imgs)
}

func TestTrainSession(t *testing.T) {
	src := foldersData(t, 30, 4)
	// Default folder: MODEL.ckpt, removed once the model is written.
	res, model := fitFolders(t, src, func(o *FitOptions) { o.Method = trainMethod })
	// The fit result summarises each stage from its epoch reports.
	want := []TrainStage{{Stage: "pre", Epochs: 3, Seconds: 3, SecondsPerEpoch: 1, Loss: 1.0 / 3}, {Stage: "main", Epochs: 1, Seconds: 4, SecondsPerEpoch: 4, Loss: 0.5}}
	if len(res.Training) != 2 {
		t.Fatalf("training stages %+v, want 2", res.Training)
	}
	for i, w := range want {
		g := res.Training[i]
		if g.Stage != w.Stage || g.Epochs != w.Epochs || g.Seconds != w.Seconds || g.SecondsPerEpoch != w.SecondsPerEpoch || g.Loss != w.Loss {
			t.Errorf("stage %d: %+v, want %+v", i, g, w)
		}
	}
	if res.Training[0].ValLoss != nil || res.Training[1].ValLoss == nil || *res.Training[1].ValLoss != 0.25 {
		t.Errorf("validation losses %v, %v: want none, 0.25", res.Training[0].ValLoss, res.Training[1].ValLoss)
	}
	if got := lastTrain.sess.CheckpointDir; got != model+".ckpt" || lastTrain.sess.Resume {
		t.Fatalf("session %+v: want checkpoints in %s.ckpt, no resume", lastTrain.sess, model)
	}
	if _, err := os.Stat(model + ".ckpt"); !os.IsNotExist(err) {
		t.Fatalf("default checkpoint folder left behind after success (stat: %v)", err)
	}
	// A named folder is kept, and --resume continues from it.
	dir := filepath.Join(t.TempDir(), "ck")
	fitFolders(t, src, func(o *FitOptions) { o.Method, o.CheckpointDir = trainMethod, dir })
	if _, err := os.Stat(filepath.Join(dir, "mean.ckpt")); err != nil {
		t.Fatalf("named checkpoint folder not kept: %v", err)
	}
	fitFolders(t, src, func(o *FitOptions) { o.Method, o.CheckpointDir, o.Resume = trainMethod, dir, true })
	if !lastTrain.sess.Resume || lastTrain.sess.CheckpointDir != dir {
		t.Fatalf("resume session %+v", lastTrain.sess)
	}
	// Cross-conformal folds each get their own folder.
	fitFolders(t, src, func(o *FitOptions) { o.Method, o.CheckpointDir, o.Calibration = trainMethod, dir, "cv:3" })
	for _, sub := range []string{"fold-1", "fold-3", "final"} {
		if _, err := os.Stat(filepath.Join(dir, sub, "mean.ckpt")); err != nil {
			t.Errorf("cross-conformal: %v", err)
		}
	}
}

func TestResumeRefused(t *testing.T) {
	src := foldersData(t, 10, 2)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	for _, c := range []struct{ method, dir string }{
		{trainMethod, filepath.Join(t.TempDir(), "missing")}, // nothing to resume from
		{meanMethod, t.TempDir()},                            // a method that does not train
	} {
		_, err := Fit(context.Background(), FitOptions{Method: c.method, Data: src, DataOptions: dataset.Options{Seed: 3},
			Alpha: 0.1, Out: out, CheckpointDir: c.dir, Resume: true})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Field != "resume" {
			t.Errorf("%s resume from %s: got %v, want an option error on resume", c.method, c.dir, err)
		}
	}
}
