package main

import (
	"fmt"
	"io"

	"github.com/vigil-ad/vigil/detector"
	// The detectors linked into the binary register themselves by name.
	_ "github.com/vigil-ad/vigil/detector/ae"
	_ "github.com/vigil-ad/vigil/detector/aegmm"
	_ "github.com/vigil-ad/vigil/detector/dagmm"
	_ "github.com/vigil-ad/vigil/detector/deepsvdd"
	_ "github.com/vigil-ad/vigil/detector/geotrans"
	_ "github.com/vigil-ad/vigil/detector/knn"
	_ "github.com/vigil-ad/vigil/detector/padim"
	_ "github.com/vigil-ad/vigil/detector/patchcore"
	_ "github.com/vigil-ad/vigil/detector/pcarecon"
	_ "github.com/vigil-ad/vigil/detector/riad"
	_ "github.com/vigil-ad/vigil/detector/students"
	_ "github.com/vigil-ad/vigil/detector/svdd"
)

func cmdMethods(args []string, stdout io.Writer) error {
	fs := newFlags("methods", "methods [METHOD...]", stdout)
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		names = detector.Methods()
	}
	for i, n := range names {
		m, ok := detector.Lookup(n)
		if !ok {
			return usagef("unknown method %q (known: %s)", n, joinNames(detector.Methods()))
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := detector.WriteParams(stdout, m.Name); err != nil { // it heads the table with the summary
			return err
		}
	}
	return nil
}
