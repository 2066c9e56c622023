package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/postprocess"
)

// DefaultBatch is the number of images decoded and scored at once.
const DefaultBatch = 8

// ImageResult is the outcome for one image. Image, Map, Mask and PredMask
// are valid only during an OnImage callback: the pipeline drops them
// afterwards so memory stays bounded.
type ImageResult struct {
	Index  int    // position in the run
	Name   string // name within the dataset, or the path as given
	Path   string
	Defect string // "good", a defect type, or "" when unknown
	Label  int    // 0 normal, 1 anomalous, -1 unknown
	Score  float64
	PValue float64
	// Anomalous is the decision: Score >= the model's threshold.
	Anomalous bool
	// Err is set when the image failed (undecodable, non-finite score or
	// map); Score, PValue and Anomalous are then meaningless.
	Err    error
	SHA256 string

	Image    *imageio.Image
	Map      *imageio.Map // anomaly map at image resolution; nil if the method has none
	Mask     *imageio.Map // ground truth; nil when unknown
	PredMask *imageio.Map // predicted defect region (for OnImage); nil without a map or a pixel threshold
	Sample   *dataset.Sample
}

// Verdict is the decision in words: "anomalous", "normal" or "error". A
// failed image is never "normal".
func (r *ImageResult) Verdict() string {
	switch {
	case r.Err != nil || !finite(r.Score):
		return "error"
	case r.Anomalous:
		return "anomalous"
	}
	return "normal"
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// PredictedMask turns an anomaly map into the predicted defect region at
// the calibrated pixel threshold: binarised, opened and closed, and
// components smaller than 1/2000 of the image (at least 4 pixels) removed.
// It returns nil without a map or a pixel threshold.
func PredictedMask(m *imageio.Map, calib decision.Calibration) *imageio.Map {
	if m == nil || calib.PixelThreshold == nil {
		return nil
	}
	area := max(4, m.H*m.W/2000)
	return postprocess.Clean(m, *calib.PixelThreshold, postprocess.CleanOptions{OpenRadius: 1, CloseRadius: 1, MinArea: area})
}

// streamOptions control one scoring pass.
type streamOptions struct {
	batch     int
	maxPixels int
	calib     *decision.Calibration // nil: no decisions (calibration pass)
	progress  Progress
	step      string
	keepMask  bool // load ground truth
	predMask  bool // compute the predicted mask (someone looks at it)
}

// checkResult applies fail-closed rules to a detector's output.
func checkResult(r detector.Result, img *imageio.Image) error {
	if !finite(r.Score) {
		return fmt.Errorf("score is %v (the model or the image is corrupt)", r.Score)
	}
	if r.Map != nil {
		if r.Map.H != img.H || r.Map.W != img.W {
			return fmt.Errorf("anomaly map is %dx%d for a %dx%d image", r.Map.W, r.Map.H, img.W, img.H)
		}
		for _, v := range r.Map.Pix {
			if !finite(float64(v)) {
				return fmt.Errorf("anomaly map holds %v (the model or the image is corrupt)", v)
			}
		}
	}
	return nil
}

// stream decodes, scores and hands over the samples in batches, in order.
// Per-image failures are reported in ImageResult.Err; only fn's error or
// a cancelled context stop the pass.
//
// The three steps run as a pipeline, one batch each: the next batch
// decodes while this one is scored and the previous one is handed to fn
// (which accumulates metrics or writes pictures), so single-threaded
// decoding and metric work overlap with scoring. At most three batches
// are in memory.
func stream(ctx context.Context, det detector.Detector, samples []dataset.Sample, so streamOptions, fn func(*ImageResult) error) error {
	batch := so.batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	prog := progressOr(so.progress)
	prog.Begin(so.step, len(samples))
	defer prog.End()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	decoded := make(chan []ImageResult, 1)
	scored := make(chan []ImageResult, 1)
	go func() { // decode
		defer close(decoded)
		for lo := 0; lo < len(samples); lo += batch {
			hi := min(lo+batch, len(samples))
			rs := make([]ImageResult, hi-lo)
			decodeBatch(samples[lo:hi], lo, rs, so)
			select {
			case decoded <- rs:
			case <-ctx.Done():
				return
			}
		}
	}()
	var sinkErr error
	sinkDone := make(chan struct{})
	go func() { // hand over, in order
		defer close(sinkDone)
		done := 0
		for rs := range scored {
			for i := range rs {
				if sinkErr == nil {
					if err := fn(&rs[i]); err != nil {
						sinkErr = err
						cancel()
					}
				}
				rs[i] = ImageResult{} // drop pictures
			}
			done += len(rs)
			prog.Set(done, len(samples))
		}
	}()
	var scoreErr error
	for rs := range decoded {
		if scoreErr = ctx.Err(); scoreErr != nil {
			break
		}
		if scoreErr = scoreBatch(ctx, det, rs, so); scoreErr != nil {
			cancel()
			break
		}
		scored <- rs
	}
	close(scored)
	<-sinkDone
	for range decoded { // let the decoder finish
	}
	switch {
	case sinkErr != nil:
		return sinkErr
	case scoreErr != nil:
		return scoreErr
	}
	return nil
}

// decodeBatch loads the batch's images in parallel.
func decodeBatch(samples []dataset.Sample, base int, rs []ImageResult, so streamOptions) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range samples {
		s := &samples[i]
		rs[i] = ImageResult{Index: base + i, Name: s.Name, Path: s.Path, Defect: s.Defect, Label: s.Label, Sample: s}
		wg.Add(1)
		sem <- struct{}{}
		go func(r *ImageResult) {
			defer func() { <-sem; wg.Done() }()
			ld, err := s.Load(imageio.Options{MaxPixels: so.maxPixels})
			if err != nil {
				r.Err = err
				return
			}
			r.Image, r.SHA256 = ld.Image, ld.SHA256
			if so.keepMask {
				r.Mask = ld.Mask
			}
		}(&rs[i])
	}
	wg.Wait()
}

// scoreBatch scores the decoded images of a batch. When the detector
// fails on the batch, each image is scored alone so that one bad image
// does not take the others down.
func scoreBatch(ctx context.Context, det detector.Detector, rs []ImageResult, so streamOptions) error {
	var idx []int
	var imgs []*imageio.Image
	for i := range rs {
		if rs[i].Err == nil {
			idx = append(idx, i)
			imgs = append(imgs, rs[i].Image)
		}
	}
	if len(imgs) == 0 {
		return nil
	}
	out, err := det.Score(ctx, imgs)
	if err == nil && len(out) != len(imgs) {
		err = fmt.Errorf("%s returned %d results for %d images", det.Method(), len(out), len(imgs))
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(imgs) == 1 {
			rs[idx[0]].Err = err
			return nil
		}
		out = make([]detector.Result, len(imgs))
		for j, i := range idx {
			r, err := det.Score(ctx, imgs[j:j+1])
			if err == nil && len(r) != 1 {
				err = fmt.Errorf("%s returned %d results for 1 image", det.Method(), len(r))
			}
			if err != nil {
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					return err
				}
				rs[i].Err = err
				continue
			}
			out[j] = r[0]
		}
	}
	for j, i := range idx {
		r := &rs[i]
		if r.Err != nil {
			continue
		}
		if err := checkResult(out[j], r.Image); err != nil {
			r.Err = err
			continue
		}
		r.Score, r.Map = out[j].Score, out[j].Map
		if so.calib != nil {
			r.PValue = so.calib.PValue(r.Score)
			r.Anomalous = so.calib.Decide(r.Score)
			if so.predMask {
				r.PredMask = PredictedMask(r.Map, *so.calib)
			}
		}
	}
	return nil
}
