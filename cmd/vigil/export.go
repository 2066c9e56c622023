package main

import (
	"fmt"
	"io"
	"os"

	"github.com/vigil-ad/vigil/pipeline"
)

// cmdExport writes a fitted model as one ONNX file (backbone and scoring
// head) for ONNX Runtime and other runtimes.
func cmdExport(args []string, stdout io.Writer) error {
	fs := newFlags("export", "export --model MODEL --out FILE.onnx [--backbone-dir DIR]\n\n"+
		"Writes the model (padim, patchcore, pcarecon, ae, aegmm, dagmm, riad, students, deepsvdd, svdd, geotrans) as one ONNX graph: input \"image\" float32 [1,3,S,S],\n"+
		"RGB in [0,1] after the model's resize (and crop); outputs \"score\" [1] and \"map\" [1,1,S,S]\n"+
		"(deepsvdd, svdd and geotrans score whole images: \"score\" only).\n"+
		"The file's metadata_props (vigil.*) say exactly how to prepare the input and read the outputs,\n"+
		"and hold the decision threshold.", stdout)
	model := fs.String("model", "", "model file written by 'vigil fit'")
	out := fs.String("out", "", "ONNX file to write (atomically)")
	backboneDir := fs.String("backbone-dir", "", "folder searched first for the model's backbone")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *model == "" || *out == "" {
		return usagef("--model MODEL and --out FILE.onnx are required")
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if err := pipeline.Export(*model, absDir(*backboneDir), *out); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%.1f MB)\n", *out, float64(st.Size())/1e6)
	return nil
}
