package pipeline

import (
	"context"
	"fmt"

	"github.com/vigil-ad/vigil/imageio"
)

// This file is the pipeline's entry for a long-running service (vigil
// serve): images arrive decoded from a request instead of from files, and
// the caller's context carries the request's deadline.

// ScoreImages scores already decoded images with the model in one detector
// call (each image alone when the batch fails, so one bad image does not
// take the others down), with the same fail-closed checks, p-values and
// decisions as Predict. A failure confined to an image is in its
// ImageResult.Err (Verdict "error"); a cancelled or expired ctx is
// returned as the error. Results keep Image and Map; PredMask is set when
// predMask is true and the model has a pixel threshold.
func (m *Model) ScoreImages(ctx context.Context, imgs []*imageio.Image, predMask bool) ([]ImageResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rs := make([]ImageResult, len(imgs))
	for i, img := range imgs {
		rs[i] = ImageResult{Index: i, Label: -1, Image: img}
		if img == nil || img.H <= 0 || img.W <= 0 || len(img.Pix) != img.C*img.H*img.W {
			rs[i].Err = fmt.Errorf("image %d is empty or malformed", i)
		}
	}
	calib := m.Calib
	if err := scoreBatch(ctx, m.Detector, rs, streamOptions{calib: &calib, predMask: predMask}); err != nil {
		return nil, err
	}
	return rs, nil
}

// Backbone is the backbone the model's method uses ("" when it has none).
func (m *Model) Backbone() string { return backboneOf(inner(m.Detector)) }
