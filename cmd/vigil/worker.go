package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vigil-ad/vigil/worker"
)

// natsFlags are the flags every NATS command shares.
type natsFlags struct {
	url, listen, dataDir string
	ackWait              time.Duration
	maxDeliver           int
	inlineMax            int
}

func (n *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.url, "nats", "nats://127.0.0.1:4222", "NATS server URL, or 'embedded' to start one in this process (file storage in --data-dir)")
	fs.StringVar(&n.listen, "nats-listen", "127.0.0.1:4222", "with --nats embedded: the address other processes and machines join")
	fs.StringVar(&n.dataDir, "data-dir", "", "with --nats embedded: JetStream file storage folder (required)")
	d := worker.DefaultConfig()
	fs.DurationVar(&n.ackWait, "ack-wait", d.AckWait, "a job held this long without an ack goes to another worker (all participants must agree)")
	fs.IntVar(&n.maxDeliver, "max-deliver", d.MaxDeliver, "deliveries of a job: this many minus one tries, then it is dead-lettered (at least 2; all participants must agree)")
	fs.IntVar(&n.inlineMax, "inline-max", d.InlineMax, "images larger than this many bytes go through the JetStream object store")
}

// connect starts the embedded server when asked and connects; stop closes
// both.
func (n *natsFlags) connect(ctx context.Context, name string) (q *worker.Queue, stop func(), err error) {
	cfg := worker.DefaultConfig()
	cfg.AckWait, cfg.MaxDeliver, cfg.InlineMax = n.ackWait, n.maxDeliver, n.inlineMax
	url := n.url
	stopServer := func() {}
	if url == "embedded" {
		if n.dataDir == "" {
			return nil, nil, usagef("--nats embedded needs --data-dir DIR")
		}
		s, err := worker.Embedded(n.listen, n.dataDir)
		if err != nil {
			return nil, nil, err
		}
		url = s.ClientURL()
		stopServer = func() { s.Shutdown(); s.WaitForShutdown() }
		fmt.Fprintf(os.Stderr, "embedded NATS server on %s (storage %s)\n", url, n.dataDir)
	}
	q, err = worker.Connect(ctx, url, name, cfg)
	if err != nil {
		stopServer()
		return nil, nil, err
	}
	return q, func() { q.Close(); stopServer() }, nil
}

func cmdWorker(args []string, stdout io.Writer) error {
	fs := newFlags("worker", "worker --nats URL --models DIR [flags]", stdout)
	var nf natsFlags
	nf.register(fs)
	models := fs.String("models", "", "folder of model files: DIR/NAME.safetensors or DIR/NAME/model.safetensors, named NAME in jobs")
	backboneDir := fs.String("backbone-dir", "", "folder searched first for the models' backbones")
	inFlight := fs.Int("in-flight", 4, "jobs this worker holds at once")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *models == "" {
		return usagef("--models DIR is required")
	}
	if *inFlight < 1 {
		return usagef("--in-flight must be at least 1, got %d", *inFlight)
	}
	if st, err := os.Stat(*models); err != nil || !st.IsDir() {
		return usagef("--models %s is not a folder", *models)
	}
	// a worker settles what it holds on SIGTERM instead of dying in the
	// middle (jobs it never acks come back anyway)
	if cleanupStop != nil {
		cleanupStop()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	q, closeQ, err := nf.connect(ctx, "vigil-worker")
	if err != nil {
		return err
	}
	defer closeQ()
	w := &worker.Worker{Q: q, ModelsDir: *models, BackboneDir: absDir(*backboneDir), InFlight: *inFlight,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	w.Log.Info("worker started", "nats", q.NC.ConnectedUrl(), "models", *models, "in_flight", *inFlight)
	if err := w.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
