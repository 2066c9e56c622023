// Package server is 'vigil serve': an HTTP API over the fitted models in a
// folder (scoring goes through the pipeline package), an embedded web UI,
// Prometheus metrics, and bounded behaviour under overload: a fixed pool
// of scoring workers behind a bounded queue, 429 with Retry-After when it
// is full, per-request deadlines, limits on request bytes and image pixels
// checked before decoding, and a graceful drain on shutdown.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures a Server. Zero values take the defaults below.
type Config struct {
	ModelsDir   string // folder of model files (required)
	BackboneDir string // searched first for the models' backbones
	ReportsDir  string // folder of HTML reports from 'vigil test --report' ("": ModelsDir)
	// Workers score requests concurrently (default 2; each detector call
	// already uses every core for its matrix products).
	Workers int
	// Queue is the number of admitted requests that may wait for a worker
	// (default 4×Workers); beyond it requests get 429.
	Queue     int
	MaxBytes  int64         // request body limit (default 32 MiB)
	MaxPixels int           // per image, checked on the header (default 50 MP)
	MaxImages int           // images per request (default 16)
	Timeout   time.Duration // per-request deadline, queueing included (default 30 s)
	// Reload is how often the folder is checked for new, changed and
	// removed model files (default 2 s; negative: never).
	Reload time.Duration
	MapTTL time.Duration // lifetime of a map fetched by URL (default 60 s)
	// Token, when not empty, is required as "Authorization: Bearer TOKEN"
	// (or the vigil_token cookie the web UI sets) on every route but
	// /healthz, /readyz and the UI's static files.
	Token string
	// CORS is the one origin allowed to call the API from a browser ("*":
	// any); empty: no CORS headers at all.
	CORS string
	// Remote, when set, scores every image through it (vigil serve --nats:
	// the worker queue) instead of in this process; the models are still
	// loaded here for their metadata and names. Workers then bounds the
	// requests waiting on the queue, and responses carry no maps.
	Remote Remote
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.Queue <= 0 {
		c.Queue = 4 * c.Workers
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 32 << 20
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = 50_000_000
	}
	if c.MaxImages <= 0 {
		c.MaxImages = 16
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Reload == 0 {
		c.Reload = 2 * time.Second
	}
	if c.MapTTL <= 0 {
		c.MapTTL = 60 * time.Second
	}
	if c.ReportsDir == "" {
		c.ReportsDir = c.ModelsDir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// ReadToken reads a bearer token from a file (surrounding white space
// dropped); an empty file is an error, not "no token".
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	if strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("token file %s: the token must be one word", path)
	}
	return t, nil
}

// Server serves the models of one folder.
type Server struct {
	cfg      Config
	log      *slog.Logger
	reg      *registry
	met      *metrics
	pool     *pool
	maps     *mapStore
	handler  http.Handler
	draining atomic.Bool
	tokenSum [32]byte
}

// New checks the configuration and builds a server; models load when
// Start is called (until then /readyz and predictions answer 503).
func New(cfg Config) (*Server, error) {
	if cfg.ModelsDir == "" {
		return nil, errors.New("the models folder is required")
	}
	cfg.defaults()
	if st, err := os.Stat(cfg.ReportsDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("reports folder %s is not a folder", cfg.ReportsDir)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, met: newMetrics()}
	var err error
	if s.reg, err = newRegistry(cfg.ModelsDir, cfg.BackboneDir, s.log, s.met); err != nil {
		return nil, err
	}
	s.pool = newPool(cfg.Workers, cfg.Queue, s.met)
	s.maps = newMapStore(cfg.MapTTL, 256<<20)
	if cfg.Token != "" {
		s.tokenSum = sha256.Sum256([]byte(cfg.Token))
	}
	s.handler = s.routes()
	return s, nil
}

// Start loads the models in the background and then watches the folder
// until ctx ends.
func (s *Server) Start(ctx context.Context) {
	go func() {
		s.reg.scan(ctx)
		s.log.Info("models ready", "n", len(s.reg.list()), "dir", s.reg.dir)
		if s.cfg.Reload > 0 {
			s.reg.watch(ctx, s.cfg.Reload)
		}
	}()
}

// Rescan checks the models folder now (tests; the watcher does it
// periodically).
func (s *Server) Rescan(ctx context.Context) { s.reg.scan(ctx) }

// Ready reports whether the first load of the models is complete.
func (s *Server) Ready() bool { return s.reg.ready.Load() }

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain marks the server as going away: /readyz answers 503 so a load
// balancer stops sending; requests in flight still finish.
func (s *Server) Drain() { s.draining.Store(true) }

// route is one entry of the server's routing table.
type route struct {
	pattern string   // ServeMux pattern
	name    string   // latency metric label
	auth    bool     // needs the token when one is set
	api     []string // its paths in the OpenAPI document (none: not part of the API)
	fn      http.HandlerFunc
}

func (s *Server) routeTable() []route {
	return []route{
		{"/healthz", "healthz", false, []string{"/healthz"}, s.methods(s.healthz, "GET", "HEAD")},
		{"/readyz", "readyz", false, []string{"/readyz"}, s.methods(s.readyz, "GET", "HEAD")},
		{"/metrics", "metrics", true, []string{"/metrics"}, s.methods(promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{}).ServeHTTP, "GET")},
		{"/openapi.json", "openapi", true, []string{"/openapi.json"}, s.methods(s.openapi, "GET")},
		{"/v1/models", "models", true, []string{"/v1/models"}, s.methods(s.listModels, "GET")},
		{"/v1/models/{rest}", "predict", true, []string{"/v1/models/{name}", "/v1/models/{name}:predict"}, s.modelAction},
		{"/v1/maps/{id}", "maps", true, []string{"/v1/maps/{id}"}, s.methods(s.getMap, "GET")},
		{"/v1/reports", "reports", true, []string{"/v1/reports"}, s.methods(s.listReports, "GET")},
		// report pages load their pictures by relative URL: the browser
		// sends the UI's cookie, not a header
		{"/reports/", "report_files", true, nil, s.methods(s.reportFiles, "GET", "HEAD")},
		// the UI's files hold no data; the UI asks for the token and
		// sends it with every API call
		{"/ui/", "ui", false, nil, s.methods(s.uiFiles, "GET", "HEAD")},
		{"/{$}", "root", false, nil, s.methods(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/ui/", http.StatusFound)
		}, "GET", "HEAD")},
		{"/", "unknown", false, nil, func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "not_found", "no route %s %s", r.Method, r.URL.Path)
		}},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		var h http.Handler = rt.fn
		if rt.auth {
			h = s.authorize(h)
		}
		mux.Handle(rt.pattern, s.instrument(rt.name, h))
	}
	return s.recoverer(s.cors(mux))
}

// apiError is the body of every error response.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers with a JSON error: a stable code for programs and a
// message naming the problem for people.
func writeError(w http.ResponseWriter, status int, code, format string, a ...any) {
	var e apiError
	e.Error.Code, e.Error.Message = code, fmt.Sprintf(format, a...)
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"could not encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// methods refuses other methods with a JSON 405 (ServeMux's own answer is
// plain text).
func (s *Server) methods(fn http.HandlerFunc, allowed ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, m := range allowed {
			if r.Method == m {
				fn(w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
			r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
}

// authorize requires the bearer token when one is configured. Both sides
// are hashed first so the comparison takes the same time whatever the
// length of the guess.
func (s *Server) authorize(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			if c, err := r.Cookie("vigil_token"); err == nil {
				if v, err := url.PathUnescape(c.Value); err == nil {
					got, ok = v, true
				}
			}
		}
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) != 1 {
			s.met.rejected.WithLabelValues("unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required (Authorization: Bearer TOKEN)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cors adds the CORS headers for the configured origin only; without
// --cors a browser on another origin cannot read any response.
func (s *Server) cors(next http.Handler) http.Handler {
	if s.cfg.CORS == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (s.cfg.CORS == "*" || origin == s.cfg.CORS) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "Retry-After")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a JSON 500 without the stack (which goes
// to the log only).
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(buf))
				writeError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// modelLabel carries the (known) model name from a handler to the
// latency metric.
type modelLabelKey struct{}

func setModelLabel(r *http.Request, name string) {
	if p, ok := r.Context().Value(modelLabelKey{}).(*string); ok {
		*p = name
	}
}

// instrument records latency by route, model and status, and in-flight
// requests.
func (s *Server) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		s.met.inFlight.Inc()
		defer s.met.inFlight.Dec()
		model := new(string)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), modelLabelKey{}, model)))
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.met.latency.WithLabelValues(route, *model, strconv.Itoa(status)).Observe(time.Since(t0).Seconds())
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.draining.Load():
		writeError(w, http.StatusServiceUnavailable, "draining", "the server is shutting down")
	case !s.reg.ready.Load():
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "loading", "models are loading")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "models": len(s.reg.list())})
	}
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	if !s.reg.ready.Load() {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "loading", "models are loading")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": s.reg.list()})
}
