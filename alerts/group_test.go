package alerts

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// step is one input of a grouping test: an anomaly of series (default
// "s") at series time t0+at and wall time t0+wall (default: the same), or,
// with expire set, a resolve sweep at that series and wall time.
type step struct {
	at     time.Duration
	p      float64
	series string
	wall   time.Duration
	expire bool
}

func anomaly(at time.Duration, p float64) step { return step{at: at, p: p} }

// groupRun feeds steps to a grouper and returns what happened, one line
// per change ("open 1 warning", "update 1 critical", "resolve 1 points=2")
// or suppressed anomaly ("suppress late").
func groupRun(cfg config.Alerts, steps []step) ([]string, map[int]*store.Incident) {
	g := &grouper{cfg: cfg}
	states := map[string]*seriesState{}
	incidents := map[int]*store.Incident{}
	var out []string
	for i, s := range steps {
		if s.series == "" {
			s.series = "s"
		}
		if s.wall == 0 {
			s.wall = s.at
		}
		st := states[s.series]
		if st == nil {
			st = &seriesState{}
			states[s.series] = st
		}
		now := t0.Add(s.wall)
		var chs []change
		var reason string
		if s.expire {
			chs = g.expire(st, t0.Add(s.at), now)
		} else {
			a := store.NewAnomaly{ID: int64(i + 1), Anomaly: store.Anomaly{
				SeriesKey: s.series, Group: "g", TS: t0.Add(s.at), Value: []float64{float64(i)},
				Score: -math.Log(s.p), PValue: s.p, ModelVersion: 1}}
			chs, reason = g.add(st, a, now)
		}
		for _, ch := range chs {
			if ch.kind == KindOpen {
				ch.inc.ID = int64(len(incidents) + 1)
				incidents[len(incidents)+1] = ch.inc
			}
			line := fmt.Sprintf("%s %d %s", ch.kind, ch.inc.ID, ch.snap.Severity)
			if ch.kind == KindResolve {
				line = fmt.Sprintf("resolve %d points=%d", ch.inc.ID, ch.snap.Points)
			}
			out = append(out, line)
		}
		if reason != "" {
			out = append(out, "suppress "+reason)
		}
	}
	return out, incidents
}

func TestGrouping(t *testing.T) {
	base := config.DefaultAlerts()
	base.Gap = 5 * time.Minute
	base.SilentResolve = 15 * time.Minute
	base.SeriesRateLimit, base.GlobalRateLimit = 0, 0
	base.CriticalPValue = 1e-4
	with := func(f func(*config.Alerts)) config.Alerts {
		c := base
		f(&c)
		return c
	}
	m := time.Minute
	tests := []struct {
		name  string
		cfg   config.Alerts
		steps []step
		want  []string
	}{{
		name:  "isolated points are one incident each",
		cfg:   base,
		steps: []step{anomaly(0, 0.01), anomaly(20*m, 0.01), anomaly(40*m, 0.01), {at: 60 * m, expire: true}},
		want: []string{"open 1 warning", "resolve 1 points=1", "open 2 warning",
			"resolve 2 points=1", "open 3 warning", "resolve 3 points=1"},
	}, {
		name: "a run is one incident",
		cfg:  base,
		steps: []step{anomaly(0, 0.01), anomaly(m, 0.02), anomaly(2*m, 0.01), anomaly(3*m, 0.03),
			anomaly(4*m, 0.01), {at: 9 * m, expire: true}, {at: 9*m + time.Second, expire: true}},
		want: []string{"open 1 warning", "resolve 1 points=5"},
	}, {
		name:  "gap just under the limit joins",
		cfg:   base,
		steps: []step{anomaly(0, 0.01), anomaly(5*m-time.Second, 0.01), {at: 30 * m, expire: true}},
		want:  []string{"open 1 warning", "resolve 1 points=2"},
	}, {
		name:  "gap exactly at the limit joins",
		cfg:   base,
		steps: []step{anomaly(0, 0.01), anomaly(5*m, 0.01), {at: 30 * m, expire: true}},
		want:  []string{"open 1 warning", "resolve 1 points=2"},
	}, {
		name:  "gap just over the limit splits",
		cfg:   base,
		steps: []step{anomaly(0, 0.01), anomaly(5*m+time.Second, 0.01), {at: 30 * m, expire: true}},
		want: []string{"open 1 warning", "resolve 1 points=1", "open 2 warning",
			"resolve 2 points=1"},
	}, {
		name:  "series time just under the gap keeps the incident open",
		cfg:   base,
		steps: []step{anomaly(0, 0.01), {at: 5 * m, expire: true}, anomaly(5*m, 0.01)},
		want:  []string{"open 1 warning"},
	}, {
		name:  "smaller p-value raises the severity",
		cfg:   base,
		steps: []step{anomaly(0, 0.01), anomaly(m, 1e-5), anomaly(2*m, 0.01), {at: 8 * m, expire: true}},
		want:  []string{"open 1 warning", "update 1 critical", "resolve 1 points=3"},
	}, {
		name:  "silent series resolves on wall time",
		cfg:   base,
		steps: []step{anomaly(0, 0.01), {at: 0, wall: 15 * m, expire: true}, {at: 0, wall: 16 * m, expire: true}},
		want:  []string{"open 1 warning", "resolve 1 points=1"},
	}, {
		name: "flapping series stops at the series rate limit",
		cfg: with(func(c *config.Alerts) {
			c.SeriesRateLimit, c.SeriesRateWindow = 3, time.Hour
		}),
		// A point every 6 minutes, each just past the 5 minute gap.
		steps: []step{anomaly(0, 0.01), anomaly(6*m, 0.01), anomaly(12*m, 0.01),
			anomaly(18*m, 0.01), anomaly(24*m, 0.01), anomaly(60*m, 0.01)},
		want: []string{"open 1 warning", "resolve 1 points=1", "open 2 warning",
			"resolve 2 points=1", "open 3 warning", "resolve 3 points=1",
			"suppress series_rate", "suppress series_rate",
			"open 4 warning"}, // the window has passed the first start
	}, {
		name: "flapping series under the rate limit pages every time",
		cfg: with(func(c *config.Alerts) {
			c.SeriesRateLimit, c.SeriesRateWindow = 3, time.Hour
		}),
		steps: []step{anomaly(0, 0.01), anomaly(6*m, 0.01), anomaly(12*m, 0.01),
			{at: 20 * m, expire: true}},
		want: []string{"open 1 warning", "resolve 1 points=1", "open 2 warning",
			"resolve 2 points=1", "open 3 warning", "resolve 3 points=1"},
	}, {
		name:  "cooldown after a resolve",
		cfg:   with(func(c *config.Alerts) { c.Cooldown = 10 * m }),
		steps: []step{anomaly(0, 0.01), anomaly(6*m, 0.01), anomaly(14*m, 0.01), anomaly(16*m, 0.01)},
		want: []string{"open 1 warning", "resolve 1 points=1", "suppress cooldown",
			"suppress cooldown", "open 2 warning"},
	}, {
		name: "global rate limit across series",
		cfg: with(func(c *config.Alerts) {
			c.GlobalRateLimit, c.GlobalRateWindow = 2, time.Minute
		}),
		steps: []step{{at: 0, p: 0.01, series: "a"}, {at: 0, p: 0.01, series: "b"},
			{at: 0, p: 0.01, series: "c"}, {at: 0, wall: 61 * time.Second, p: 0.01, series: "d"}},
		want: []string{"open 1 warning", "open 2 warning", "suppress global_rate",
			"open 3 warning"},
	}, {
		name:  "late point of a resolved incident",
		cfg:   base,
		steps: []step{anomaly(10*m, 0.01), {at: 20 * m, expire: true}, anomaly(9*m, 0.01)},
		want:  []string{"open 1 warning", "resolve 1 points=1", "suppress late"},
	}, {
		name: "weak points open nothing alone",
		cfg:  with(func(c *config.Alerts) { c.OpenPValue = 1e-3 }),
		steps: []step{anomaly(0, 0.005), anomaly(10*m, 0.005), anomaly(20*m, 0.005),
			anomaly(30*m, 1e-3)},
		want: []string{"suppress weak", "suppress weak", "suppress weak", "open 1 warning"},
	}, {
		name: "a sustained run of weak points opens by Fisher's test",
		cfg: with(func(c *config.Alerts) {
			c.OpenPValue, c.RunLength, c.RunPValue = 1e-3, 3, 1e-4
		}),
		// Three p = 0.005 combine to 1.79e-5; the first two cannot.
		steps: []step{anomaly(0, 0.005), anomaly(m, 0.005), anomaly(2*m, 0.005),
			{at: 10 * m, expire: true}},
		want: []string{"suppress weak", "suppress weak", "open 1 warning",
			"resolve 1 points=3"},
	}, {
		name: "a run broken by a gap does not combine",
		cfg: with(func(c *config.Alerts) {
			c.OpenPValue, c.RunLength, c.RunPValue = 1e-3, 3, 1e-4
		}),
		steps: []step{anomaly(0, 0.005), anomaly(m, 0.005), anomaly(10*m, 0.005),
			anomaly(11*m, 0.005)},
		want: []string{"suppress weak", "suppress weak", "suppress weak", "suppress weak"},
	}, {
		name: "weak points in a run that is not small enough",
		cfg: with(func(c *config.Alerts) {
			c.OpenPValue, c.RunLength, c.RunPValue = 1e-3, 3, 1e-4
		}),
		// Three p = 0.01 combine to 1.10e-4, just above the threshold.
		steps: []step{anomaly(0, 0.01), anomaly(m, 0.01), anomaly(2*m, 0.01)},
		want:  []string{"suppress weak", "suppress weak", "suppress weak"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := groupRun(tt.cfg, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestGroupingKeepsWorstPoint(t *testing.T) {
	cfg := config.DefaultAlerts()
	_, incs := groupRun(cfg, []step{anomaly(0, 0.01), anomaly(time.Minute, 0.001),
		anomaly(2*time.Minute, 0.02)})
	inc := incs[1]
	if inc == nil {
		t.Fatal("no incident opened")
	}
	if inc.Points != 3 || inc.MinPValue != 0.001 || !slices.Equal(inc.Value, []float64{1}) ||
		!inc.FirstTS.Equal(t0) || !inc.LastTS.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("incident = %+v; want 3 points, min p 0.001 with value [1], t0 to t0+2m", inc)
	}
	if want := -math.Log(0.001); inc.MaxScore != want {
		t.Errorf("max score = %v, want %v", inc.MaxScore, want)
	}
}

// TestFisherPValue checks the closed form against independent ones: one
// p-value combines to itself, and two combine to p1 p2 (1 - ln(p1 p2))
// (the survival function of chi-square with 4 degrees of freedom).
func TestFisherPValue(t *testing.T) {
	const tol = 1e-12 // relative; both sides are a handful of float64 operations
	ps := func(p ...float64) []store.NewAnomaly {
		out := make([]store.NewAnomaly, len(p))
		for i := range p {
			out[i].PValue = p[i]
		}
		return out
	}
	for _, tc := range []struct {
		in   []store.NewAnomaly
		want float64
	}{
		{ps(0.3), 0.3},
		{ps(1e-6), 1e-6},
		{ps(0.05, 0.05), 0.0025 * (1 - math.Log(0.0025))},
		{ps(0.2, 0.001), 0.0002 * (1 - math.Log(0.0002))},
		{ps(1, 1, 1), 1},
	} {
		got := fisherPValue(tc.in)
		if math.Abs(got-tc.want) > tol*tc.want {
			t.Errorf("fisherPValue(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
