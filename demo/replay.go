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
// are UTC) as one series named after the file, cleaned: rows in time
// order, the first row of each timestamp kept. The demo replays a file's
// rows as they are instead (ReadCSVRows), so that the detector treats them
// as the service would.
func ReadCSV(path string) ([]timeseries.Sample, error) {
	ss, _, err := ReadCSVRows(path)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(ss, byTime)
	ss = slices.CompactFunc(ss, func(a, b timeseries.Sample) bool { return a.Time.Equal(b.Time) })
	if len(ss) < 2 {
		return nil, fmt.Errorf("demo: %s: %d distinct times, want at least 2", path, len(ss))
	}
	return ss, nil
}

func byTime(a, b timeseries.Sample) int { return a.Time.Compare(b.Time) }

// CSVReport says which rows of a file a producer would send out of time
// order.
type CSVReport struct {
	// Backward counts rows older than the newest row before them;
	// BackFrom is the first such row's time and BackAfter the newest
	// time before it.
	Backward            int
	BackFrom, BackAfter time.Time
	// Repeated counts rows whose timestamp an earlier row has.
	Repeated int
}

// String describes the rows out of order, or is empty when there are none.
func (r CSVReport) String() string {
	var parts []string
	if r.Backward > 0 {
		parts = append(parts, fmt.Sprintf("%d rows go back in time (the first, %s, after %s)",
			r.Backward, r.BackFrom.UTC().Format("2006-01-02 15:04:05"),
			r.BackAfter.UTC().Format("2006-01-02 15:04:05")))
	}
	if r.Repeated > 0 {
		parts = append(parts, fmt.Sprintf("%d rows repeat an earlier row's timestamp",
			r.Repeated))
	}
	return strings.Join(parts, ", ")
}

// ReadCSVRows reads a NAB-format CSV file (timestamp,value; zone-less
// times are UTC) as one series named after the file, every row in file
// order, and reports the rows that are out of time order. Nothing is
// sorted or dropped: a producer sends rows as they come, and the
// detector's ingest sorts each batch it reads by time; its grid then
// averages rows that share a step and refuses a row whose step is already
// final.
func ReadCSVRows(path string) ([]timeseries.Sample, CSVReport, error) {
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
	seen := make(map[int64]bool, len(ss))
	var newest time.Time
	for i, s := range ss {
		if i > 0 && s.Time.Before(newest) {
			if rep.Backward == 0 {
				rep.BackFrom, rep.BackAfter = s.Time, newest
			}
			rep.Backward++
		}
		if k := s.Time.UnixNano(); seen[k] {
			rep.Repeated++
		} else {
			seen[k] = true
		}
		if i == 0 || s.Time.After(newest) {
			newest = s.Time
		}
	}
	if len(seen) < 2 {
		return nil, rep, fmt.Errorf("demo: %s: %d distinct times, want at least 2",
			path, len(seen))
	}
	return ss, rep, nil
}

// Merge returns the samples of every series in one list, as producers
// would have written them: ordered by time across series, each series'
// own samples in the order given (a series sent out of time order stays
// so); ties keep the order of the arguments.
func Merge(series ...[]timeseries.Sample) []timeseries.Sample {
	n := 0
	for _, s := range series {
		n += len(s)
	}
	out := make([]timeseries.Sample, 0, n)
	next := make([]int, len(series))
	for len(out) < n {
		pick := -1
		for i, s := range series {
			if next[i] < len(s) && (pick < 0 ||
				s[next[i]].Time.Before(series[pick][next[pick]].Time)) {
				pick = i
			}
		}
		out = append(out, series[pick][next[pick]])
		next[pick]++
	}
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

// Replay writes samples (in the order a producer sends them) to the topic as canonical JSON
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
