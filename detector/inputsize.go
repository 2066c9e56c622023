package detector

// InputSizer is implemented by detectors that resize every image to a
// fixed size before anything else; the pipeline then resizes images right
// after decoding so only working-size images are held in memory. An image
// already at that size is used as is, so pre-resizing leaves scores
// unchanged (the maps then come back at the working size).
type InputSizer interface {
	InputSize() (h, w int) // (0, 0) means native size
}
