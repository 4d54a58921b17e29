package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

// runDetector starts the detector and serves until ctx ends.
func runDetector(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	cfg := config.DefaultDetector()
	if _, err := config.Load("detector run", cfg, args, getenv, stdout); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr)
	if err != nil {
		return err
	}

	s, err := store.Connect(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer s.Close()
	if cfg.Database.Migrate {
		v, err := s.Migrate(ctx)
		if err != nil {
			return err
		}
		log.Info("schema ready", "version", v)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(
		collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ping(r.Context()); err != nil {
			http.Error(w, "postgres: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return serve(ctx, log, cfg, mux)
}

// serve runs the HTTP listener until ctx ends, then shuts it down within
// the configured time.
func serve(ctx context.Context, log *slog.Logger, cfg *config.Detector, h http.Handler) error {
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("detector started", "http_addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("detector stopping")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}
