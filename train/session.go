// Package train is the training pipeline shared by every detector that
// trains a network: images decoded once, seeded mini-batches of random
// crops with augmentations, validation loss on held-out normal images,
// early stopping, a learning-rate schedule, an atomic checkpoint each
// epoch and bit-exact resumption.
//
// A detector holds a Config under its config key "train", builds a Set
// from its working-size images, splits off validation images and hands
// Fit a Task (its module and the loss of one Batch):
//
//	set, err := train.NewSet(imgs, train.SetOptions{Channels: 3})
//	trainSet, valSet := set.Split(cfg.Train.ValFraction, cfg.Train.Seed)
//	rep, err := train.Fit(ctx, "ae", task, trainSet, valSet, cfg.Train, d.sess)
//
// A method whose batches are not crops of a Set (patch triplets from a
// pool, crops with a frozen teacher's outputs as targets) hands FitSteps a
// StepTask instead, which draws each batch itself from the generator it
// is given; the schedule, checkpoints, resume and progress are the same.
//
// Determinism: every random choice of an epoch (shuffling, crop origins,
// augmentations, and whatever the Task draws from the rng it is given)
// comes from a generator seeded by (Config.Seed, stage, epoch), so the
// same seed gives the same model, and a run resumed from the checkpoint
// of epoch k continues exactly as the uninterrupted run did. The
// checkpoint (<CheckpointDir>/<stage>.ckpt, written atomically after every
// epoch) holds the module's params and buffers, the optimiser state, the
// best weights so far, the early-stopping counter, the loss history and a
// Stateful task's state; it also records the stage, config, model shape,
// task fingerprint and a hash of the images, and a resume refuses a
// checkpoint whose record differs, naming what differs.
//
// Memory: the decoded images (shared, never copied by Split or Sample)
// plus one batch, reused from step to step, and one copy of the weights
// for the best epoch.
package train

import "time"

// Epoch reports one finished training epoch.
type Epoch struct {
	Stage   string // what is being trained, e.g. "ae", "teacher", "student 2/5"
	Epoch   int    // 1-based
	Epochs  int    // planned epochs (early stopping may end sooner)
	Loss    float64
	ValLoss float64 // NaN when there is no validation set
	LR      float64
	Elapsed time.Duration // since the stage started
	ETA     time.Duration // estimated time left in the stage
}

// Session is what the caller (the pipeline) tells a training detector:
// where to keep checkpoints, whether to continue from them, and where to
// report progress. The zero Session trains without checkpoints or
// progress.
type Session struct {
	// CheckpointDir receives one checkpoint file per training stage,
	// rewritten atomically after every epoch; "" disables checkpoints.
	CheckpointDir string
	// Resume continues each stage from its checkpoint in CheckpointDir
	// (a stage whose checkpoint says it finished is not retrained).
	Resume bool
	// Progress, if not nil, is called after every epoch.
	Progress func(Epoch)
}
