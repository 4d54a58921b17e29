package pipeline

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

// TestLiveCalibrationSurvivesRestart: a detector saves the live scores
// its champion learned when it stops, and now and then while it runs;
// the next detector to load the same champion starts from them, oldest
// first, instead of from the held-out scores alone, and does not learn
// again the points it replays.
func TestLiveCalibrationSurvivesRestart(t *testing.T) {
	m, data := smallFlow(t)
	ctx := context.Background()
	e := newEnv(t, 1)
	info := e.publish(t, m)
	grid := timeseries.Config{Step: time.Minute, Window: testWindow, MaxFill: 3,
		Fill: timeseries.FillLinear}
	saved := func() []float64 {
		t.Helper()
		s, err := e.store.LiveCalibration(ctx, DefaultGroup, info.Version)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// run scores points [from, to) of both series with a fresh detector
	// and stops it once the last one the grid emits (to-2) is scored.
	run := func(from, to int, every time.Duration, running func() bool) *Metrics {
		t.Helper()
		cfg := detectorConfig(e.broker)
		cfg.Grid, cfg.LiveCalibration, cfg.CalibrationSave = grid, 1000, every
		met := NewMetrics(nil)
		d, err := NewDetector(cfg, e.store, &Registry{Store: e.store, Grid: grid}, nil, met,
			testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		stop := stage(d.Run)
		e.produce(t, samplesTopic, data.messages(from, to))
		waitFor(t, 30*time.Second, "the points scored", func() bool {
			return lastScored(t, e, data, to-2) && running()
		})
		if err, _ := stop(); err != nil {
			t.Fatal(err)
		}
		return met
	}

	// An hour between saves: only the stop saves.
	run(0, 200, time.Hour, func() bool { return saved() == nil })
	first := saved()
	// Scored: points W-1 to 198 of each series, each learned once.
	var want []float64
	for s := range data.ids {
		var sc []float64
		for i := testWindow - 1; i <= 198; i++ {
			var out Scores
			b := &Batch{N: 1, W: testWindow, C: 1, Windows: data.vals[s][i-testWindow+1 : i+1]}
			fm, err := FlowModel(m.Clone(), 1, grid)
			if err != nil {
				t.Fatal(err)
			}
			if err := fm.Score(ctx, b, &out); err != nil {
				t.Fatal(err)
			}
			sc = append(sc, out.Score[0])
		}
		want = append(want, sc...)
	}
	got := slices.Clone(first)
	slices.Sort(got)
	slices.Sort(want)
	if len(got) != len(want) {
		t.Fatalf("saved %d live scores at stop, want the %d points scored", len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("saved score %d (sorted) %v, offline %v", i, got[i], want[i])
		}
	}

	// Saving every 10ms: the row grows while the detector runs, and the
	// resumed scores come first, in their order. The second detector
	// reads again from its predecessor's rebuild point and scores a few
	// points the first one wrote: it learns none of them twice.
	const fresh = 2 * (298 - 199 + 1) // points 199 to 298 of both series
	met := run(200, 300, 10*time.Millisecond, func() bool {
		return len(saved()) >= len(first)+fresh
	})
	second := saved()
	if len(second) != len(first)+fresh || !slices.Equal(second[:len(first)], first) {
		t.Fatalf("the second detector saved %d scores, want the first's %d then %d new",
			len(second), len(first), fresh)
	}
	replayed := value(met.replayed.WithLabelValues(DefaultGroup))
	scored := value(met.scored.WithLabelValues(DefaultGroup))
	if replayed < 2 || scored != fresh+replayed {
		t.Fatalf("points_replayed_total %v, points_scored_total %v: want the replays "+
			"(some per series) on top of the %d new points", replayed, scored, fresh)
	}
	if g := value(met.liveCalibration.WithLabelValues(DefaultGroup)); int(g) != len(second) {
		t.Fatalf("live_calibration_scores %v, saved %d", g, len(second))
	}
	t.Logf("live scores: %d after the first detector, %d after the second (%v replayed)",
		len(first), len(second), replayed)
}
