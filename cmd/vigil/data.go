package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
)

// dataFlags selects a dataset in one of the three supported forms.
type dataFlags struct {
	data, normal, abnormal, masks, idx string
	normalClass                        int
	seed                               uint64
	valFraction                        float64
	maxPixels                          int
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.data, "data", "", "dataset `DIR` in the MVTec AD layout (train/good, test/<defect>, ground_truth/<defect>)")
	fs.StringVar(&d.normal, "normal", "", "plain folder of normal images (with --abnormal)")
	fs.StringVar(&d.abnormal, "abnormal", "", "plain folder of anomalous images (with --normal)")
	fs.StringVar(&d.masks, "masks", "", "optional folder of masks for --abnormal images (<stem>_mask.png or <stem>.png)")
	fs.StringVar(&d.idx, "idx", "", "folder of IDX files (MNIST / Fashion-MNIST) for the one-class protocol")
	fs.IntVar(&d.normalClass, "normal-class", 0, "with --idx: the class treated as normal")
	fs.Uint64Var(&d.seed, "seed", 1, "seed for the validation split and every random choice")
	fs.Float64Var(&d.valFraction, "val-fraction", 0.1, "fraction of the training normals held out for calibration (at least 5 images)")
	fs.IntVar(&d.maxPixels, "max-pixels", 50_000_000, "refuse images with more pixels than this (checked before decoding)")
}

func (d *dataFlags) options() dataset.Options {
	return dataset.Options{Seed: d.seed, ValFraction: d.valFraction, MinVal: 5, MaxPixels: d.maxPixels}
}

// split selects which splits a command decodes (the rest stay empty).
type split int

const (
	fitSplits  split = iota + 1 // Train and Val
	testSplits                  // Test
)

// load reads whichever dataset form was selected (exactly one is
// required), decoding only the splits the command needs.
func (d *dataFlags) load(need split) (*dataset.Dataset, error) {
	n := 0
	for _, s := range []string{d.data, d.normal, d.idx} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, usagef("give exactly one of --data DIR, --normal DIR --abnormal DIR, or --idx DIR")
	}
	opt := d.options()
	opt.SkipTest = need == fitSplits
	opt.SkipTrain = need == testSplits
	switch {
	case d.data != "":
		return dataset.LoadMVTec(d.data, opt)
	case d.normal != "":
		if d.abnormal == "" {
			return nil, usagef("--normal needs --abnormal")
		}
		return dataset.LoadFolders(d.normal, d.abnormal, d.masks, opt)
	default:
		return dataset.LoadIDX(d.idx, d.normalClass, opt)
	}
}

func imagesOf(s []dataset.Sample) []*imageio.Image {
	out := make([]*imageio.Image, len(s))
	for i := range s {
		out[i] = s[i].Image
	}
	return out
}

// scoreAll scores images in batches so progress can be shown.
func scoreAll(ctx context.Context, det detector.Detector, imgs []*imageio.Image, quiet bool, label string) ([]detector.Result, error) {
	const batch = 8
	p := newProgress(quiet, label, len(imgs))
	defer p.Done()
	out := make([]detector.Result, 0, len(imgs))
	for lo := 0; lo < len(imgs); lo += batch {
		hi := min(lo+batch, len(imgs))
		r, err := det.Score(ctx, imgs[lo:hi])
		if err != nil {
			return nil, err
		}
		if len(r) != hi-lo {
			return nil, fmt.Errorf("%s returned %d results for %d images", det.Method(), len(r), hi-lo)
		}
		out = append(out, r...)
		p.Add(hi - lo)
	}
	return out, nil
}
