package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-ad/vigil/worker"
)

func cmdSubmit(args []string, stdout io.Writer) error {
	fs := newFlags("submit", "submit --nats URL --model NAME [--out results.json] IMAGE_OR_FOLDER...", stdout)
	var nf natsFlags
	nf.register(fs)
	model := fs.String("model", "", "model name as the workers know it (their --models DIR/NAME.safetensors)")
	out := fs.String("out", "results.json", "results file; a re-run submits only the images without an entry")
	timeout := fs.Duration("timeout", 0, "give up waiting after this long (results so far are kept; 0: wait)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	quiet := fs.Bool("quiet", false, "no progress output on stderr")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("--model NAME is required")
	}
	if fs.NArg() == 0 {
		return usagef("give at least one image or folder")
	}
	if *timeout < 0 {
		return usagef("--timeout must be positive, got %s", *timeout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	q, closeQ, err := nf.connect(ctx, "vigil-submit")
	if err != nil {
		return err
	}
	defer closeQ()
	bar := newProgress(*quiet)
	bar.Begin("results", 0)
	res, err := worker.Submit(ctx, q, worker.SubmitOptions{Model: *model, Paths: fs.Args(), Out: *out,
		Progress: func(done, total int) { bar.Set(done, total) }})
	bar.End()
	if res == nil {
		return err
	}
	if *asJSON {
		s := *res
		s.Entries = nil
		enc := json.NewEncoder(stdout)
		if e := enc.Encode(s); e != nil {
			return e
		}
	} else {
		fmt.Fprintf(stdout, "%d jobs (%d submitted, %d from %s): %d done, %d anomalous, %d failed, in %.1fs; results in %s\n",
			res.N, res.Submitted, res.Resumed, *out, res.Done, res.NAnomalous, res.NErrors, res.Seconds, *out)
	}
	if err != nil {
		return fmt.Errorf("%w (re-run to resume)", err)
	}
	if res.NErrors > 0 {
		return failedImages{res.NErrors}
	}
	return nil
}
