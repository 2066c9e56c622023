// Package train is the training pipeline shared by every detector that
// trains a network: images decoded once, seeded mini-batches of random
// crops with augmentations, validation loss on held-out normal images,
// early stopping, a learning-rate schedule, an atomic checkpoint each
// epoch and bit-exact resumption.
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
