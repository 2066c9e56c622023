// Command vigil fits visual anomaly detectors on normal images, scores new
// images, evaluates them and writes reports.
//
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/vigil-ad/vigil/internal/atomicfile"
	"github.com/vigil-ad/vigil/pipeline"
)

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

type command struct {
	summary string
	run     func(args []string, stdout io.Writer) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"fit":      {"fit a detector on normal images and calibrate its threshold", cmdFit},
		"test":     {"evaluate a model on a labelled test set (metrics, HTML report)", cmdTest},
		"predict":  {"score images with a model: heatmaps and results.json", cmdPredict},
		"eval":     {"image-level metrics from a CSV of scores and labels", cmdEval},
		"demo":     {"run the whole pipeline on embedded synthetic data", cmdDemo},
		"version":  {"print the version", cmdVersion},
		"bench":    {"engine benchmarks (vigil bench engine --json)", cmdBench},
		"backbone": {"manage pretrained backbones (vigil backbone pull NAME)", cmdBackbone},
		"methods":  {"list the detection methods and their parameters", cmdMethods},
		"serve":    {"HTTP API, web UI and Prometheus metrics over a folder of models", cmdServe},
		"classify": {"open-set recognition: train on known classes, flag unknowns (fit|test|predict)", cmdClassify},
		"export":   {"write a fitted model (padim, patchcore, pcarecon) as one ONNX file", cmdExport},
		"worker":   {"score jobs from a NATS JetStream queue (vigil worker --nats URL --models DIR)", cmdWorker},
		"submit":   {"queue images to the workers and collect results.json (resumable)", cmdSubmit},
		"monitor":  {"CUSUM alarms on a stream of scores with a target ARL0", cmdMonitor},
	}
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "vigil: visual anomaly detection\n\nUsage: vigil COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'vigil COMMAND --help' for a command's flags.")
}

func main() {
	// An interrupted save leaves no temporary file behind.
	stop := atomicfile.CleanupOnSignal()
	cleanupStop = stop // vigil serve drains on SIGTERM instead
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		mainUsage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", name)
		mainUsage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout)
	var ue usageError
	var fe failedImages
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return 1
	case errors.As(err, &ue) || pipeline.IsOptionError(err):
		fmt.Fprintf(stderr, "vigil %s: %v\nRun 'vigil %s --help' for usage.\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return 1
	}
}

// newFlags makes a FlagSet whose parse errors become usage errors (on
// stderr, by run) and whose --help prints the usage once, to stdout.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// the flag package calls Usage on every parse error too: print only
	// for --help (parseArgs)
	fs.Usage = func() {}
	helps.Store(fs, func() {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage: vigil %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	})
	return fs
}

// helps holds each FlagSet's --help printer.
var helps sync.Map

// parse parses flags (the flag package prints --help itself), turning
// errors into usage errors. Positional arguments are refused unless the
// command takes them (parseArgs).
func parse(fs *flag.FlagSet, args []string) error {
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (flags come as --name value)", fs.Arg(0))
	}
	return nil
}

// parseArgs parses flags and allows positional arguments, also before or
// between flags (vigil predict IMG --model M).
func parseArgs(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				if h, ok := helps.Load(fs); ok {
					h.(func())()
				}
				return flag.ErrHelp
			}
			return usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
		if fs.Arg(0) == "--" {
			pos = append(pos[:len(pos)-1], args...)
			break
		}
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// failedImages marks a run that completed but had images that failed
// (exit code 1 after the results are out).
type failedImages struct{ n int }

func (e failedImages) Error() string { return fmt.Sprintf("%d image(s) failed; see the results", e.n) }

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

func joinNames(s []string) string { return strings.Join(s, ", ") }
