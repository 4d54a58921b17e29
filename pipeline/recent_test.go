package pipeline

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flowguard/flowguard/forecast"
	"github.com/flowguard/flowguard/timeseries"
)

// TestRingKeepsNewestInOrder fills a ring of 4 past its size and replays
// older steps, as after a restart: it holds the newest 4 steps in time
// order, the replay replacing what it covers.
func TestRingKeepsNewestInOrder(t *testing.T) {
	r := newRecent(4)
	var steps []recentStep
	var vals []float64
	add := func(key string, ts int64, v float64) {
		steps = append(steps, recentStep{key: key, group: "g", t: ts, off: len(vals), c: 1})
		vals = append(vals, v)
	}
	for i := range 6 {
		add("a", int64(i), float64(10*i))
	}
	r.apply(steps, vals, nil)
	d := &Detector{recent: r}
	times, rows := d.RecentValues("a")
	if len(times) != 4 || len(rows) != 4 {
		t.Fatalf("held %d steps, want 4", len(times))
	}
	for k := range 4 {
		if got, want := times[k].UnixNano(), int64(k+2); got != want || rows[k][0] != 10*float64(want) {
			t.Errorf("step %d: time %d value %v, want %d and %v", k, got, rows[k][0], want,
				10*float64(want))
		}
	}
	// A replay from step 3: steps 3.. are replaced, 2 stays.
	steps, vals = steps[:0], vals[:0]
	add("a", 3, -3)
	add("a", 4, -4)
	r.apply(steps, vals, nil)
	times, rows = d.RecentValues("a")
	wantT, wantV := []int64{2, 3, 4}, []float64{20, -3, -4}
	if len(times) != 3 {
		t.Fatalf("after replay held %d steps, want 3", len(times))
	}
	for k := range wantT {
		if times[k].UnixNano() != wantT[k] || rows[k][0] != wantV[k] {
			t.Errorf("after replay step %d: %d %v, want %d %v", k, times[k].UnixNano(),
				rows[k][0], wantT[k], wantV[k])
		}
	}
	// The rows are copies: writing them changes nothing held.
	rows[0][0] = 99
	if _, again := d.RecentValues("a"); again[0][0] != 20 {
		t.Errorf("caller's write reached the ring: %v", again[0][0])
	}
	r.apply(nil, nil, []string{"a"})
	if times, _ := d.RecentValues("a"); len(times) != 0 {
		t.Errorf("evicted series still has %d steps", len(times))
	}
}

// TestDetectorRecentAndForecastInput pushes 60 minutes of two series
// through a detector's grids without Kafka, scores them with a small flow
// and checks the live state readers see: every emitted grid step of a
// series (the newest, still open step is not emitted), and a forecast
// history and model the forecast package samples from.
func TestDetectorRecentAndForecastInput(t *testing.T) {
	fm, _ := smallFlow(t)
	grid := timeseries.Config{Step: time.Minute, Window: testWindow, MaxFill: 3,
		Fill: timeseries.FillLinear}
	model, err := FlowModel(fm, 1, grid)
	if err != nil {
		t.Fatal(err)
	}
	src := &staticModels{}
	src.set(DefaultGroup, model)
	cfg := detectorConfig("127.0.0.1:1")
	cfg.Grid, cfg.RecentSteps = grid, 50
	d, err := NewDetector(cfg, &recordingWriter{}, src, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := newDataset(5, 2, 60)
	w := newWork()
	msgs := data.messages(0, 60)
	for i := range msgs {
		msgs[i].Partition, msgs[i].Offset = 0, int64(i)
	}
	d.fill(w, msgs)
	d.score(context.Background(), w)
	d.recent.apply(w.recent, w.recentVals, w.gone)

	key := data.keys[1]
	times, rows := d.RecentValues(key)
	// 59 steps emitted, the newest 50 kept: minutes 9..58.
	if len(times) != 50 {
		t.Fatalf("%d recent steps, want 50", len(times))
	}
	for k := range times {
		i := 9 + k
		if !times[k].Equal(data.t0.Add(time.Duration(i)*time.Minute)) ||
			rows[k][0] != data.vals[1][i] {
			t.Fatalf("step %d: %v %v, want minute %d value %v", k, times[k], rows[k][0], i,
				data.vals[1][i])
		}
	}
	if ts, _ := d.RecentValues("nobody"); ts != nil {
		t.Errorf("unknown series has %d steps", len(ts))
	}

	m, hist, err := d.ForecastInput(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if m == fm {
		t.Error("forecast side shares the scoring model")
	}
	if hist.Len() != 50 || hist.Values[49] != data.vals[1][58] {
		t.Errorf("history of %d steps ending in %v, want 50 ending in %v", hist.Len(),
			hist.Values[hist.Len()-1], data.vals[1][58])
	}
	h := forecast.NewHandler(d, forecast.Options{Horizon: 3, Paths: 50, Seed: 1})
	fc, err := h.Forecast(context.Background(), key, forecast.Options{Horizon: 3, Paths: 50,
		Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !fc.Origin.Equal(times[49]) || len(fc.Times) != 3 {
		t.Errorf("forecast from %v with %d steps, want from %v with 3", fc.Origin,
			len(fc.Times), times[49])
	}
	_, _, err = d.ForecastInput(context.Background(), "nobody")
	if !errors.Is(err, forecast.ErrUnknownSeries) {
		t.Errorf("unknown series: %v, want ErrUnknownSeries", err)
	}
}

// TestRecentConcurrentReaders reads the recent values while batches are
// applied, for the race detector.
func TestRecentConcurrentReaders(t *testing.T) {
	cfg := detectorConfig("127.0.0.1:1")
	d, err := NewDetector(cfg, &recordingWriter{}, &staticModels{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := newDataset(7, 3, 200)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				times, rows := d.RecentValues(data.keys[0])
				if len(times) != len(rows) {
					t.Errorf("%d times, %d rows", len(times), len(rows))
					return
				}
			}
		}
	}()
	w := newWork()
	for from := 0; from < 200; from += 20 {
		msgs := data.messages(from, from+20)
		for i := range msgs {
			msgs[i].Partition, msgs[i].Offset = 0, int64(3*from+i)
		}
		d.fill(w, msgs)
		d.recent.apply(w.recent, w.recentVals, w.gone)
		w.reset()
	}
	close(stop)
	wg.Wait()
	if times, _ := d.RecentValues(data.keys[0]); len(times) != 199 {
		t.Errorf("%d steps held, want 199", len(times))
	}
}

// BenchmarkRecentApply copies a batch of 2,000 steps of 1,000 one-channel
// series into the rings: the time scoring waits for the lock's holder per
// batch. It also reports the heap held per series at the default size.
func BenchmarkRecentApply(b *testing.B) {
	const nseries, batch = 1000, 2000
	keys := make([]string, nseries)
	for i := range keys {
		keys[i] = "temp{host=h" + strconv.Itoa(i) + "}"
	}
	steps := make([]recentStep, batch)
	vals := make([]float64, batch)
	for i := range steps {
		steps[i] = recentStep{key: keys[i%nseries], group: DefaultGroup, off: i, c: 1}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := newRecent(DefaultRecentSteps)
	t := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for i := range steps {
			steps[i].t = t + int64(i/nseries)
		}
		t += batch / nseries
		r.apply(steps, vals, nil)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/nseries,
		"heap-B/series")
	runtime.KeepAlive(r)
}
