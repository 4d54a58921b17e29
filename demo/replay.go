package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/timeseries"
)

// ReadCSV reads a NAB-format CSV file (timestamp,value; zone-less times
// are UTC) as one series named after the file.
func ReadCSV(path string) ([]timeseries.Sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	dec, err := timeseries.NewCSVDecoder(timeseries.CSVConfig{
		Series: timeseries.NewSeriesID(name, nil)})
	if err != nil {
		return nil, fmt.Errorf("demo: %s: %w", path, err)
	}
	ss, err := dec.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("demo: %s: %w", path, err)
	}
	if len(ss) < 2 {
		return nil, fmt.Errorf("demo: %s: %d samples, want at least 2", path, len(ss))
	}
	return ss, nil
}

// MedianStep returns the median spacing of consecutive samples, the grid
// step the data was recorded at. It is zero for fewer than two samples.
func MedianStep(ss []timeseries.Sample) time.Duration {
	if len(ss) < 2 {
		return 0
	}
	d := make([]time.Duration, 0, len(ss)-1)
	for i := 1; i < len(ss); i++ {
		d = append(d, ss[i].Time.Sub(ss[i-1].Time))
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// Merge returns the samples of every series in one list ordered by time,
// as producers would have written them; ties keep the order of the
// arguments.
func Merge(series ...[]timeseries.Sample) []timeseries.Sample {
	var out []timeseries.Sample
	for _, s := range series {
		out = append(out, s...)
	}
	slices.SortStableFunc(out, func(a, b timeseries.Sample) int { return a.Time.Compare(b.Time) })
	return out
}

// LastStep returns the time of the newest grid step a detector emits for
// ss (one series, in time order) on a grid of step. With no lateness a
// step is final only once a sample of a later step arrives, so the step
// of the last sample is never emitted: the newest emitted step is the one
// of the last sample in an earlier step. ok is false when every sample
// falls into one step.
func LastStep(ss []timeseries.Sample, step time.Duration) (t time.Time, ok bool) {
	if len(ss) == 0 || step <= 0 {
		return time.Time{}, false
	}
	last := ss[len(ss)-1].Time.Truncate(step)
	for i := len(ss) - 2; i >= 0; i-- {
		if s := ss[i].Time.Truncate(step); s.Before(last) {
			return s, true
		}
	}
	return time.Time{}, false
}

// ReplayConfig configures Replay.
type ReplayConfig struct {
	Brokers []string
	Topic   string
	// Speed is how much event time passes per unit of wall time: 600
	// replays 5 minutes of data in half a second. Zero writes as fast as
	// the pipeline takes the samples. The time Ahead holds the replay
	// does not count.
	Speed float64
	// Consumed reports how many of the written samples the pipeline has
	// taken so far.
	Consumed func() int64
	// Ahead is called before each batch. It may block, to hold the replay
	// until a model is ready, and returns how many written samples may be
	// waiting unconsumed before the next batch is written (at least 1).
	Ahead func(ctx context.Context) (int, error)
	// Batch is the most samples written at once (default 500).
	Batch int
}

// Replay writes samples (in time order) to the topic as canonical JSON
// keyed by series, so that one series stays in one partition and in
// order, pacing them as cfg says. It returns the number written.
func Replay(ctx context.Context, cfg ReplayConfig, samples []timeseries.Sample) (int, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Consumed == nil || cfg.Ahead == nil {
		return 0, errors.New("demo: replay needs brokers, a topic, Consumed and Ahead")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.Topic,
		Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, BatchSize: cfg.Batch,
		RequiredAcks: kafka.RequireAll}
	defer w.Close()

	start := time.Now()
	msgs := make([]kafka.Message, 0, cfg.Batch)
	written := 0
	for written < len(samples) {
		held := time.Now()
		ahead, err := cfg.Ahead(ctx)
		if err != nil {
			return written, err
		}
		// Event time stands still while Ahead holds the replay.
		start = start.Add(time.Since(held))
		ahead = max(ahead, 1)
		for int64(written)-cfg.Consumed() >= int64(ahead) {
			if !sleep(ctx, 5*time.Millisecond) {
				return written, ctx.Err()
			}
		}
		n := min(cfg.Batch, len(samples)-written, ahead-int(int64(written)-cfg.Consumed()))
		n = max(n, 1)
		if cfg.Speed > 0 {
			// Write what is due by now, waiting for the next sample if
			// nothing is.
			t0 := samples[0].Time
			due := func(i int) time.Time {
				return start.Add(time.Duration(float64(samples[i].Time.Sub(t0)) / cfg.Speed))
			}
			if !sleep(ctx, time.Until(due(written))) {
				return written, ctx.Err()
			}
			k := 1
			for k < n && !due(written+k).After(time.Now()) {
				k++
			}
			n = k
		}
		msgs = msgs[:0]
		for _, s := range samples[written : written+n] {
			msgs = append(msgs, kafka.Message{Key: []byte(s.Series.Key()),
				Value: timeseries.Encode(&s)})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return written, fmt.Errorf("demo: write to %s: %w", cfg.Topic, err)
		}
		written += n
	}
	return written, nil
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
