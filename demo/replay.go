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
// are UTC) as one series named after the file, in time order; see
// ReadCSVReport.
func ReadCSV(path string) ([]timeseries.Sample, error) {
	ss, _, err := ReadCSVReport(path)
	return ss, err
}

// CSVReport says how ReadCSVReport changed a file's rows.
type CSVReport struct {
	// Sorted is set when the rows were not in time order.
	Sorted bool
	// Duplicates is how many rows repeated an earlier row's timestamp
	// and were dropped.
	Duplicates int
}

// String describes the changes, or is empty when there were none.
func (r CSVReport) String() string {
	var parts []string
	if r.Sorted {
		parts = append(parts, "rows sorted by time")
	}
	if r.Duplicates > 0 {
		parts = append(parts, fmt.Sprintf("%d rows with a repeated timestamp dropped "+
			"(the first row of each timestamp kept)", r.Duplicates))
	}
	return strings.Join(parts, ", ")
}

// ReadCSVReport is ReadCSV, also reporting what it changed: rows out of
// time order are sorted (stably), because the detector's grid drops
// samples older than its lateness; of rows with one timestamp only the
// first in the file is kept, as the detector would.
func ReadCSVReport(path string) ([]timeseries.Sample, CSVReport, error) {
	var rep CSVReport
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, rep, fmt.Errorf("demo: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	dec, err := timeseries.NewCSVDecoder(timeseries.CSVConfig{
		Series: timeseries.NewSeriesID(name, nil)})
	if err != nil {
		return nil, rep, fmt.Errorf("demo: %s: %w", path, err)
	}
	ss, err := dec.Decode(b)
	if err != nil {
		return nil, rep, fmt.Errorf("demo: %s: %w", path, err)
	}
	byTime := func(a, b timeseries.Sample) int { return a.Time.Compare(b.Time) }
	if !slices.IsSortedFunc(ss, byTime) {
		rep.Sorted = true
		slices.SortStableFunc(ss, byTime)
	}
	n := len(ss)
	ss = slices.CompactFunc(ss, func(a, b timeseries.Sample) bool { return a.Time.Equal(b.Time) })
	rep.Duplicates = n - len(ss)
	if len(ss) < 2 {
		return nil, rep, fmt.Errorf("demo: %s: %d distinct times, want at least 2",
			path, len(ss))
	}
	return ss, rep, nil
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

// Unready counts the samples of ss (one series, in time order) that a
// detector with windows of w steps on a grid of step never scores even
// when every sample is accepted: those in the first w-1 steps, which
// complete no window, and those in the step of the last sample, which is
// never final.
func Unready(ss []timeseries.Sample, step time.Duration, w int) (filling, open int) {
	if len(ss) == 0 || step <= 0 {
		return 0, 0
	}
	first := ss[0].Time.Truncate(step)
	last := ss[len(ss)-1].Time.Truncate(step)
	fillEnd := first.Add(time.Duration(max(w-1, 0)) * step)
	for _, s := range ss {
		switch t := s.Time.Truncate(step); {
		case t.Equal(last):
			open++
		case t.Before(fillEnd):
			filling++
		}
	}
	return filling, open
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
	// Stall bounds how long Replay waits for the pipeline to take
	// written samples when Consumed does not move (default 1 minute):
	// Replay then fails instead of waiting forever.
	Stall time.Duration
}

// ErrStalled is returned by Replay when the pipeline took no sample for
// ReplayConfig.Stall.
var ErrStalled = errors.New("demo: the pipeline stopped taking samples")

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
	if cfg.Stall <= 0 {
		cfg.Stall = time.Minute
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
		last, moved := cfg.Consumed(), time.Now()
		for int64(written)-last >= int64(ahead) {
			if !sleep(ctx, 5*time.Millisecond) {
				return written, ctx.Err()
			}
			if c := cfg.Consumed(); c != last {
				last, moved = c, time.Now()
			} else if time.Since(moved) > cfg.Stall {
				return written, fmt.Errorf("%w: %d of %d written samples taken in %s",
					ErrStalled, last, written, cfg.Stall)
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
