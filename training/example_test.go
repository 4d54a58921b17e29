package training_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/training"
)

// A trainer inside another process, such as a demo that also runs the
// broker and a detector: it shares the store and the metrics registry, and
// stops with the process.
func ExampleNewWorker() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := store.Connect(ctx, "")
	if err != nil {
		return
	}
	defer s.Close()

	cfg := training.DefaultWorkerConfig()
	cfg.Brokers, cfg.Topic = []string{"127.0.0.1:9092"}, "flowguard.samples"
	w, err := training.NewWorker(s, cfg, slog.Default(), prometheus.DefaultRegisterer)
	if err != nil {
		return
	}
	// Run blocks until ctx ends; a job in progress then goes back to the
	// queue. Start it on a goroutine of its own beside the other parts, and
	// wait for it to return before closing the store.
	_ = w.Run(ctx)
}
