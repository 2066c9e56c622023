package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ad/vigil/server"
	"github.com/vigil-ad/vigil/worker"
)

// cleanupStop, when set by main, stops the signal handler that removes
// temporary files and re-raises the signal: vigil serve writes no model
// files and handles SIGTERM itself, by draining.
var cleanupStop func()

func cmdServe(args []string, stdout io.Writer) error {
	fs := newFlags("serve", "serve --models DIR [--addr :8080] [--nats URL|embedded] [flags]", stdout)
	models := fs.String("models", "", "folder of model files: DIR/NAME.safetensors or DIR/NAME/model.safetensors, served as NAME")
	addr := fs.String("addr", ":8080", "listen address")
	backboneDir := fs.String("backbone-dir", "", "folder searched first for the models' backbones")
	reports := fs.String("reports", "", "folder of HTML reports from 'vigil test --report' shown in the web UI (default: --models)")
	workers := fs.Int("workers", 2, "requests scored at once (with --nats: requests waiting on the worker queue at once)")
	queue := fs.Int("queue", 0, "admitted requests that may wait for a worker; beyond, 429 (default 4 x workers)")
	maxBytes := fs.Int64("max-bytes", 32<<20, "largest request body in bytes")
	maxPixels := fs.Int("max-pixels", 50_000_000, "largest image in pixels, checked on its header before decoding")
	maxImages := fs.Int("max-images", 16, "most images in one multipart request")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request deadline, queueing included")
	reload := fs.Duration("reload", 2*time.Second, "how often the models folder is checked for changed files (0: never)")
	mapTTL := fs.Duration("map-ttl", time.Minute, "lifetime of a map URL (predict?map=url)")
	tokenFile := fs.String("token-file", "", "file holding a bearer token required on every route but /healthz and /readyz")
	tlsCert := fs.String("tls-cert", "", "TLS certificate (PEM); with --tls-key serves HTTPS")
	tlsKey := fs.String("tls-key", "", "TLS private key (PEM)")
	cors := fs.String("cors", "", "the one origin allowed to call the API from a browser (* for any); default: none")
	drain := fs.Duration("drain-timeout", 0, "on SIGTERM, how long to wait for requests in flight (default: --timeout + 5s)")
	var nf natsFlags
	nf.register(fs)
	// serve scores here unless --nats is given: no default server
	nf.url = ""
	natsFlag := fs.Lookup("nats")
	natsFlag.DefValue = ""
	natsFlag.Usage = "queue every image to 'vigil worker' processes through this NATS server (URL, or 'embedded' to start one here, file storage in --data-dir) instead of scoring here; responses then carry no maps"
	if err := parse(fs, args); err != nil {
		return err
	}
	if nf.url == "" {
		var stray []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "nats-listen", "data-dir", "ack-wait", "max-deliver", "inline-max":
				stray = append(stray, "--"+f.Name)
			}
		})
		if len(stray) > 0 {
			return usagef("%s only apply with --nats", strings.Join(stray, ", "))
		}
	}
	if *models == "" {
		return usagef("--models DIR is required")
	}
	switch {
	case *workers < 1:
		return usagef("--workers must be at least 1, got %d", *workers)
	case *queue < 0:
		return usagef("--queue must be positive, got %d", *queue)
	case *maxBytes < 1:
		return usagef("--max-bytes must be positive, got %d", *maxBytes)
	case *maxPixels < 1:
		return usagef("--max-pixels must be positive, got %d", *maxPixels)
	case *maxImages < 1:
		return usagef("--max-images must be positive, got %d", *maxImages)
	case *timeout <= 0:
		return usagef("--timeout must be positive, got %s", *timeout)
	case *reload < 0:
		return usagef("--reload must not be negative, got %s", *reload)
	case (*tlsCert == "") != (*tlsKey == ""):
		return usagef("--tls-cert and --tls-key go together")
	}
	for _, f := range []struct{ flag, path string }{{"models", *models}, {"reports", *reports}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil || !st.IsDir() {
			return usagef("--%s: %s is not a folder", f.flag, f.path)
		}
	}
	for _, f := range []struct{ flag, path string }{{"token-file", *tokenFile}, {"tls-cert", *tlsCert}, {"tls-key", *tlsKey}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil || st.IsDir() {
			return usagef("--%s: %s is not a file", f.flag, f.path)
		}
	}
	cfg := server.Config{ModelsDir: *models, BackboneDir: absDir(*backboneDir), ReportsDir: *reports, Workers: *workers,
		Queue: *queue, MaxBytes: *maxBytes, MaxPixels: *maxPixels, MaxImages: *maxImages, Timeout: *timeout,
		Reload: *reload, MapTTL: *mapTTL, CORS: *cors, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if *reload == 0 {
		cfg.Reload = -1
	}
	if *tokenFile != "" {
		tok, err := server.ReadToken(*tokenFile)
		if err != nil {
			return usagef("--token-file: %v", err)
		}
		cfg.Token = tok
	}
	if cleanupStop != nil {
		cleanupStop()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if nf.url != "" {
		q, closeQ, err := nf.connect(ctx, "vigil-serve")
		if err != nil {
			return err
		}
		defer closeQ() // after Run has drained the requests waiting on it
		cfg.Remote = &worker.Client{Q: q}
		cfg.Logger.Info("scoring through the worker queue", "nats", q.NC.ConnectedUrl())
	}
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx, server.RunOptions{Addr: *addr, TLSCert: *tlsCert, TLSKey: *tlsKey, DrainTimeout: *drain,
		OnListen: func(a string) {
			scheme := "http"
			if *tlsCert != "" {
				scheme = "https"
			}
			fmt.Fprintf(stdout, "vigil serve: %s://%s (web UI at /ui/, API at /v1/models, metrics at /metrics)\n", scheme, a)
		}})
}

// cmdBenchServe is 'vigil bench serve': the open-loop load test of a
// model served on loopback (server.LoadTest).
func cmdBenchServe(args []string, stdout io.Writer) error {
	fs := newFlags("bench serve", "bench serve --models DIR --model NAME --image FILE [--duration 60s] [--factor 10]", stdout)
	models := fs.String("models", "", "models folder (as for vigil serve)")
	model := fs.String("model", "", "model to load-test")
	image := fs.String("image", "", "image file sent with every request")
	backboneDir := fs.String("backbone-dir", "", "folder searched first for the models' backbones")
	workers := fs.Int("workers", 2, "server workers")
	queue := fs.Int("queue", 0, "server queue (default 4 x workers)")
	capacityFor := fs.Duration("capacity-for", 15*time.Second, "how long capacity is measured (closed loop, workers+queue clients)")
	duration := fs.Duration("duration", 60*time.Second, "length of the open-loop overload")
	factor := fs.Float64("factor", 10, "overload: arrival rate as a multiple of the measured capacity")
	timeout := fs.Duration("timeout", 30*time.Second, "server per-request deadline")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *models == "" || *model == "" || *image == "" {
		return usagef("--models, --model and --image are required")
	}
	if *duration <= 0 || *capacityFor <= 0 || *factor <= 0 || *workers < 1 || *queue < 0 {
		return usagef("--duration, --capacity-for and --factor must be positive, --workers at least 1")
	}
	img, err := os.ReadFile(*image)
	if err != nil {
		return usagef("--image: %v", err)
	}
	res, err := server.LoadTest(context.Background(), server.LoadOptions{
		Config: server.Config{ModelsDir: *models, BackboneDir: absDir(*backboneDir), Workers: *workers, Queue: *queue,
			Timeout: *timeout, Reload: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Model: *model, Image: img, CapacityFor: *capacityFor, Duration: *duration, Factor: *factor,
		Log: func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) },
	})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprint(stdout, res.String())
	if !res.OK() {
		return fmt.Errorf("the server answered other than 200/429 or dropped connections")
	}
	return nil
}
