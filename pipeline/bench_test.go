package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// timedModel measures the time a model spends scoring.
type timedModel struct {
	Model
	nanos   atomic.Int64
	windows atomic.Int64
}

func (t *timedModel) Score(ctx context.Context, b *Batch, out *Scores) error {
	start := time.Now()
	err := t.Model.Score(ctx, b, out)
	t.nanos.Add(int64(time.Since(start)))
	t.windows.Add(int64(b.N))
	return err
}

// defaultFlow is an untrained flow of the detector's default shape (W 16,
// one channel, flowmodel.DefaultSpec): training changes its weights, not
// its cost.
func defaultFlow(b *testing.B, grid timeseries.Config) Model {
	b.Helper()
	f, err := flowmodel.New(flowmodel.DefaultSpec(grid.Window, 1, 0), 1)
	if err != nil {
		b.Fatal(err)
	}
	cal := make([]float64, 1000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range cal {
		cal[i] = 1 + rng.ExpFloat64()
	}
	sort.Float64s(cal)
	m, err := scorer.New(f, scorer.Meta{Format: scorer.FormatVersion, Group: DefaultGroup,
		Features: scorer.Features{Window: grid.Window, Channels: 1, Step: grid.Step,
			MaxFill: grid.MaxFill},
		Norm:        timeseries.Normaliser{Loc: []float64{20}, Scale: []float64{1.5}},
		Calibration: cal})
	if err != nil {
		b.Fatal(err)
	}
	fm, err := FlowModel(m, 1, grid)
	if err != nil {
		b.Fatal(err)
	}
	return fm
}

// BenchmarkEndToEnd streams points of 1,000 series through ingest and the
// detector with a default-size flow and PostgreSQL, and reports events/s
// from the input topic to scored, written results, next to the model-only
// scoring rate of the same run.
func BenchmarkEndToEnd(b *testing.B) {
	const series, points = 1000, 48
	bk, err := embedkafka.Start(embedkafka.Config{Partitions: 8,
		Topics: []string{inputTopic, samplesTopic, deadTopic}})
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	ctx := context.Background()
	s, err := store.Open(ctx, pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	grid := timeseries.Config{Step: time.Minute, Window: 16, MaxFill: 3,
		Fill: timeseries.FillLinear}
	model := &timedModel{Model: defaultFlow(b, grid)}
	models := &staticModels{}
	models.set(DefaultGroup, model)
	data := newDataset(5, series, points*(b.N+1))
	e := &env{broker: bk.Addr(), store: s}

	in, err := NewIngest(IngestConfig{Brokers: []string{e.broker}, Topics: []string{inputTopic},
		Group: "ingest", Decoder: timeseries.NewJSONDecoder(timeseries.JSONConfig{}),
		SamplesTopic: samplesTopic, DeadLetterTopic: deadTopic}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	stopIngest := stage(in.Run)
	defer stopIngest()
	cfg := detectorConfig(e.broker)
	cfg.Grid, cfg.BatchSize, cfg.BatchWait = grid, 2000, 50*time.Millisecond
	m := NewMetrics(nil)
	lw := newLatencyWriter(s, series)
	d, err := NewDetector(cfg, lw, models, nil, m, nil)
	if err != nil {
		b.Fatal(err)
	}
	stopDetector := stage(d.Run)
	defer stopDetector()

	produce := func(from, to int) {
		w := &kafka.Writer{Addr: kafka.TCP(e.broker), Topic: inputTopic,
			Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, BatchSize: 1000,
			RequiredAcks: kafka.RequireAll}
		defer w.Close()
		if err := w.WriteMessages(ctx, data.messages(from, to)...); err != nil {
			b.Fatal(err)
		}
	}
	scored := func() float64 { return value(m.scored.WithLabelValues(DefaultGroup)) }
	await := func(target float64) {
		deadline := time.Now().Add(2 * time.Minute)
		for scored() < target {
			if time.Now().After(deadline) {
				b.Fatalf("scored %v of %v points after 2 minutes (messages %v, unscored %v, "+
					"too late %v)", scored(), target, value(m.messages),
					value(m.unscored.WithLabelValues(DefaultGroup)),
					value(m.rejected.WithLabelValues("too_late")))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Warm up: fill every window, so each timed event is a scored point.
	produce(0, points)
	target := float64(series * (points - grid.Window))
	await(target)
	model.nanos.Store(0)
	model.windows.Store(0)

	b.ResetTimer()
	start := time.Now()
	var events int
	for i := 1; i <= b.N; i++ {
		produce(i*points, (i+1)*points)
		events += series * points
		target += float64(series * points)
		await(target)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	e2e := float64(events) / elapsed.Seconds()
	modelOnly := float64(model.windows.Load()) / (float64(model.nanos.Load()) / 1e9)

	// Latency at half the rate just measured: one step of every series at
	// a time, paced, for about three seconds.
	next := (b.N + 1) * points
	extra := newDataset(5, series, next+60)
	data.vals = extra.vals
	pace := time.Duration(float64(time.Second) * series / (e2e / 2))
	steps := min(60, max(10, int(3*time.Second/pace)))
	for i := next; i < next+steps; i++ {
		tick := time.Now()
		lw.produce(data.t0.Add(time.Duration(i)*time.Minute), time.Minute)
		produce(i, i+1)
		time.Sleep(pace - time.Since(tick))
	}
	target += float64(series * steps)
	await(target)
	p50, p99, n := lw.quantiles()

	b.ReportMetric(e2e, "events/s")
	b.ReportMetric(modelOnly, "model-windows/s")
	b.ReportMetric(100*e2e/modelOnly, "%-of-model")
	b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
	b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
	fmt.Printf("end to end %.0f events/s, model only %.0f windows/s (%.0f%%); at %.0f "+
		"events/s produce-to-row p50 %v p99 %v over %d steps\n", e2e, modelOnly,
		100*e2e/modelOnly, series/pace.Seconds(), p50, p99, n)
}
