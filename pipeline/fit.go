package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/progress"
	"github.com/vigil-ad/vigil/train"
)

// Rules are the image threshold rules Fit accepts (FitOptions.Rule);
// DefaultRule is the one used when none is given: the conformal quantile,
// whose false-positive rate is guaranteed.
var Rules = decision.Rules

const DefaultRule = "conformal"

// FitOptions configure Fit.
type FitOptions struct {
	Method string
	Config json.RawMessage // the method's configuration (nil: defaults)
	// Data selects the dataset; Dataset, when set, is used instead
	// (in-memory data such as the demo).
	Data        dataset.Source
	Dataset     *dataset.Dataset
	DataOptions dataset.Options // seed, validation fraction, pixel limit
	// Alpha is the target false-positive rate of the image threshold.
	Alpha float64
	// Rule picks the stored decision threshold: decision.Rules, "" means
	// conformal.
	Rule string
	// Calibration is "split" (score the held-out validation normals; the
	// default) or "cv:K" (cross-conformal: K folds over all training
	// normals, each scored by a model fitted without it; the final model
	// is fitted on all of them).
	Calibration string
	// Tiling, when set, fits and scores overlapping tiles of the images
	// (stored in the model: test and predict tile the same way).
	Tiling   *Tiling
	Out      string // model file
	Batch    int    // images scored at once (0: DefaultBatch)
	Progress Progress
	// DataDesc describes the data in the model's provenance (default: the
	// folder).
	DataDesc string
	// CheckpointDir keeps the per-epoch checkpoints of detectors that
	// train a network (default: Out + ".ckpt", removed after a successful
	// fit; a directory given here is kept).
	CheckpointDir string
	// Resume continues training from the checkpoints in CheckpointDir
	// (vigil fit --resume): same data, method and config, same result as
	// an uninterrupted run.
	Resume bool
}

// EpochProgress is implemented by Progress sinks that also want each
// finished training epoch (loss, validation loss, ETA) of detectors that
// train a network.
type EpochProgress interface {
	Epoch(e train.Epoch)
}

// checkpointDir is where training checkpoints go and whether Fit removes
// them after success.
func (o *FitOptions) checkpointDir() (dir string, keep bool) {
	if o.CheckpointDir != "" {
		return o.CheckpointDir, true
	}
	return o.Out + ".ckpt", false
}

// TrainStage summarises one training stage of a fit (an autoencoder, a
// teacher, each student ...) from its epoch reports.
type TrainStage struct {
	Stage           string   `json:"stage"`
	Epochs          int      `json:"epochs"`            // epochs trained in this run
	Seconds         float64  `json:"seconds"`           // wall time of those epochs
	SecondsPerEpoch float64  `json:"seconds_per_epoch"` // Seconds / Epochs
	Loss            float64  `json:"loss"`              // training loss of the last epoch
	ValLoss         *float64 `json:"val_loss,omitempty"`
}

// stageLog collects epoch reports into TrainStages, in the order stages
// start; safe for concurrent stages.
type stageLog struct {
	mu     sync.Mutex
	stages []TrainStage
	index  map[string]int
}

func (l *stageLog) add(prefix string, e train.Epoch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := prefix + e.Stage
	i, ok := l.index[name]
	if !ok {
		if l.index == nil {
			l.index = map[string]int{}
		}
		i = len(l.stages)
		l.index[name] = i
		l.stages = append(l.stages, TrainStage{Stage: name})
	}
	st := &l.stages[i]
	st.Epochs++
	st.Seconds = e.Elapsed.Seconds()
	st.SecondsPerEpoch = st.Seconds / float64(st.Epochs)
	st.Loss = e.Loss
	st.ValLoss = nil
	if !math.IsNaN(e.ValLoss) {
		v := e.ValLoss
		st.ValLoss = &v
	}
}

func (l *stageLog) list() []TrainStage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.stages)
}

// setTrainSession hands a training detector its checkpoint folder (sub,
// when not "", names a fold's own folder), the resume flag and the epoch
// progress, which log also records.
func setTrainSession(det detector.Detector, o FitOptions, sub string, prog Progress, log *stageLog) {
	tr, ok := inner(det).(detector.Trainer)
	if !ok {
		return
	}
	dir, _ := o.checkpointDir()
	prefix := ""
	if sub != "" {
		dir = filepath.Join(dir, sub)
		prefix = sub + "/"
	}
	ep, _ := prog.(EpochProgress)
	s := train.Session{CheckpointDir: dir, Resume: o.Resume, Progress: func(e train.Epoch) {
		log.add(prefix, e)
		if ep != nil {
			ep.Epoch(e)
		}
	}}
	tr.SetTrainSession(s)
}

// FitResult is what Fit did.
type FitResult struct {
	Model       string  `json:"model"`
	Method      string  `json:"method"`
	Backbone    string  `json:"backbone,omitempty"` // the backbone the fitted model uses, for feature methods
	NTrain      int     `json:"n_train"`
	NVal        int     `json:"n_val"`
	Calibration string  `json:"calibration"`
	NCalib      int     `json:"n_calibration_scores"`
	Alpha       float64 `json:"target_fpr"`
	// MinAlpha is the smallest false-positive rate the conformal rule can
	// guarantee with NCalib scores: 1/(NCalib+1).
	MinAlpha  float64  `json:"min_reachable_fpr"`
	Threshold float64  `json:"threshold"`
	Rule      string   `json:"rule"`
	Layout    string   `json:"layout,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	// Training lists the training stages of methods that train a network
	// (epochs, seconds, seconds per epoch, last losses).
	Training      []TrainStage `json:"training,omitempty"`
	DecodeSeconds float64      `json:"decode_seconds"`
	FitSeconds    float64      `json:"fit_seconds"`
	CalibSeconds  float64      `json:"calibration_seconds"`
}

// Validate checks every option that can be checked without reading data:
// the method and its configuration, its backbone, alpha, rule,
// calibration, the output path and the data paths. The error is an
// *OptionError.
func (o *FitOptions) Validate() (detector.Detector, error) {
	if err := checkAlpha(o.Alpha); err != nil {
		return nil, err
	}
	if o.Rule != "" && !slices.Contains(decision.Rules, o.Rule) {
		return nil, optErr("rule", "must be one of %v, got %q", decision.Rules, o.Rule)
	}
	if _, _, err := parseCalibration(o.Calibration); err != nil {
		return nil, err
	}
	if err := checkOutFile("out", o.Out); err != nil {
		return nil, err
	}
	if o.Tiling != nil {
		if err := o.Tiling.validate(); err != nil {
			return nil, err
		}
	}
	if o.Dataset == nil {
		if err := checkSource(o.Data); err != nil {
			return nil, err
		}
		if o.Data.IDX != "" && !o.Data.NormalClassSet {
			return nil, optErr("normal-class", "is required with --idx: the class fitted as normal")
		}
	}
	if err := checkDataOptions(o.DataOptions); err != nil {
		return nil, err
	}
	det, err := detector.New(o.Method, o.Config)
	if err != nil {
		return nil, &OptionError{Msg: err.Error()}
	}
	if c, ok := det.(detector.Checker); ok {
		if err := c.Check(); err != nil {
			return nil, &OptionError{Field: "backbone", Msg: err.Error()}
		}
	}
	if o.Resume {
		if _, ok := det.(detector.Trainer); !ok {
			return nil, optErr("resume", "method %s trains no network: nothing to resume", det.Method())
		}
		dir, _ := o.checkpointDir()
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, optErr("resume", "no checkpoint folder %s to resume from (it is written during a fit of a training method)", dir)
		}
	}
	return withTiling(det, o.Tiling), nil
}

// withTiling wraps det to work on tiles when t is set.
func withTiling(det detector.Detector, t *Tiling) detector.Detector {
	if t == nil {
		return det
	}
	return &tiled{Detector: det, t: *t}
}

// inner is the detector a tiling wraps (what the model file stores).
func inner(det detector.Detector) detector.Detector {
	if t, ok := det.(*tiled); ok {
		return t.Detector
	}
	return det
}

func checkDataOptions(o dataset.Options) error {
	if o.ValFraction != 0 && !(o.ValFraction > 0 && o.ValFraction < 1) {
		return optErr("val-fraction", "must be in (0,1), got %g", o.ValFraction)
	}
	if o.MaxPixels < 0 {
		return optErr("max-pixels", "must be positive, got %d", o.MaxPixels)
	}
	return nil
}

// parseCalibration reads "split" or "cv:K".
func parseCalibration(s string) (kind string, folds int, err error) {
	if s == "" {
		return "split", 0, nil
	}
	kind, folds, err = decision.ParseCalibration(s)
	if err != nil {
		return "", 0, &OptionError{Field: "calibration", Msg: err.Error()}
	}
	return kind, folds, nil
}

// Fit fits a detector on the training normals, calibrates its threshold
// and writes the model file atomically.
func Fit(ctx context.Context, o FitOptions) (*FitResult, error) {
	det, err := o.Validate()
	if err != nil {
		return nil, err
	}
	kind, folds, _ := parseCalibration(o.Calibration)
	prog := progressOr(o.Progress)
	var stages stageLog
	if kind == "cv" {
		setTrainSession(det, o, "final", prog, &stages)
	} else {
		setTrainSession(det, o, "", prog, &stages)
	}
	ds := o.Dataset
	if ds == nil {
		opt := o.DataOptions
		opt.SkipTest = true
		if ds, err = dataset.Load(o.Data, opt); err != nil {
			return nil, err
		}
	}
	if len(ds.Train) == 0 {
		return nil, fmt.Errorf("dataset %s has no training images", ds.Name)
	}
	res := &FitResult{Model: o.Out, Method: det.Method(), Alpha: o.Alpha, Calibration: o.Calibration, Layout: ds.Layout}
	if res.Calibration == "" {
		res.Calibration = "split"
	}
	res.Warnings = append(res.Warnings, ds.Warnings...)

	// Training images are held (at the detector's working size); in
	// cross-conformal mode the validation images join them.
	fitSamples := ds.Train
	if kind == "cv" {
		fitSamples = append(slices.Clone(ds.Train), ds.Val...)
	}
	var imgs []*imageio.Image
	var hashes []string
	if sf, ok := det.(detector.StreamFitter); ok && kind != "cv" {
		// Decode batch by batch as the detector asks: one batch of training
		// images in memory (cross-conformal needs them all, several times).
		t1 := time.Now()
		hashes, res.DecodeSeconds, err = fitStream(ctx, det, sf, fitSamples, o.DataOptions.MaxPixels, prog)
		if err != nil {
			return nil, err
		}
		res.FitSeconds = time.Since(t1).Seconds() - res.DecodeSeconds
	} else {
		t0 := time.Now()
		imgs, hashes, err = decodeAll(ctx, det, fitSamples, o.DataOptions.MaxPixels, prog)
		if err != nil {
			return nil, err
		}
		res.DecodeSeconds = time.Since(t0).Seconds()
		t1 := time.Now()
		if err := fitDetector(ctx, det, imgs, prog); err != nil {
			return nil, err
		}
		res.FitSeconds = time.Since(t1).Seconds()
	}
	res.Backbone = backboneOf(inner(det))

	t2 := time.Now()
	cal := decision.NewCalibrator(o.Alpha, o.DataOptions.Seed)
	switch kind {
	case "cv":
		if err := crossCalibrate(ctx, o, fitSamples, imgs, folds, cal, prog, &stages); err != nil {
			return nil, err
		}
		res.NTrain, res.NVal = len(fitSamples), 0
	default:
		if len(ds.Val) == 0 {
			return nil, fmt.Errorf("dataset %s: no validation images to calibrate the threshold on (use --calibration cv:K)", ds.Name)
		}
		var bad []string
		err := stream(ctx, det, ds.Val, streamOptions{batch: o.Batch, maxPixels: o.DataOptions.MaxPixels, progress: prog, step: "calibrating"},
			func(r *ImageResult) error {
				if r.Err != nil {
					bad = append(bad, fmt.Sprintf("%s: %v", r.Name, r.Err))
					return nil
				}
				hashes = append(hashes, r.SHA256)
				return cal.Add(r.Score, r.Map)
			})
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			return nil, fmt.Errorf("calibration: %d validation image(s) failed: %s", len(bad), joinNames(bad, 5))
		}
		res.NTrain, res.NVal = len(ds.Train), len(ds.Val)
	}
	calib, err := cal.Finish()
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	rule := o.Rule
	if rule == "" {
		rule = DefaultRule
	}
	if err := calib.UseRule(rule); err != nil {
		return nil, err
	}
	res.CalibSeconds = time.Since(t2).Seconds()
	res.NCalib = calib.NVal
	res.MinAlpha = 1 / float64(calib.NVal+1)
	res.Threshold, res.Rule = calib.Threshold, calib.Method
	if calib.Warning != "" {
		res.Warnings = append(res.Warnings, calib.Warning)
	}

	slices.Sort(hashes)
	desc := o.DataDesc
	if desc == "" {
		desc = sourceDesc(o.Data)
	}
	prov := Provenance{Data: desc, Layout: ds.Layout, Split: ds.Split, Calibration: res.Calibration,
		NTrain: res.NTrain, NVal: res.NVal, Fitted: slices.Compact(hashes), Tiling: o.Tiling}
	pb, err := json.Marshal(prov)
	if err != nil {
		return nil, err
	}
	cb, err := json.Marshal(calib)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := detector.Save(o.Out, inner(det), detector.Meta{Calibration: cb, Provenance: pb}); err != nil {
		return nil, err
	}
	res.Training = stages.list()
	if _, ok := inner(det).(detector.Trainer); ok {
		// The model is safely written: its default checkpoints have done
		// their job (a folder the user named is theirs to keep).
		if dir, keep := o.checkpointDir(); !keep {
			if err := os.RemoveAll(dir); err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("could not remove the checkpoints in %s: %v", dir, err))
			}
		}
	}
	return res, nil
}

func fitDetector(ctx context.Context, det detector.Detector, imgs []*imageio.Image, prog Progress) error {
	prog.Begin("fitting "+det.Method(), len(imgs))
	defer prog.End()
	fitCtx := progress.With(ctx, func(done, total int) { prog.Set(done, total) })
	if err := det.Fit(fitCtx, imgs); err != nil {
		return fmt.Errorf("fitting %s: %w", det.Method(), err)
	}
	return nil
}

// backboneOf is the "backbone" of a detector's configuration ("" for
// methods without one), so Fit can say which backbone was used.
func backboneOf(det detector.Detector) string {
	b, err := json.Marshal(det.Config())
	if err != nil {
		return ""
	}
	var c struct {
		Backbone string `json:"backbone"`
	}
	json.Unmarshal(b, &c)
	return c.Backbone
}

// fitStream fits a StreamFitter, decoding each batch it asks for (resized
// to the working size) and recording the images' SHA-256s; it returns the
// hashes and the seconds spent decoding.
func fitStream(ctx context.Context, det detector.Detector, sf detector.StreamFitter, samples []dataset.Sample, maxPixels int, prog Progress) ([]string, float64, error) {
	hashes := make([]string, 0, len(samples))
	var decode time.Duration
	prog.Begin("fitting "+det.Method(), len(samples))
	defer prog.End()
	load := func(lo, hi int) ([]*imageio.Image, error) {
		if lo < 0 || hi > len(samples) || lo > hi {
			return nil, fmt.Errorf("training images %d..%d asked of %d", lo, hi, len(samples))
		}
		t := time.Now()
		imgs, hs, err := decodeAll(ctx, det, samples[lo:hi], maxPixels, noProgress{})
		decode += time.Since(t)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, hs...)
		prog.Set(hi, len(samples))
		return imgs, nil
	}
	if err := sf.FitStream(ctx, len(samples), load); err != nil {
		return nil, 0, fmt.Errorf("fitting %s: %w", det.Method(), err)
	}
	return hashes, decode.Seconds(), nil
}

// workingSize is the size the detector resizes every image to, (0,0) for
// native size.
func workingSize(det detector.Detector) (h, w int) {
	if s, ok := det.(detector.InputSizer); ok {
		return s.InputSize()
	}
	return 0, 0
}

// decodeAll decodes samples in parallel, resized to the detector's working
// size, and returns their SHA-256s. Any failure is an error naming the
// image: a model is never fitted on a silently shortened training set.
func decodeAll(ctx context.Context, det detector.Detector, samples []dataset.Sample, maxPixels int, prog Progress) ([]*imageio.Image, []string, error) {
	h, w := workingSize(det)
	imgs := make([]*imageio.Image, len(samples))
	hashes := make([]string, len(samples))
	errs := make([]error, len(samples))
	prog.Begin("decoding", len(samples))
	defer prog.End()
	var next, done atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(samples)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(samples) {
					return
				}
				ld, err := samples[i].Load(imageio.Options{MaxPixels: maxPixels})
				if err != nil {
					errs[i] = err
					failed.Store(true)
					return
				}
				img := ld.Image
				if h > 0 && w > 0 && (img.H != h || img.W != w) {
					img = imageio.Resize(img, h, w)
				}
				imgs[i], hashes[i] = img, ld.SHA256
				prog.Set(int(done.Add(1)), len(samples))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("training image %s: %w", samples[i].Name, err)
		}
	}
	return imgs, hashes, nil
}

// crossCalibrate fits one model per fold on the other folds and feeds the
// held-out fold's scores and maps to cal (cross-conformal calibration).
// Folds are a seeded permutation of the samples.
func crossCalibrate(ctx context.Context, o FitOptions, samples []dataset.Sample, imgs []*imageio.Image, k int, cal *decision.Calibrator, prog Progress, stages *stageLog) error {
	n := len(imgs)
	if n < 2*k {
		return fmt.Errorf("cross-conformal calibration with %d folds needs at least %d training images, have %d", k, 2*k, n)
	}
	fold := foldsOf(n, k, o.DataOptions.Seed)
	for f := 0; f < k; f++ {
		var train, held []*imageio.Image
		var heldIdx []int
		for i, img := range imgs {
			if fold[i] == f {
				held = append(held, img)
				heldIdx = append(heldIdx, i)
			} else {
				train = append(train, img)
			}
		}
		det, err := detector.New(o.Method, o.Config)
		if err != nil {
			return err
		}
		det = withTiling(det, o.Tiling)
		setTrainSession(det, o, fmt.Sprintf("fold-%d", f+1), prog, stages)
		prog.Begin(fmt.Sprintf("fold %d/%d: fitting", f+1, k), len(train))
		err = det.Fit(progress.With(ctx, func(d, t int) { prog.Set(d, t) }), train)
		prog.End()
		if err != nil {
			return fmt.Errorf("fold %d: fitting: %w", f+1, err)
		}
		batch := o.Batch
		if batch <= 0 {
			batch = DefaultBatch
		}
		prog.Begin(fmt.Sprintf("fold %d/%d: scoring", f+1, k), len(held))
		for lo := 0; lo < len(held); lo += batch {
			hi := min(lo+batch, len(held))
			out, err := det.Score(ctx, held[lo:hi])
			if err == nil && len(out) != hi-lo {
				err = fmt.Errorf("%d results for %d images", len(out), hi-lo)
			}
			if err != nil {
				prog.End()
				return fmt.Errorf("fold %d: scoring: %w", f+1, err)
			}
			for j, r := range out {
				if err := checkResult(r, held[lo+j]); err != nil {
					prog.End()
					return fmt.Errorf("fold %d: %s: %w", f+1, samples[heldIdx[lo+j]].Name, err)
				}
				if err := cal.Add(r.Score, r.Map); err != nil {
					prog.End()
					return err
				}
			}
			prog.Set(hi, len(held))
		}
		prog.End()
	}
	return nil
}

// foldsOf assigns each of n items to one of k folds of near-equal size, in
// a seeded random order.
func foldsOf(n, k int, seed uint64) []int {
	perm := seededPerm(n, seed)
	fold := make([]int, n)
	for r, i := range perm {
		fold[i] = r % k
	}
	return fold
}
