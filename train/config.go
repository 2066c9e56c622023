package train

import (
	"fmt"
	"math"
)

// Config holds training hyper-parameters. A method's config struct holds
// it as a nested object under key "train" (field Train with tag
// json:"train"), so its keys read "train.lr", "train.augment.noise" in
// `vigil methods` and in Validate's errors.
type Config struct {
	Epochs        int     `json:"epochs" help:"training epochs (early stopping may end sooner)"`
	BatchSize     int     `json:"batch_size" help:"crops per mini-batch"`
	Patch         int     `json:"patch" help:"side of the square random crops trained on, in pixels; 0: whole images (all the same size)"`
	StepsPerEpoch int     `json:"steps_per_epoch" help:"optimiser steps per epoch; 0: enough batches to cover the training set once (each image tiled by patch-sized crops)"`
	LR            float64 `json:"lr" help:"base learning rate"`
	MinLR         float64 `json:"min_lr,omitempty" help:"cosine schedule: the rate annealed to at the last step, in [0, lr]"`
	Schedule      string  `json:"schedule" enum:"cosine,step,constant" help:"learning-rate schedule: cosine (annealed to 0 over all steps), step (times gamma every step_epochs epochs) or constant"`
	StepEpochs    int     `json:"step_epochs" help:"step schedule: epochs between decays; 0: a third of the epochs"`
	Gamma         float64 `json:"gamma" help:"step schedule: factor applied at each decay, in (0,1]"`
	WeightDecay   float64 `json:"weight_decay" help:"weight decay (L2 for adam and sgd, decoupled for adamw)"`
	Optimizer     string  `json:"optimizer" enum:"adam,adamw,sgd" help:"optimiser: adam, adamw or sgd (with momentum)"`
	Momentum      float64 `json:"momentum" help:"sgd momentum, in [0,1)"`
	Patience      int     `json:"patience" help:"early stopping: stop after this many epochs without a better validation loss; 0: off (also off without a validation set)"`
	ValFraction   float64 `json:"val_fraction" help:"share of the training images held out for the validation loss, in [0,1)"`
	Seed          uint64  `json:"seed" help:"seed of initialisation, shuffling, crops and augmentation: same seed, same model"`
	Augment       Augment `json:"augment" help:"augmentations of the training crops; zero turns each off"`
}

// Augment configures the random augmentations applied to training crops,
// in this order: affine (Rotate, Shift, Scale, sampled around the crop's
// centre from the whole image, edges replicated), flips and 90° rotations,
// brightness and contrast, Gaussian noise. Zero values turn each off.
type Augment struct {
	HFlip      bool    `json:"hflip" help:"random horizontal flip (probability 1/2)"`
	VFlip      bool    `json:"vflip" help:"random vertical flip (probability 1/2)"`
	Rot90      bool    `json:"rot90" help:"random rotation by a multiple of 90 degrees (only 0 or 180 for non-square crops)"`
	Rotate     float64 `json:"rotate" help:"random rotation, uniform in [-rotate, rotate] degrees"`
	Shift      float64 `json:"shift" help:"random translation, uniform in [-shift, shift] times the crop side, per axis"`
	Scale      float64 `json:"scale" help:"random zoom, uniform in [1-scale, 1+scale]"`
	Brightness float64 `json:"brightness" help:"random additive brightness change, uniform in [-brightness, brightness]"`
	Contrast   float64 `json:"contrast" help:"random contrast factor around the crop mean, uniform in [1-contrast, 1+contrast]"`
	Noise      float64 `json:"noise" help:"standard deviation of additive Gaussian pixel noise"`
}

// Defaults returns a reasonable starting configuration: 50 epochs of
// batches of 16 whole images, Adam at 1e-3 with a cosine schedule, 10%
// held out for validation, no early stopping, no augmentation.
func Defaults() Config {
	return Config{
		Epochs: 50, BatchSize: 16, LR: 1e-3, Schedule: "cosine", Gamma: 0.1,
		Optimizer: "adam", Momentum: 0.9, ValFraction: 0.1,
	}
}

// Validate checks every field and names the first bad one by its key.
func (c Config) Validate() error {
	bad := func(key, want string, got any) error {
		return fmt.Errorf("train.%s: must be %s, got %v", key, want, got)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Epochs < 1:
		return bad("epochs", ">= 1", c.Epochs)
	case c.BatchSize < 1:
		return bad("batch_size", ">= 1", c.BatchSize)
	case c.Patch < 0:
		return bad("patch", ">= 0", c.Patch)
	case c.StepsPerEpoch < 0:
		return bad("steps_per_epoch", ">= 0", c.StepsPerEpoch)
	case !(c.LR > 0) || !finite(c.LR):
		return bad("lr", "> 0 and finite", c.LR)
	case !(c.MinLR >= 0 && c.MinLR <= c.LR):
		return bad("min_lr", "in [0, lr]", c.MinLR)
	case c.Schedule != "cosine" && c.Schedule != "step" && c.Schedule != "constant":
		return bad("schedule", `"cosine", "step" or "constant"`, fmt.Sprintf("%q", c.Schedule))
	case c.StepEpochs < 0:
		return bad("step_epochs", ">= 0", c.StepEpochs)
	case !(c.Gamma > 0 && c.Gamma <= 1):
		return bad("gamma", "in (0,1]", c.Gamma)
	case !(c.WeightDecay >= 0) || !finite(c.WeightDecay):
		return bad("weight_decay", ">= 0 and finite", c.WeightDecay)
	case c.Optimizer != "adam" && c.Optimizer != "adamw" && c.Optimizer != "sgd":
		return bad("optimizer", `"adam", "adamw" or "sgd"`, fmt.Sprintf("%q", c.Optimizer))
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return bad("momentum", "in [0,1)", c.Momentum)
	case c.Patience < 0:
		return bad("patience", ">= 0", c.Patience)
	case !(c.ValFraction >= 0 && c.ValFraction < 1):
		return bad("val_fraction", "in [0,1)", c.ValFraction)
	}
	return c.Augment.validate()
}

func (a Augment) validate() error {
	bad := func(key, want string, got float64) error {
		return fmt.Errorf("train.augment.%s: must be %s, got %v", key, want, got)
	}
	switch {
	case !(a.Rotate >= 0 && a.Rotate <= 180):
		return bad("rotate", "in [0,180] degrees", a.Rotate)
	case !(a.Shift >= 0 && a.Shift < 1):
		return bad("shift", "in [0,1)", a.Shift)
	case !(a.Scale >= 0 && a.Scale < 1):
		return bad("scale", "in [0,1)", a.Scale)
	case !(a.Brightness >= 0 && a.Brightness <= 1):
		return bad("brightness", "in [0,1]", a.Brightness)
	case !(a.Contrast >= 0 && a.Contrast < 1):
		return bad("contrast", "in [0,1)", a.Contrast)
	case !(a.Noise >= 0 && a.Noise <= 1):
		return bad("noise", "in [0,1]", a.Noise)
	}
	return nil
}

// affine reports whether any affine augmentation is on.
func (a Augment) affine() bool { return a.Rotate != 0 || a.Shift != 0 || a.Scale != 0 }
