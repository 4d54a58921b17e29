package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/training"
)

// runWorker is "trainer run": claim retrain jobs until ctx ends.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	cfg := config.DefaultTrainer()
	if err := config.LoadNoArgs("trainer run", cfg, args, getenv, stdout); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr)
	if err != nil {
		return err
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return errors.New("run: set kafka.brokers: the trainer replays training data " +
			"from the detector's samples topic")
	}
	wc, err := workerConfig(cfg)
	if err != nil {
		return err
	}
	s, err := store.Connect(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer s.Close()
	if cfg.Database.Migrate {
		if _, err := s.Migrate(ctx); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(
		collectors.ProcessCollectorOpts{}))
	w, err := training.NewWorker(s, wc, log, reg)
	if err != nil {
		return err
	}
	if cfg.MetricsAddr == "" {
		return w.Run(ctx)
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("run: listen on %s: %w", cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving metrics", "addr", ln.Addr().String())
	runErr := w.Run(ctx)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	shutErr := srv.Shutdown(shutCtx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		shutErr = errors.Join(shutErr, err)
	}
	return errors.Join(runErr, shutErr)
}

// workerConfig turns the settings into the worker's configuration.
func workerConfig(cfg *config.Trainer) (training.WorkerConfig, error) {
	// The library reads 0 as its default; from a flag it is a mistake.
	switch {
	case cfg.Poll <= 0:
		return training.WorkerConfig{}, fmt.Errorf("poll %v: want a positive duration", cfg.Poll)
	case cfg.RequeueAfter <= 0:
		return training.WorkerConfig{}, fmt.Errorf("requeue_after %v: want a positive duration",
			cfg.RequeueAfter)
	}
	opt, err := fitOptions(cfg.Model, "")
	if err != nil {
		return training.WorkerConfig{}, err
	}
	p := cfg.Training
	return training.WorkerConfig{ID: cfg.ID, Brokers: cfg.Kafka.Brokers,
		Topic: cfg.Kafka.SamplesTopic, Poll: cfg.Poll, RequeueAfter: cfg.RequeueAfter,
		Fit:             opt,
		Policy:          training.Policy{Margin: p.PromoteMargin, KSTolerance: p.KSTolerance},
		Holdout:         p.Holdout,
		Lookback:        p.Lookback,
		LookbackSteps:   p.LookbackSteps,
		MaxFlaggedShare: p.MaxFlaggedShare}, nil
}
