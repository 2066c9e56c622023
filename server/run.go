package server

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"
)

//go:embed ui
var uiFS embed.FS

//go:embed openapi.json
var openapiJSON []byte

// OpenAPI returns the API's OpenAPI 3.1 document.
func OpenAPI() []byte { return openapiJSON }

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiJSON)
}

// uiFiles serves the embedded web UI: plain files, no build step, nothing
// fetched from elsewhere (the CSP says so to the browser too).
func (s *Server) uiFiles(w http.ResponseWriter, r *http.Request) {
	sub, _ := fs.Sub(uiFS, "ui")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-cache")
	http.StripPrefix("/ui/", http.FileServerFS(sub)).ServeHTTP(w, r)
}

// RunOptions configure Run.
type RunOptions struct {
	Addr            string       // e.g. ":8080"
	Listener        net.Listener // used instead of Addr when set (tests)
	TLSCert, TLSKey string       // both or neither
	// DrainTimeout bounds how long a shutdown waits for requests in
	// flight (default: the request timeout plus 5 s).
	DrainTimeout time.Duration
	// OnListen is called with the listening address once the server
	// accepts connections.
	OnListen func(addr string)
}

// Run loads and watches the models and serves until ctx ends (SIGTERM in
// vigil serve); then it stops accepting connections, reports not ready,
// lets the requests in flight finish and returns.
func (s *Server) Run(ctx context.Context, o RunOptions) error {
	var tlsCfg *tls.Config
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("TLS needs both a certificate and a key")
	}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return fmt.Errorf("TLS certificate/key: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Addr); err != nil {
			return err
		}
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.Timeout + 30*time.Second,
		WriteTimeout:      s.cfg.Timeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	bg, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	s.Start(bg)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if o.OnListen != nil {
		o.OnListen(ln.Addr().String())
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", tlsCfg != nil, "models", s.cfg.ModelsDir)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	s.Drain()
	drain := o.DrainTimeout
	if drain <= 0 {
		drain = s.cfg.Timeout + 5*time.Second
	}
	s.log.Info("draining: no new connections, waiting for requests in flight", "timeout", drain)
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("drain: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("drained")
	return nil
}
