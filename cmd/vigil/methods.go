package main

// The detectors linked into the binary register themselves by name.
import (
	_ "github.com/vigil-ad/vigil/detector/knn"
	_ "github.com/vigil-ad/vigil/detector/padim"
	_ "github.com/vigil-ad/vigil/detector/patchcore"
	_ "github.com/vigil-ad/vigil/detector/pcarecon"
)
