package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions configure LoadTest.
type LoadOptions struct {
	Config      Config // the server's configuration
	Model       string // model to load-test
	Image       []byte // encoded image sent with every request
	Map         string // predict's map parameter ("" : inline)
	CapacityFor time.Duration
	Duration    time.Duration
	Factor      float64 // open-loop arrival rate = Factor × capacity
	Log         func(format string, a ...any)
}

// LoadResult is what a load test measured.
type LoadResult struct {
	Model      string `json:"model"`
	Method     string `json:"method"`
	Backbone   string `json:"backbone"`
	Workers    int    `json:"workers"`
	Queue      int    `json:"queue"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Map        string `json:"map"`
	ImageBytes int    `json:"image_bytes"`
	// Capacity is the closed-loop throughput (workers+1 clients, each
	// sending its next request when the last one is answered).
	Capacity    float64 `json:"capacity_images_per_s"`
	CapacityP50 float64 `json:"capacity_p50_ms"`
	// The open-loop phase: requests sent at fixed intervals whatever the
	// answers, Factor times the capacity.
	OfferedRate float64        `json:"offered_per_s"`
	Seconds     float64        `json:"seconds"`
	Sent        int            `json:"sent"`
	Status      map[string]int `json:"status"`  // by HTTP status code
	Dropped     int            `json:"dropped"` // transport errors: no HTTP answer
	Accepted    float64        `json:"accepted_per_s"`
	P50         float64        `json:"accepted_p50_ms"`
	P99         float64        `json:"accepted_p99_ms"`
	Max         float64        `json:"accepted_max_ms"`
	RejectP99   float64        `json:"rejected_p99_ms"`
	// RSS of this process (server and load generator together), MiB:
	// before the overload, the largest sampled during it, and the peak
	// over the process's life (VmHWM).
	RSSBefore  float64 `json:"rss_before_mib"`
	RSSPeak    float64 `json:"rss_peak_during_mib"`
	RSSHighest float64 `json:"vm_hwm_mib"`
	Goroutines int     `json:"max_goroutines"`
}

// OK reports whether every request was answered 200 or 429.
func (r *LoadResult) OK() bool {
	for code, n := range r.Status {
		if n > 0 && code != "200" && code != "429" {
			return false
		}
	}
	return r.Dropped == 0
}

func (r *LoadResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s (%s, backbone %q), %d workers, queue %d, GOMAXPROCS %d, map=%s, image %d bytes\n",
		r.Model, r.Method, r.Backbone, r.Workers, r.Queue, r.GOMAXPROCS, r.Map, r.ImageBytes)
	fmt.Fprintf(&b, "capacity (closed loop): %.2f images/s, p50 %.1f ms\n", r.Capacity, r.CapacityP50)
	codes := make([]string, 0, len(r.Status))
	for c := range r.Status {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s: %d", c, r.Status[c]))
	}
	fmt.Fprintf(&b, "open loop at %.1f requests/s for %.0f s: %d sent, %s, dropped %d\n", r.OfferedRate, r.Seconds, r.Sent, strings.Join(parts, ", "), r.Dropped)
	fmt.Fprintf(&b, "accepted %.2f images/s, latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; 429 p99 %.1f ms\n", r.Accepted, r.P50, r.P99, r.Max, r.RejectP99)
	fmt.Fprintf(&b, "RSS %.0f MiB before, %.0f MiB peak during the overload (VmHWM %.0f MiB); at most %d goroutines\n", r.RSSBefore, r.RSSPeak, r.RSSHighest, r.Goroutines)
	verdict := "OK: every request answered 200 or 429"
	if !r.OK() {
		verdict = "FAIL: answers other than 200/429, or dropped connections"
	}
	fmt.Fprintln(&b, verdict)
	return b.String()
}

// LoadTest serves the models on a loopback port in this process, measures
// the capacity for one model, then drives it open loop at Factor times
// that rate for Duration.
func LoadTest(ctx context.Context, o LoadOptions) (*LoadResult, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Map == "" {
		o.Map = "inline"
	}
	s, err := New(o.Config)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	sctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- s.Run(sctx, RunOptions{Listener: ln, DrainTimeout: 5 * time.Second}) }()
	defer func() { stop(); <-ran }()
	for !s.Ready() {
		time.Sleep(20 * time.Millisecond)
	}
	e, ok := s.reg.get(o.Model)
	if !ok {
		return nil, fmt.Errorf("model %q is not in %s (or does not load)", o.Model, o.Config.ModelsDir)
	}
	res := &LoadResult{Model: o.Model, Method: e.info.Method, Backbone: e.info.Backbone, Workers: s.cfg.Workers, Queue: s.cfg.Queue,
		GOMAXPROCS: runtime.GOMAXPROCS(0), Map: o.Map, ImageBytes: len(o.Image), Status: map[string]int{}}
	tr := &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: 4096, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: s.cfg.Timeout + 30*time.Second}
	url := base + "/v1/models/" + o.Model + ":predict?map=" + o.Map
	send := func() (int, time.Duration, error) {
		t0 := time.Now()
		resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(o.Image))
		if err != nil {
			return 0, 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(t0), nil
	}
	// warm up, and check that the image scores
	for range 2 {
		code, _, err := send()
		if err != nil {
			return nil, err
		}
		if code != 200 {
			return nil, fmt.Errorf("warm-up request answered %d", code)
		}
	}

	o.Log("measuring capacity for %s (closed loop, %d clients)...", o.CapacityFor, s.cfg.Workers+1)
	var mu sync.Mutex
	var capLat []float64
	var wg sync.WaitGroup
	t0 := time.Now()
	end := t0.Add(o.CapacityFor)
	var capErr error
	for range s.cfg.Workers + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				code, d, err := send()
				mu.Lock()
				if err != nil || code != 200 {
					if capErr == nil {
						capErr = fmt.Errorf("capacity phase: status %d, %v", code, err)
					}
					mu.Unlock()
					return
				}
				capLat = append(capLat, float64(d.Microseconds())/1000)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if capErr != nil {
		return nil, capErr
	}
	res.Capacity = float64(len(capLat)) / time.Since(t0).Seconds()
	res.CapacityP50 = percentile(capLat, 0.5)
	res.OfferedRate = o.Factor * res.Capacity
	o.Log("capacity %.2f images/s; open loop at %.1f requests/s for %s...", res.Capacity, res.OfferedRate, o.Duration)

	res.RSSBefore = procStatusMiB("VmRSS")
	var peak atomic.Int64
	var maxG atomic.Int64
	sampleDone := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleDone:
				return
			case <-t.C:
				if v := int64(procStatusMiB("VmRSS") * 1024); v > peak.Load() {
					peak.Store(v)
				}
				if g := int64(runtime.NumGoroutine()); g > maxG.Load() {
					maxG.Store(g)
				}
			}
		}
	}()
	var accepted, rejected []float64
	interval := time.Duration(float64(time.Second) / res.OfferedRate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= o.Duration {
			break
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		res.Sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, d, err := send()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Dropped++
				return
			}
			res.Status[strconv.Itoa(code)]++
			ms := float64(d.Microseconds()) / 1000
			switch code {
			case 200:
				accepted = append(accepted, ms)
			case 429:
				rejected = append(rejected, ms)
			}
		}()
	}
	wg.Wait()
	close(sampleDone)
	res.Seconds = time.Since(start).Seconds()
	res.Accepted = float64(len(accepted)) / res.Seconds
	res.P50, res.P99, res.Max = percentile(accepted, 0.5), percentile(accepted, 0.99), percentile(accepted, 1)
	res.RejectP99 = percentile(rejected, 0.99)
	res.RSSPeak = float64(peak.Load()) / 1024
	res.RSSHighest = procStatusMiB("VmHWM")
	res.Goroutines = int(maxG.Load())
	return res, nil
}

// percentile is the q-quantile (nearest rank) of v; 0 for none.
func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	k := int(q*float64(len(s))+0.999999) - 1
	return s[min(len(s)-1, max(0, k))]
}

// procStatusMiB reads a kB field of /proc/self/status in MiB (0 where
// there is no /proc).
func procStatusMiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
