package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/flowguard/flowguard/forecast"
	"github.com/flowguard/flowguard/scorer"
)

// DefaultRecentSteps is the number of grid steps per series the detector
// keeps for RecentValues when DetectorConfig.RecentSteps is zero.
const DefaultRecentSteps = 288

// recentStep is one grid step of a batch, on its way to the recent rings:
// its values are w.recentVals[off : off+C].
type recentStep struct {
	key   string
	group string
	t     int64 // Unix ns
	off   int
	c     int
}

// recent keeps a copy of the newest grid steps of every series, for the
// dashboard and the forecast endpoint. The grids themselves belong to the
// push side; the finish side copies each batch's steps in here under one
// lock, once per batch, so readers never touch the grids and scoring never
// waits on a reader for longer than one ring copy.
//
// Memory per series is size*(8 + 8*C) bytes of ring plus about 100 bytes
// of bookkeeping: 4.7 KB for one channel at the default 288 steps.
//
// TODO(flowguard): a seasonal lag longer than the ring leaves the forecast
// without the lag's history, and the forecast then takes the previous step
// in its place; size the ring from Grid.Lags once the detector sets them.
type recent struct {
	size int

	mu     sync.Mutex
	series map[string]*ring
	// models holds, per group, a clone of the champion's scorer model for
	// the forecast side, which clones it again per request; nil for a
	// model that is no flow.
	models map[string]*scorer.Model
}

// ring is the newest steps of one series, oldest first from head.
type ring struct {
	group  string
	c      int
	n      int // steps held, at most size
	head   int // index of the oldest step
	times  []int64
	values []float64
}

func newRecent(size int) *recent {
	return &recent{size: size, series: map[string]*ring{}, models: map[string]*scorer.Model{}}
}

// apply adds a batch's steps, in the order they were emitted, and then
// forgets the series in gone.
func (r *recent) apply(steps []recentStep, values []float64, gone []string) {
	if r.size <= 0 || (len(steps) == 0 && len(gone) == 0) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range steps {
		st := &steps[i]
		g := r.series[st.key]
		if g == nil || g.c != st.c {
			g = &ring{c: st.c, times: make([]int64, r.size),
				values: make([]float64, r.size*st.c)}
			r.series[st.key] = g
		}
		g.group = st.group
		g.push(st.t, values[st.off:st.off+st.c])
	}
	for _, key := range gone {
		delete(r.series, key)
	}
}

// push appends a step. A step not after the newest one held (a replay
// after a restart or a rebalance) first drops the held steps from its time
// on, so that the ring stays in time order.
func (g *ring) push(t int64, v []float64) {
	size := len(g.times)
	for g.n > 0 && g.times[(g.head+g.n-1)%size] >= t {
		g.n--
	}
	i := (g.head + g.n) % size
	if g.n == size {
		g.head = (g.head + 1) % size
	} else {
		g.n++
	}
	g.times[i] = t
	copy(g.values[i*g.c:(i+1)*g.c], v)
}

// copyOut returns the held steps, oldest first, as times and one flat
// slice of values.
func (g *ring) copyOut() ([]time.Time, []float64) {
	size := len(g.times)
	times := make([]time.Time, g.n)
	values := make([]float64, g.n*g.c)
	for k := range g.n {
		i := (g.head + k) % size
		times[k] = time.Unix(0, g.times[i]).UTC()
		copy(values[k*g.c:(k+1)*g.c], g.values[i*g.c:(i+1)*g.c])
	}
	return times, values
}

// setModel publishes the forecast copy of group's model.
func (r *recent) setModel(group string, m *scorer.Model) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m == nil {
		delete(r.models, group)
		return
	}
	r.models[group] = m
}

// RecentValues returns the newest grid steps the detector holds for a
// series, gap-filled steps included: their times, oldest first, and one
// row of channel values per step. The slices are copies. An unknown
// series, or a detector with DetectorConfig.RecentSteps < 0, gives empty
// slices. It implements dashboard.RecentValues and is safe to call from
// any goroutine.
func (d *Detector) RecentValues(seriesKey string) ([]time.Time, [][]float64) {
	d.recent.mu.Lock()
	g := d.recent.series[seriesKey]
	if g == nil {
		d.recent.mu.Unlock()
		return nil, nil
	}
	times, flat := g.copyOut()
	c := g.c
	d.recent.mu.Unlock()
	rows := make([][]float64, len(times))
	for k := range rows {
		rows[k] = flat[k*c : (k+1)*c : (k+1)*c]
	}
	return times, rows
}

var _ forecast.Source = (*Detector)(nil)

// ForecastInput implements forecast.Source from the live state: the
// champion of the series' model group (a copy the detector never scores
// with, so the forecast handler may clone it while scoring goes on) and
// the series' recent steps as its history. A series the detector does not
// hold, or whose group has no flow model, gives an error wrapping
// forecast.ErrUnknownSeries. Safe to call from any goroutine.
func (d *Detector) ForecastInput(_ context.Context, seriesKey string) (*scorer.Model,
	forecast.History, error) {
	d.recent.mu.Lock()
	defer d.recent.mu.Unlock()
	g := d.recent.series[seriesKey]
	if g == nil {
		return nil, forecast.History{}, fmt.Errorf("pipeline: series %q not held by this "+
			"detector: %w", seriesKey, forecast.ErrUnknownSeries)
	}
	m := d.recent.models[g.group]
	if m == nil {
		return nil, forecast.History{}, fmt.Errorf("pipeline: group %q of series %q has no "+
			"flow model: %w", g.group, seriesKey, forecast.ErrUnknownSeries)
	}
	times, values := g.copyOut()
	return m, forecast.History{Times: times, Values: values}, nil
}
