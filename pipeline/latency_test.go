package pipeline

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/flowguard/flowguard/store"
)

// latencyWriter records, per grid step, when the results of every series
// for that step were durable: the step's latency runs from the produce of
// the sample that completed it (the next step's) to that write.
type latencyWriter struct {
	ResultWriter
	series int

	mu       sync.Mutex
	produced map[time.Time]time.Time // step time -> when its completing sample was produced
	done     map[time.Time]int       // step time -> series written
	last     map[string]time.Time    // newest step written per series
	lat      []time.Duration
}

func newLatencyWriter(w ResultWriter, series int) *latencyWriter {
	return &latencyWriter{ResultWriter: w, series: series,
		produced: map[time.Time]time.Time{}, done: map[time.Time]int{},
		last: map[string]time.Time{}}
}

// produce notes that the samples of step t, completing step t-step, were
// produced now.
func (l *latencyWriter) produce(t time.Time, step time.Duration) {
	l.mu.Lock()
	l.produced[t.Add(-step)] = time.Now()
	l.mu.Unlock()
}

func (l *latencyWriter) SaveResults(ctx context.Context, r store.Results) (int64, error) {
	n, err := l.ResultWriter.SaveResults(ctx, r)
	if err != nil {
		return n, err
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// One write may carry several steps of a series; it holds the newest.
	for _, u := range r.Series {
		prev := l.last[u.Key]
		if !u.LastTS.After(prev) {
			continue
		}
		l.last[u.Key] = u.LastTS
		for t, start := range l.produced {
			if t.After(prev) && !t.After(u.LastTS) {
				if l.done[t]++; l.done[t] == l.series {
					l.lat = append(l.lat, now.Sub(start))
				}
			}
		}
	}
	return n, nil
}

// quantiles returns the p50 and p99 of the recorded latencies.
func (l *latencyWriter) quantiles() (p50, p99 time.Duration, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lat) == 0 {
		return 0, 0, 0
	}
	s := append([]time.Duration(nil), l.lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[(len(s)*99)/100], len(s)
}
