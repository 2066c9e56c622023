package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

// Task is what a detector trains.
type Task interface {
	// Module's trainable params are optimised, its mode is switched with
	// Train(true/false), and its params and buffers are checkpointed.
	Module() nn.Module
	// Loss returns the scalar loss of one batch, recording the graph when
	// gradients are enabled. Any randomness must come from rng (a dropout
	// layer's RNG included), so that a resumed run is bit-exact.
	Loss(b *Batch, rng *rand.Rand) *nn.Var
}

// EpochEnder is a Task with work to do after each epoch's training steps,
// before the validation loss and the checkpoint (e.g. Deep SVDD's radius
// update). epoch is 1-based.
type EpochEnder interface {
	EndEpoch(epoch int) error
}

// Stateful is a Task with state outside its module's params and buffers
// (a centre, a radius) that must be checkpointed for an exact resume and
// kept with the best weights.
type Stateful interface {
	TrainState() []safetensors.Tensor
	LoadTrainState(map[string]safetensors.Tensor) error
}

// Fingerprinter is a Task whose own hyper-parameters (a loss type, a
// margin) change what is trained; a checkpoint written under another
// fingerprint is refused on resume.
type Fingerprinter interface {
	Fingerprint() string
}

// Report summarises a Fit.
type Report struct {
	Epochs    int     // epochs completed, resumed ones included
	BestEpoch int     // the epoch whose weights the module holds (1-based)
	Loss      float64 // training loss of BestEpoch
	ValLoss   float64 // validation loss of BestEpoch; NaN without a validation set
	// Seconds is the wall time of this call; SecondsPerEpoch averages the
	// epochs trained in it (0 when none was).
	Seconds, SecondsPerEpoch float64
	Stopped                  string  // "epochs" | "early-stopping" | "resumed-finished"
	History                  []Epoch // every completed epoch, resumed ones included (Elapsed and ETA zero for those)
}

// CheckpointPath is where Fit keeps stage's checkpoint in dir: the stage
// name with every character outside [A-Za-z0-9._-] replaced by '_', plus
// ".ckpt".
func CheckpointPath(dir, stage string) string {
	b := []byte(stage)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return filepath.Join(dir, string(b)+".ckpt")
}

// StepTask is a task whose batches are not crops of a Set: it draws its
// own (patch triplets from a pool, crops with a frozen network's outputs
// as targets) and is run by FitSteps. EpochEnder, Stateful and
// Fingerprinter apply to it as to a Task.
type StepTask interface {
	// Module is as for Task.
	Module() nn.Module
	// StepLoss draws one training batch from rng and returns its scalar
	// loss, recording the graph. Any randomness must come from rng, so
	// that a resumed run is bit-exact.
	StepLoss(rng *rand.Rand) *nn.Var
	// Data lists everything the batches are drawn from (images,
	// precomputed targets, a frozen network's weights); it is hashed into
	// the checkpoint's fingerprint, so a resume on other data is refused.
	Data() []*tensor.Tensor
}

// Fit trains task on trainSet (validation loss on valSet, which may be
// nil) and leaves the best-validation (or, without validation, the last)
// weights in the module, which it returns in evaluation mode. stage names the checkpoint file and the progress
// lines. Each epoch draws cfg.StepsPerEpoch batches of cfg.BatchSize
// crops, visiting the images in a shuffled order; its randomness comes
// from a generator seeded by (cfg.Seed, stage, epoch), so a resumed run
// takes exactly the steps the uninterrupted one would have. The
// validation batches (every validation image tiled by patch-sized crops,
// unaugmented) are the same every epoch and scored with gradients off and
// the module in evaluation mode. A checkpoint is written atomically after
// every epoch when sess.CheckpointDir is set. Cancelling ctx stops
// between steps with ctx.Err(); the last epoch's checkpoint stays.
func Fit(ctx context.Context, stage string, task Task, trainSet, valSet *Set, cfg Config, sess Session) (Report, error) {
	var batch Batch
	r := runner{stage: stage, task: task, cfg: cfg, sess: sess, hasVal: valSet != nil,
		check: func() error { return checkSets(trainSet, valSet, cfg.Patch) },
		stepsPerEpoch: func() int {
			if cfg.StepsPerEpoch > 0 {
				return cfg.StepsPerEpoch
			}
			crops := 0
			for i := range trainSet.Len() {
				crops += trainSet.tileCount(i, cfg.Patch)
			}
			return (crops + cfg.BatchSize - 1) / cfg.BatchSize
		},
		epoch: func(rng *rand.Rand) func() *nn.Var {
			order := shuffler{rng: rng, n: trainSet.Len()}
			return func() *nn.Var {
				trainSet.Crops(rng, order.next(cfg.BatchSize), cfg.Patch, cfg.Augment, &batch)
				return task.Loss(&batch, rng)
			}
		},
		val: func() (float64, error) {
			return valLoss(task, valSet, cfg, stageStream(stage), &batch)
		},
		data: func() string { return dataHash(trainSet, valSet) },
	}
	return r.run(ctx)
}

// FitSteps trains a StepTask as Fit trains a Task, with the same
// optimiser, learning-rate schedule, per-epoch seeded generators,
// checkpoints, fingerprint, resume, progress and report: each epoch takes
// cfg.StepsPerEpoch (which must be set) steps of task.StepLoss. There is
// no validation loss, so the module keeps the last epoch's weights and
// Patience has no effect; BatchSize, Patch, Augment and ValFraction are
// the task's business. The fingerprint hashes task.Data() in place of
// the images.
func FitSteps(ctx context.Context, stage string, task StepTask, cfg Config, sess Session) (Report, error) {
	r := runner{stage: stage, task: task, cfg: cfg, sess: sess,
		check: func() error {
			if cfg.StepsPerEpoch < 1 {
				return fmt.Errorf("train.steps_per_epoch: must be >= 1 for a task that draws its own batches, got %d", cfg.StepsPerEpoch)
			}
			return nil
		},
		stepsPerEpoch: func() int { return cfg.StepsPerEpoch },
		epoch: func(rng *rand.Rand) func() *nn.Var {
			return func() *nn.Var { return task.StepLoss(rng) }
		},
		data: func() string { return tensorHash(task.Data()) },
	}
	return r.run(ctx)
}

// trainee is what a runner optimises: a Task or a StepTask.
type trainee interface{ Module() nn.Module }

// runner is the training loop Fit and FitSteps share; the fields say
// where the batches come from, the rest (optimiser, schedule, early
// stopping, checkpoints, resume, progress, report) is common.
type runner struct {
	stage  string
	task   trainee
	cfg    Config
	sess   Session
	hasVal bool
	check  func() error // after cfg.Validate, before anything is touched
	// stepsPerEpoch is called after check.
	stepsPerEpoch func() int
	// epoch returns the step function of one epoch, whose randomness all
	// comes from the epoch's generator rng; a step returns the loss of one
	// batch with the graph recorded.
	epoch func(rng *rand.Rand) func() *nn.Var
	val   func() (float64, error) // the validation loss, when hasVal
	data  func() string           // a hash of the data, for the fingerprint
}

func (r *runner) run(ctx context.Context) (Report, error) {
	start := time.Now()
	stage, task, cfg, sess := r.stage, r.task, r.cfg, r.sess
	rep := Report{ValLoss: math.NaN()}
	fail := func(format string, a ...any) (Report, error) {
		return rep, fmt.Errorf("train %s: %s", stage, fmt.Sprintf(format, a...))
	}
	if stage == "" {
		return rep, errors.New("train: empty stage name")
	}
	if err := cfg.Validate(); err != nil {
		return fail("%v", err)
	}
	if err := r.check(); err != nil {
		return fail("%v", err)
	}
	m := task.Module()
	defer m.Train(false) // trained: leave it ready to score
	var params []*nn.Param
	for _, p := range m.Params() {
		if p.RequiresGrad {
			params = append(params, p)
		}
	}
	if len(params) == 0 {
		return fail("the module has no trainable parameters")
	}
	opt := newOptimizer(cfg, params)
	steps := r.stepsPerEpoch()
	stream := stageStream(stage)
	st := runState{bestVal: math.Inf(1)}
	ckPath := ""
	var fp map[string]string // hashes all the data: only when checkpointing
	if sess.CheckpointDir != "" {
		fp = fingerprint(stage, task, r.data(), cfg)
		if err := os.MkdirAll(sess.CheckpointDir, 0o755); err != nil {
			return fail("checkpoint directory: %v", err)
		}
		ckPath = CheckpointPath(sess.CheckpointDir, stage)
		if sess.Resume {
			found, err := st.load(ckPath, fp, cfg.Epochs, task, opt)
			if err != nil {
				return fail("%v", err)
			}
			if found && st.finished {
				rep = st.report(r.hasVal)
				rep.Stopped = "resumed-finished"
				rep.Seconds = time.Since(start).Seconds()
				return rep, nil
			}
		}
	}

	trained := 0
	for epoch := st.epoch + 1; epoch <= cfg.Epochs; epoch++ {
		m.Train(true)
		rng := rand.New(rand.NewPCG(cfg.Seed, (stream^epochStream)+uint64(epoch)*0x9e3779b97f4a7c15))
		step := r.epoch(rng)
		var sum float64
		for s := range steps {
			if err := ctx.Err(); err != nil {
				rep = st.report(r.hasVal)
				return rep, err
			}
			opt.SetLR(learningRate(cfg, epoch, st.step, steps))
			nn.ZeroGrad(m.Params())
			loss := step()
			l := float64(loss.Item())
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return fail("epoch %d step %d: training loss is %v (try a lower train.lr)", epoch, s+1, l)
			}
			nn.Backward(loss)
			opt.Step()
			st.step++
			sum += l
		}
		nn.ZeroGrad(m.Params())
		if e, ok := task.(EpochEnder); ok {
			if err := e.EndEpoch(epoch); err != nil {
				return fail("epoch %d: %v", epoch, err)
			}
		}
		ep := Epoch{Stage: stage, Epoch: epoch, Epochs: cfg.Epochs, Loss: sum / float64(steps), ValLoss: math.NaN(), LR: opt.LR()}
		if r.hasVal {
			v, err := r.val()
			if err != nil {
				return fail("epoch %d: %v", epoch, err)
			}
			ep.ValLoss = v
		}
		st.history = append(st.history, ep)
		st.epoch = epoch
		stop := epoch == cfg.Epochs
		st.stopped = "epochs"
		if !r.hasVal {
			st.bestEpoch = epoch
		} else if ep.ValLoss < st.bestVal {
			st.bestVal, st.bestEpoch, st.bad = ep.ValLoss, epoch, 0
			st.best = snapshot(task)
		} else {
			st.bad++
			if cfg.Patience > 0 && st.bad >= cfg.Patience {
				stop, st.stopped = true, "early-stopping"
			}
		}
		if stop {
			if st.best != nil {
				if err := st.best.restore(task); err != nil {
					return fail("restoring the best weights: %v", err)
				}
			}
			st.finished = true
		}
		if ckPath != "" {
			if err := st.save(ckPath, fp, task, opt, cfg.Seed); err != nil {
				return fail("%v", err)
			}
		}
		trained++
		elapsed := time.Since(start)
		ep.Elapsed = elapsed
		if !stop {
			ep.ETA = time.Duration(float64(elapsed) / float64(trained) * float64(cfg.Epochs-epoch))
		}
		if sess.Progress != nil {
			sess.Progress(ep)
		}
		if stop {
			break
		}
	}
	rep = st.report(r.hasVal)
	rep.Stopped = st.stopped
	rep.Seconds = time.Since(start).Seconds()
	if trained > 0 {
		rep.SecondsPerEpoch = rep.Seconds / float64(trained)
	}
	return rep, nil
}

// checkSets checks that the sets can be cropped at patch and agree.
func checkSets(trainSet, valSet *Set, patch int) error {
	if trainSet == nil || trainSet.Len() == 0 {
		return errors.New("no training images")
	}
	for _, s := range []*Set{trainSet, valSet} {
		if s == nil {
			continue
		}
		what := "training"
		if s == valSet {
			what = "validation"
		}
		if s.c != trainSet.c {
			return fmt.Errorf("validation images have %d channels, training images %d", s.c, trainSet.c)
		}
		if patch > 0 {
			if h, w := s.minSize(); patch > h || patch > w {
				return fmt.Errorf("train.patch %d is larger than the smallest %s image (%dx%d)", patch, what, w, h)
			}
			continue
		}
		h, w, ok := s.sameSize()
		th, tw, _ := trainSet.sameSize()
		if !ok || h != th || w != tw {
			return fmt.Errorf("train.patch 0 (whole images) needs one image size, but the %s images differ (%dx%d vs %dx%d); set train.patch or resize", what, tw, th, w, h)
		}
	}
	return nil
}

func newOptimizer(cfg Config, params []*nn.Param) optim.Optimizer {
	switch cfg.Optimizer {
	case "sgd":
		return optim.NewSGD(params, cfg.LR, cfg.Momentum, cfg.WeightDecay, false)
	case "adamw":
		return optim.NewAdamW(params, cfg.LR, cfg.WeightDecay)
	}
	return optim.NewAdam(params, cfg.LR, cfg.WeightDecay)
}

// learningRate is the scheduled rate of global step (0-based) in epoch
// (1-based): cosine anneals per step over the whole run (to MinLR), step
// decays per epoch.
func learningRate(cfg Config, epoch, step, stepsPerEpoch int) float64 {
	switch cfg.Schedule {
	case "cosine":
		return optim.Cosine{Base: cfg.LR, Min: cfg.MinLR, Total: cfg.Epochs * stepsPerEpoch}.LR(step)
	case "step":
		every := cfg.StepEpochs
		if every == 0 {
			every = max(1, (cfg.Epochs+2)/3)
		}
		return optim.StepLR{Base: cfg.LR, StepSize: every, Gamma: cfg.Gamma}.LR(epoch - 1)
	}
	return cfg.LR
}

// shuffler hands out image indices in consecutive seeded permutations.
type shuffler struct {
	rng  *rand.Rand
	n    int
	perm []int
	buf  []int
}

func (s *shuffler) next(k int) []int {
	s.buf = s.buf[:0]
	for range k {
		if len(s.perm) == 0 {
			s.perm = s.rng.Perm(s.n)
		}
		s.buf = append(s.buf, s.perm[0])
		s.perm = s.perm[1:]
	}
	return s.buf
}

// valLoss is the crop-weighted mean loss over the validation tiles, with
// gradients off, the module in evaluation mode and a generator reseeded
// identically every epoch.
func valLoss(task Task, valSet *Set, cfg Config, stream uint64, batch *Batch) (float64, error) {
	m := task.Module()
	m.Train(false) // the next epoch switches it back
	rng := rand.New(rand.NewPCG(cfg.Seed, stream^valStream))
	var ts []tile
	var sum float64
	n := 0
	var err error
	flush := func() {
		if len(ts) == 0 || err != nil {
			return
		}
		valSet.fillTiles(ts, cfg.Patch, batch)
		l := float64(task.Loss(batch, rng).Item())
		if math.IsNaN(l) || math.IsInf(l, 0) {
			err = fmt.Errorf("validation loss is %v", l)
		}
		sum += l * float64(len(ts))
		n += len(ts)
		ts = ts[:0]
	}
	nn.NoGrad(func() {
		for i := range valSet.Len() {
			h, w := valSet.Size(i)
			ys, xs := tiles(h, w, cfg.Patch)
			for _, y := range ys {
				for _, x := range xs {
					ts = append(ts, tile{i, y, x})
					if len(ts) == cfg.BatchSize {
						flush()
					}
				}
			}
		}
		flush()
	})
	if err != nil {
		return 0, err
	}
	return sum / float64(n), nil
}

// stageStream separates the random streams of stages that share a seed
// (five students must not see the same crops).
func stageStream(stage string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(stage))
	return h.Sum64()
}

// weights is a copy of a task's module state (and its Stateful state).
type weights struct {
	state []safetensors.Tensor // params then buffers, as nn.StateTensors
	task  []safetensors.Tensor
}

func snapshot(task trainee) *weights {
	w := &weights{state: nn.StateTensors(task.Module())} // StateTensors copies the values
	if s, ok := task.(Stateful); ok {
		for _, t := range s.TrainState() {
			t.Data = slices.Clone(t.Data)
			w.task = append(w.task, t)
		}
	}
	return w
}

func (w *weights) restore(task trainee) error {
	f := &safetensors.File{Tensors: map[string]safetensors.Tensor{}}
	for _, t := range w.state {
		f.Tensors[t.Name] = t
	}
	if err := nn.LoadState(f, task.Module(), "", true); err != nil {
		return err
	}
	if s, ok := task.(Stateful); ok {
		return s.LoadTrainState(tensorMap(w.task))
	}
	return nil
}

func tensorMap(ts []safetensors.Tensor) map[string]safetensors.Tensor {
	m := make(map[string]safetensors.Tensor, len(ts))
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

// runState is everything about a run that a checkpoint must carry beyond
// the module and optimiser.
type runState struct {
	epoch, step int
	bestVal     float64
	bestEpoch   int
	bad         int // epochs since the best validation loss
	best        *weights
	history     []Epoch
	finished    bool
	stopped     string
}

func (st *runState) report(hasVal bool) Report {
	r := Report{Epochs: st.epoch, BestEpoch: st.bestEpoch, ValLoss: math.NaN(), Stopped: st.stopped,
		History: slices.Clone(st.history)}
	if st.bestEpoch > 0 {
		e := st.history[st.bestEpoch-1]
		r.Loss = e.Loss
		if hasVal {
			r.ValLoss = e.ValLoss
		}
	}
	return r
}

// Checkpoint layout: the module and optimiser as optim.SaveCheckpoint
// writes them; extra metadata for the fingerprint and the run state;
// extra tensors "best.<name>" (best weights), "task.<name>" (the task's
// current Stateful state) and "besttask.<name>" (its state at the best
// epoch).
const ckFormat = "vigil-train/1"

func (st *runState) save(path string, fp map[string]string, task trainee, opt optim.Optimizer, seed uint64) error {
	meta := map[string]string{"train_format": ckFormat}
	for k, v := range fp {
		meta[k] = v
	}
	meta["best_val"] = fmtFloat(st.bestVal)
	meta["best_epoch"] = strconv.Itoa(st.bestEpoch)
	meta["bad_epochs"] = strconv.Itoa(st.bad)
	meta["finished"] = strconv.FormatBool(st.finished)
	meta["stopped"] = st.stopped
	hist := make([]string, len(st.history))
	for i, e := range st.history {
		hist[i] = fmtFloat(e.Loss) + "," + fmtFloat(e.ValLoss) + "," + fmtFloat(e.LR)
	}
	meta["history"] = strings.Join(hist, ";")
	ts := map[string]safetensors.Tensor{}
	add := func(prefix string, list []safetensors.Tensor) {
		for _, t := range list {
			ts[prefix+t.Name] = t
		}
	}
	if st.best != nil {
		add("best.", st.best.state)
		add("besttask.", st.best.task)
	}
	if s, ok := task.(Stateful); ok {
		add("task.", s.TrainState())
	}
	err := optim.SaveCheckpoint(path, task.Module(), opt, &optim.Checkpoint{Epoch: st.epoch, Step: st.step, Seed: seed, Meta: meta, Tensors: ts})
	if err != nil {
		return fmt.Errorf("saving checkpoint: %w", err)
	}
	return nil
}

// load restores st, the module, the optimiser and the task state from the
// checkpoint at path, after checking it was written by the same stage,
// config, model and data. A missing file is not an error (found false):
// the stage starts from scratch.
func (st *runState) load(path string, fp map[string]string, epochs int, task trainee, opt optim.Optimizer) (found bool, err error) {
	f, err := safetensors.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading checkpoint: %w", err)
	}
	wrap := func(err error) error {
		return fmt.Errorf("checkpoint %s: %w (delete it or run without resuming)", path, err)
	}
	meta := map[string]string{}
	for k, v := range f.Metadata {
		if name, ok := strings.CutPrefix(k, "extra."); ok {
			meta[name] = v
		}
	}
	if meta["train_format"] != ckFormat {
		return false, wrap(fmt.Errorf("not a training checkpoint of this version (format %q)", meta["train_format"]))
	}
	if err := compareFingerprint(meta, fp); err != nil {
		return false, wrap(err)
	}
	// Parse everything before the module is touched.
	var ns runState
	ns.bestVal, err = strconv.ParseFloat(meta["best_val"], 64)
	if err != nil {
		return false, wrap(fmt.Errorf("bad best_val %q", meta["best_val"]))
	}
	ns.bestEpoch, err = strconv.Atoi(meta["best_epoch"])
	if err != nil {
		return false, wrap(fmt.Errorf("bad best_epoch %q", meta["best_epoch"]))
	}
	ns.bad, err = strconv.Atoi(meta["bad_epochs"])
	if err != nil {
		return false, wrap(fmt.Errorf("bad bad_epochs %q", meta["bad_epochs"]))
	}
	ns.finished = meta["finished"] == "true"
	ns.stopped = meta["stopped"]
	if h := meta["history"]; h != "" {
		for i, row := range strings.Split(h, ";") {
			var v [3]float64
			parts := strings.Split(row, ",")
			if len(parts) != 3 {
				return false, wrap(fmt.Errorf("bad history row %d %q", i+1, row))
			}
			for j, p := range parts {
				if v[j], err = strconv.ParseFloat(p, 64); err != nil {
					return false, wrap(fmt.Errorf("bad history row %d %q", i+1, row))
				}
			}
			ns.history = append(ns.history, Epoch{Stage: fp["stage"], Epoch: i + 1, Epochs: epochs, Loss: v[0], ValLoss: v[1], LR: v[2]})
		}
	}
	ck := &optim.Checkpoint{}
	if err := optim.LoadCheckpoint(path, task.Module(), opt, ck); err != nil {
		return false, err
	}
	if len(ns.history) != ck.Epoch || ns.bestEpoch > ck.Epoch {
		return false, wrap(fmt.Errorf("history of %d epochs, best epoch %d, for %d epochs done", len(ns.history), ns.bestEpoch, ck.Epoch))
	}
	ns.epoch, ns.step = ck.Epoch, ck.Step
	var best, bestTask, cur []safetensors.Tensor
	for _, k := range slices.Sorted(maps.Keys(ck.Tensors)) {
		t := ck.Tensors[k]
		switch {
		case strings.HasPrefix(k, "best."):
			t.Name = k[len("best."):]
			best = append(best, t)
		case strings.HasPrefix(k, "besttask."):
			t.Name = k[len("besttask."):]
			bestTask = append(bestTask, t)
		case strings.HasPrefix(k, "task."):
			t.Name = k[len("task."):]
			cur = append(cur, t)
		}
	}
	if best != nil {
		// Keep the module's own order, so a later save writes the same file.
		order := map[string]int{}
		for i, t := range nn.StateTensors(task.Module()) {
			order[t.Name] = i
		}
		slices.SortFunc(best, func(a, b safetensors.Tensor) int { return order[a.Name] - order[b.Name] })
		ns.best = &weights{state: best, task: bestTask}
	}
	if s, ok := task.(Stateful); ok {
		if err := s.LoadTrainState(tensorMap(cur)); err != nil {
			return false, wrap(fmt.Errorf("task state: %w", err))
		}
	}
	*st = ns
	return true, nil
}

// fingerprint describes what a checkpoint must match to be resumed: the
// stage, the training config, the model's tensor names and shapes, the
// task's own fingerprint and data, a hash of what it trains on.
func fingerprint(stage string, task trainee, data string, cfg Config) map[string]string {
	c, _ := json.Marshal(cfg) // a struct of numbers, strings and bools: cannot fail
	var model []string
	for _, t := range nn.StateTensors(task.Module()) {
		model = append(model, fmt.Sprintf("%s%v", t.Name, t.Shape))
	}
	fp := map[string]string{"stage": stage, "config": string(c), "model": strings.Join(model, ";"), "data": data}
	if f, ok := task.(Fingerprinter); ok {
		fp["task"] = f.Fingerprint()
	}
	return fp
}

// hasher hashes sizes and float32 values in a fixed byte order.
type hasher struct {
	h hash.Hash
	b [8]byte
}

func newHasher() *hasher { return &hasher{h: sha256.New()} }

func (h *hasher) int(v int) {
	binary.LittleEndian.PutUint64(h.b[:], uint64(v))
	h.h.Write(h.b[:])
}

func (h *hasher) floats(v []float32) {
	buf := make([]byte, 4*len(v))
	for j, x := range v {
		binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
	}
	h.h.Write(buf)
}

func (h *hasher) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }

func dataHash(sets ...*Set) string {
	h := newHasher()
	for _, s := range sets {
		if s == nil {
			h.int(-1)
			continue
		}
		h.int(s.Len())
		for i, m := range s.imgs {
			h.int(m.C)
			h.int(m.H)
			h.int(m.W)
			if s.labels != nil {
				h.int(s.labels[i])
			}
			h.floats(m.Pix)
		}
	}
	return h.sum()
}

// tensorHash hashes a StepTask's data: every tensor's shape and values.
func tensorHash(ts []*tensor.Tensor) string {
	h := newHasher()
	h.int(len(ts))
	for _, t := range ts {
		if t == nil {
			h.int(-1)
			continue
		}
		h.int(len(t.Shape))
		for _, d := range t.Shape {
			h.int(d)
		}
		h.floats(t.Data)
	}
	return h.sum()
}

// compareFingerprint names the first thing that differs between a
// checkpoint's metadata and this run.
func compareFingerprint(meta, fp map[string]string) error {
	if meta["stage"] != fp["stage"] {
		return fmt.Errorf("written for stage %q, not %q", meta["stage"], fp["stage"])
	}
	if meta["config"] != fp["config"] {
		return configDiff(meta["config"], fp["config"])
	}
	if meta["model"] != fp["model"] {
		a, b := strings.Split(meta["model"], ";"), strings.Split(fp["model"], ";")
		for i := range max(len(a), len(b)) {
			x, y := "(none)", "(none)"
			if i < len(a) {
				x = a[i]
			}
			if i < len(b) {
				y = b[i]
			}
			if x != y {
				return fmt.Errorf("written for another model: tensor %d is %s there, %s here", i, x, y)
			}
		}
	}
	if meta["task"] != fp["task"] {
		return fmt.Errorf("written with method settings %q, this run has %q", meta["task"], fp["task"])
	}
	if meta["data"] != fp["data"] {
		return errors.New("written for other training or validation data")
	}
	return nil
}

// configDiff names the first differing key of two JSON-encoded Configs.
func configDiff(old, cur string) error {
	var a, b map[string]any
	if json.Unmarshal([]byte(old), &a) != nil || json.Unmarshal([]byte(cur), &b) != nil {
		return fmt.Errorf("written with another training config")
	}
	fa, fb := map[string]string{}, map[string]string{}
	flatten("train.", a, fa)
	flatten("train.", b, fb)
	keys := slices.Collect(maps.Keys(fa))
	for k := range fb {
		if _, ok := fa[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if fa[k] != fb[k] {
			return fmt.Errorf("written with %s = %s, this run has %s", k, orNone(fa[k]), orNone(fb[k]))
		}
	}
	return fmt.Errorf("written with another training config")
}

func flatten(prefix string, v map[string]any, out map[string]string) {
	for k, x := range v {
		if sub, ok := x.(map[string]any); ok {
			flatten(prefix+k+".", sub, out)
			continue
		}
		j, _ := json.Marshal(x)
		out[prefix+k] = string(j)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
