package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-ad/vigil/monitor"
	"github.com/vigil-ad/vigil/pipeline"
	"github.com/vigil-ad/vigil/worker"
)

// AlarmSubject is where vigil monitor publishes alarms (JSON) when given
// --nats.
const AlarmSubject = "vigil.alarms"

func cmdMonitor(args []string, stdout io.Writer) error {
	fs := newFlags("monitor", "monitor (--reference FILE | --model M) (--scores FILE | IMAGE_FOLDER...) [--arl0 500] [--json]", stdout)
	reference := fs.String("reference", "", "CSV of in-control (normal) scores: the reference")
	model := fs.String("model", "", "model file: its validation scores are the reference; with folders, it scores them")
	backboneDir := fs.String("backbone-dir", "", "folder searched first for the model's backbone")
	scoresFile := fs.String("scores", "", "scores in time order: CSV (score[,stream][,name] by header, or one number a line) or a 'vigil submit' results.json")
	d := monitor.DefaultConfig()
	arl0 := fs.Float64("arl0", d.ARL0, "target mean number of normal images between false alarms")
	k := fs.Float64("k", d.K, "CUSUM allowance in standard deviations (half the shift detected fastest)")
	runs := fs.Int("mc-runs", d.Runs, "Monte Carlo in-control runs per trial threshold")
	seed := fs.Uint64("seed", d.Seed, "seed of the Monte Carlo resampling")
	natsURL := fs.String("nats", "", "also publish each alarm as JSON on subject "+AlarmSubject+" of this NATS server")
	follow := fs.Bool("follow", false, "read the scores live from the workers' results stream on --nats (until interrupted) instead of --scores")
	fromStart := fs.Bool("from-start", false, "with --follow: first replay the results the stream still holds")
	streamBy := fs.String("stream-by", "folder", "with --follow: one stream per image folder (folder) or per model (model)")
	metricsAddr := fs.String("metrics-listen", "", "serve Prometheus metrics (vigil_monitor_alarms_total, vigil_monitor_cusum) on HOST:PORT/metrics while running")
	asJSON := fs.Bool("json", false, "print alarms and the summary as one JSON object")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if (*reference == "") == (*model == "") {
		return usagef("give one reference: --reference FILE or --model M")
	}
	if *follow {
		if *natsURL == "" || *scoresFile != "" || fs.NArg() > 0 {
			return usagef("--follow reads the results stream of --nats URL; give no --scores or folders with it")
		}
		if *streamBy != "folder" && *streamBy != "model" {
			return usagef("--stream-by is folder or model, got %q", *streamBy)
		}
	} else if (*scoresFile == "") == (fs.NArg() == 0) {
		return usagef("give the scores: --scores FILE, image folders (with --model) or --follow")
	}
	if fs.NArg() > 0 && *model == "" {
		return usagef("scoring image folders needs --model")
	}
	var ref []float64
	var m *pipeline.Model
	if *model != "" {
		var err error
		if m, err = pipeline.LoadModel(*model, absDir(*backboneDir)); err != nil {
			return err
		}
		ref = m.Calib.ValScores
	} else {
		ps, err := readPoints(*reference)
		if err != nil {
			return err
		}
		for _, p := range ps {
			ref = append(ref, p.Score)
		}
	}
	var points []monitor.Point
	if *follow {
		// scores come later, from the stream
	} else if *scoresFile != "" {
		var err error
		if points, err = readPoints(*scoresFile); err != nil {
			return err
		}
	} else {
		// folders in time order: file names sorted (timestamps), one
		// stream per folder given
		for _, dir := range fs.Args() {
			res, err := pipeline.Predict(context.Background(), pipeline.PredictOptions{Loaded: m, Paths: []string{dir}})
			if err != nil {
				return err
			}
			for _, r := range res.Rows {
				if r.Error != "" {
					return fmt.Errorf("%s: %s", r.Path, r.Error)
				}
				points = append(points, monitor.Point{Stream: filepath.Clean(dir), Name: r.Path, Score: r.Score})
			}
		}
	}
	c, err := monitor.Calibrate(ref, monitor.Config{ARL0: *arl0, K: *k, Runs: *runs, Seed: *seed})
	if err != nil {
		return usagef("%v", err)
	}
	mon := monitor.NewMonitor(c)
	met := monitor.NewMetrics()
	if *metricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(met)
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return err
		}
		defer ln.Close()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		go http.Serve(ln, mux)
	}
	var nc *nats.Conn
	if *natsURL != "" {
		if nc, err = nats.Connect(*natsURL, nats.Name("vigil-monitor")); err != nil {
			return fmt.Errorf("nats %s: %w", *natsURL, err)
		}
		defer nc.Close()
	}
	var alarms []monitor.Alarm
	mon.OnAlarm = func(a monitor.Alarm) {
		alarms = append(alarms, a)
		if nc != nil {
			b, _ := json.Marshal(a)
			nc.Publish(AlarmSubject, b)
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "ALARM stream %q image %d %s: score %.6g, CUSUM %.3f > h %.3f after %d images\n",
				a.Stream, a.Index, a.Name, a.Score, a.Statistic, c.H, a.RunLength)
		}
	}
	for _, p := range points {
		a, err := mon.Observe(p.Stream, p.Name, p.Score)
		if err != nil {
			return err
		}
		met.Record(mon, p.Stream, a)
	}
	if *follow {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		q, err := worker.Connect(ctx, *natsURL, "vigil-monitor", worker.DefaultConfig())
		if err != nil {
			return err
		}
		defer q.Close()
		var obsErr error
		err = worker.FollowResults(ctx, q, *fromStart, func(r *worker.Result) {
			stream := r.Model
			if *streamBy == "folder" && r.Path != "" {
				stream = filepath.Dir(r.Path)
			}
			a, err := mon.Observe(stream, r.Path, r.Score)
			if err != nil && obsErr == nil {
				obsErr = err
				stop()
			}
			met.Record(mon, stream, a)
		})
		if obsErr != nil {
			return obsErr
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	if nc != nil {
		if err := nc.Flush(); err != nil {
			return fmt.Errorf("publishing alarms: %w", err)
		}
	}
	sum := mon.Summary()
	observed := mon.ObservedARL0()
	if *asJSON {
		if alarms == nil {
			alarms = []monitor.Alarm{}
		}
		return json.NewEncoder(stdout).Encode(map[string]any{
			"arl0_target": c.ARL0, "k": c.K, "h": c.H, "mc_arl0": c.MCARL0, "n_reference": len(ref),
			"n": len(points), "alarms": alarms, "streams": sum, "observed_arl0": observed})
	}
	fmt.Fprintf(stdout, "CUSUM k %.2f h %.4f for ARL0 %g (Monte Carlo %.1f) on %d reference scores\n", c.K, c.H, c.ARL0, c.MCARL0, len(ref))
	for _, s := range sum {
		obs := "no alarm"
		if s.ObservedARL0 != nil {
			obs = fmt.Sprintf("observed_arl0 %.1f", *s.ObservedARL0)
		}
		name := s.Stream
		if name == "" {
			name = "(one stream)"
		}
		fmt.Fprintf(stdout, "%-20s %d images, %d alarms, %s\n", name, s.N, s.Alarms, obs)
	}
	return nil
}

// readPoints reads scores from a CSV file or a 'vigil submit' results.json
// (entries in file order; failed images are skipped).
func readPoints(path string) ([]monitor.Point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !strings.EqualFold(filepath.Ext(path), ".json") {
		return monitor.ReadCSV(f, path)
	}
	var res worker.Results
	if err := json.NewDecoder(f).Decode(&res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []monitor.Point
	for _, e := range res.Entries {
		if e.Decision != "error" {
			out = append(out, monitor.Point{Name: e.Path, Score: e.Score})
		}
	}
	if len(out) == 0 {
		return nil, errors.New(path + ": no scored entries")
	}
	return out, nil
}
