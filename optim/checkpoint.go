package optim

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
)

// Checkpoint is the training progress saved next to the weights, so an
// interrupted run resumes exactly where it stopped.
type Checkpoint struct {
	Epoch int    // epochs completed
	Step  int    // optimiser steps completed
	Seed  uint64 // the run's seed
	// RNG, when set, is the generator driving shuffling/dropout; its exact
	// state is saved and restored in place.
	RNG *rand.PCG
	// Meta and Tensors carry the caller's own state (the training
	// pipeline's best weights, early-stopping counter, a task's centre),
	// stored under "extra." and refilled by LoadCheckpoint, so all of a
	// run's state lands in one atomic write.
	Meta    map[string]string
	Tensors map[string]safetensors.Tensor
}

const (
	modelPrefix = "model."
	optimPrefix = "optim."
	extraPrefix = "extra."
)

// SaveCheckpoint writes model state (params and buffers), optimiser state
// and ck atomically to one safetensors file.
func SaveCheckpoint(path string, m nn.Module, opt Optimizer, ck *Checkpoint) error {
	var ts []safetensors.Tensor
	for _, t := range nn.StateTensors(m) {
		t.Name = modelPrefix + t.Name
		ts = append(ts, t)
	}
	ots, ometa := opt.State()
	for _, t := range ots {
		t.Name = optimPrefix + t.Name
		ts = append(ts, t)
	}
	meta := map[string]string{"format": "vigil-checkpoint"}
	for k, v := range ometa {
		meta[optimPrefix+k] = v
	}
	for k, v := range ck.Meta {
		meta[extraPrefix+k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(ck.Tensors)) {
		t := ck.Tensors[k]
		t.Name = extraPrefix + k
		ts = append(ts, t)
	}
	meta["epoch"] = strconv.Itoa(ck.Epoch)
	meta["step"] = strconv.Itoa(ck.Step)
	meta["seed"] = strconv.FormatUint(ck.Seed, 10)
	if ck.RNG != nil {
		b, err := ck.RNG.MarshalBinary()
		if err != nil {
			return err
		}
		meta["rng"] = base64.StdEncoding.EncodeToString(b)
	}
	return safetensors.WriteFile(path, meta, ts)
}

// LoadCheckpoint restores a checkpoint into m, opt and ck (ck.RNG, if set,
// is overwritten in place with the saved generator state). On error m is
// unchanged; the error names the file and the offending entry.
func LoadCheckpoint(path string, m nn.Module, opt Optimizer, ck *Checkpoint) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return err
	}
	wrap := func(err error) error { return fmt.Errorf("checkpoint %s: %w", path, err) }
	if f.Metadata["format"] != "vigil-checkpoint" {
		return wrap(fmt.Errorf("not a vigil checkpoint (format %q)", f.Metadata["format"]))
	}
	epoch, err1 := strconv.Atoi(f.Metadata["epoch"])
	step, err2 := strconv.Atoi(f.Metadata["step"])
	seed, err3 := strconv.ParseUint(f.Metadata["seed"], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return wrap(fmt.Errorf("bad epoch/step/seed metadata"))
	}
	var rngState []byte
	if s, ok := f.Metadata["rng"]; ok && ck.RNG != nil {
		if rngState, err = base64.StdEncoding.DecodeString(s); err != nil {
			return wrap(fmt.Errorf("bad rng metadata: %v", err))
		}
		var probe rand.PCG
		if err := probe.UnmarshalBinary(rngState); err != nil {
			return wrap(fmt.Errorf("bad rng metadata: %v", err))
		}
	}
	// Optimiser view: its tensors and metadata without the prefix.
	of := &safetensors.File{Metadata: map[string]string{}, Tensors: map[string]safetensors.Tensor{}}
	for k, v := range f.Metadata {
		if strings.HasPrefix(k, optimPrefix) {
			of.Metadata[k[len(optimPrefix):]] = v
		}
	}
	for k, t := range f.Tensors {
		if strings.HasPrefix(k, optimPrefix) {
			of.Tensors[k[len(optimPrefix):]] = t
		}
	}
	// The optimiser restores all-or-nothing; the model is validated in full
	// before anything is copied, so a failure leaves m untouched.
	if err := opt.LoadState(of); err != nil {
		return wrap(err)
	}
	if err := nn.LoadState(f, m, modelPrefix, true); err != nil {
		return wrap(err)
	}
	ck.Epoch, ck.Step, ck.Seed = epoch, step, seed
	ck.Meta, ck.Tensors = map[string]string{}, map[string]safetensors.Tensor{}
	for k, v := range f.Metadata {
		if name, ok := strings.CutPrefix(k, extraPrefix); ok {
			ck.Meta[name] = v
		}
	}
	for k, t := range f.Tensors {
		if name, ok := strings.CutPrefix(k, extraPrefix); ok {
			t.Name = name
			ck.Tensors[name] = t
		}
	}
	if rngState != nil {
		_ = ck.RNG.UnmarshalBinary(rngState) // validated above
	}
	return nil
}
