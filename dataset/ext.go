package dataset

// IsImageFile reports whether a file name is one the loaders read as an
// image (by extension, case-insensitive; hidden files are not), so that
// other walkers of folders (vigil predict) agree with the loaders.
func IsImageFile(name string) bool { return isImageFile(name) }
