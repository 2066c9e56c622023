package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/version"
)

func cmdVersion(args []string, stdout io.Writer) error {
	fs := newFlags("version", "version", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vigil %s (%s, %s/%s, %d CPUs, sgemm kernel %s)\nmethods: %s\nmodel format: %s\n",
		version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), gemm.Kernel(),
		joinNames(detector.Methods()), version.ModelFormat)
	return nil
}
