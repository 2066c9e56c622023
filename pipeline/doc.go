// Package pipeline is Vigil's evaluation pipeline as a library: Fit learns
// a detector from the normal images of a dataset and calibrates its
// decision threshold, Evaluate scores a labelled test set and computes
// every metric, Predict scores arbitrary images. The command line and the
// HTTP server call these functions; nothing here prints, exits or reads
// flags.
//
// Memory is bounded by the model and a batch, not by the dataset: images
// are decoded, scored and dropped in batches of BatchSize; only the
// training images are held, resized to the detector's working size
// (detector.InputSizer). Pictures for reports are handed to an OnImage
// callback while they are in memory.
//
// Fail closed: a score or map that is NaN or infinite is never "normal";
// it is an error for that image, counted in the results.
package pipeline
