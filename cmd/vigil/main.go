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
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
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
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vigil %s: %v\nRun 'vigil %s --help' for usage.\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return 1
	}
}

// newFlags makes a FlagSet whose parse errors become usage errors and whose
// --help prints to stdout.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage: vigil %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags, turning errors into usage errors (help is passed through).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return flag.ErrHelp
		}
		return usageError{err.Error()}
	}
	return nil
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

func joinNames(s []string) string { return strings.Join(s, ", ") }
