package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vigil-ad/vigil/bench"
)

func cmdBench(args []string, stdout io.Writer) error {
	const synopsis = "bench engine [--json] [--write-onnx DIR] [--runs N] [--cases a,b] | bench serve --models DIR --model NAME --image FILE"
	if len(args) > 0 && args[0] == "serve" {
		return cmdBenchServe(args[1:], stdout)
	}
	if len(args) == 0 || args[0] != "engine" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: vigil "+synopsis)
			return nil
		}
		return usagef("usage: vigil bench engine [--json] [--write-onnx DIR]")
	}
	fs := newFlags("bench engine", synopsis, stdout)
	asJSON := fs.Bool("json", false, "one JSON object per line: {\"case\", \"ms\" (median), \"gflops\"}")
	onnxDir := fs.String("write-onnx", "", "write the ONNX graphs timed here (resnet18_b1.onnx, resnet50_b1.onnx, conv3x3_b1.onnx, conv3x3_b8.onnx) for ONNX Runtime")
	runs := fs.Int("runs", 20, "timed runs per case (after one warm-up)")
	only := fs.String("cases", "", "comma-separated subset of cases: "+strings.Join(bench.EngineCases(), ","))
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *runs < 1 {
		return usagef("--runs must be at least 1, got %d", *runs)
	}
	o := bench.EngineOptions{Runs: *runs, ONNXDir: *onnxDir}
	for _, c := range strings.Split(*only, ",") {
		if c == "" {
			continue
		}
		if !slices.Contains(bench.EngineCases(), c) {
			return usagef("--cases: unknown case %q (cases: %s)", c, strings.Join(bench.EngineCases(), ","))
		}
		o.Cases = append(o.Cases, c)
	}
	return bench.Engine(context.Background(), o, func(c bench.Case) error {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(c)
		}
		_, err := fmt.Fprintf(stdout, "%-14s median %9.3f ms  min %9.3f ms  %8.1f GFLOP/s  (%d runs) %s\n", c.Case, c.MS, c.MinMS, c.GFLOPS, c.Runs, c.Note)
		return err
	})
}
