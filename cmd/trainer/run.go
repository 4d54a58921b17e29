package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"

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
	config.WarnUnknownEnv(log, environ())
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
	if _, err := s.EnsureSchema(ctx, cfg.Database.Migrate); err != nil {
		return err
	}
	checkKafka(ctx, log, cfg.Kafka.Brokers, cfg.Kafka.SamplesTopic)
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

// kafkaCheckTimeout bounds the look at the brokers when the trainer
// starts; a variable for tests.
var kafkaCheckTimeout = 5 * time.Second

// checkKafka asks the brokers for the samples topic's metadata and logs a
// warning when none answers or the topic is missing. The trainer runs on
// either way: Kafka may come up after it, and jobs are replayed only when
// claimed; but a trainer that cannot reach its data would otherwise say so
// only when its first job fails, which may be hours later.
func checkKafka(ctx context.Context, log *slog.Logger, brokers []string, topic string) {
	ctx, cancel := context.WithTimeout(ctx, kafkaCheckTimeout)
	defer cancel()
	type answer struct {
		res *kafka.MetadataResponse
		err error
	}
	answers := make(chan answer, len(brokers))
	for _, b := range brokers {
		go func() {
			cl := &kafka.Client{Addr: kafka.TCP(b), Timeout: kafkaCheckTimeout}
			res, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
			if err != nil {
				err = fmt.Errorf("%s: %w", b, err)
			}
			answers <- answer{res, err}
		}()
	}
	var errs []error
	for range brokers {
		a := <-answers
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		for _, t := range a.res.Topics {
			if t.Name == topic && t.Error != nil {
				log.Warn("the samples topic is not on the kafka brokers; retrain jobs will "+
					"find no data until a detector creates it", "topic", topic,
					"brokers", brokers, "err", t.Error)
				return
			}
		}
		log.Info("kafka brokers reachable", "brokers", brokers, "topic", topic)
		return
	}
	log.Warn("cannot reach any kafka broker; retrain jobs will fail until one answers",
		"brokers", brokers, "timeout", kafkaCheckTimeout, "err", errors.Join(errs...))
}

// workerConfig turns the settings into the worker's configuration;
// config.Load has checked their ranges.
func workerConfig(cfg *config.Trainer) (training.WorkerConfig, error) {
	opt, err := fitOptions(cfg.Model, "")
	if err != nil {
		return training.WorkerConfig{}, err
	}
	p := cfg.Training
	share := p.MaxFlaggedShare
	if share == 0 {
		// The library reads 0 as its default; the setting's 0 means that
		// flagged points are always trained on, which any share below one
		// flag in a series does too.
		share = math.SmallestNonzeroFloat64
	}
	return training.WorkerConfig{ID: cfg.ID, Brokers: cfg.Kafka.Brokers,
		Topic: cfg.Kafka.SamplesTopic, Poll: cfg.Poll, RequeueAfter: cfg.RequeueAfter,
		Fit:             opt,
		Policy:          training.Policy{Margin: p.PromoteMargin, KSTolerance: p.KSTolerance},
		Holdout:         p.Holdout,
		Lookback:        p.Lookback,
		LookbackSteps:   p.LookbackSteps,
		MaxFlaggedShare: share}, nil
}
