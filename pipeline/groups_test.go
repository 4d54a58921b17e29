package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

func TestRouting(t *testing.T) {
	rules, err := ParseGroups(
		[]string{`web=^http_`, `db=\{"role"="db"`},
		[]string{"db"},
		[]string{"web=0.01", "default=0.0001"})
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter(rules, 0.001)
	cases := []struct {
		key, group string
		alpha      float64
	}{
		{`http_requests{"host"="a"}`, "web", 0.01},
		{`cpu{"role"="db"}`, `db/cpu{"role"="db"}`, 0.001},
		{`cpu{"role"="app"}`, DefaultGroup, 0.0001},
		{`http_x{"role"="db"}`, "web", 0.01}, // first match wins
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			got := r.route(tc.key)
			if got.group != tc.group || got.alpha != tc.alpha {
				t.Fatalf("route = %+v, want %s at %v", got, tc.group, tc.alpha)
			}
		})
	}
}

func TestParseGroupsErrors(t *testing.T) {
	cases := []struct {
		name                    string
		specs, perSeries, alpha []string
		want                    string
	}{
		{"no regexp", []string{"web"}, nil, nil, "want name=regexp"},
		{"bad regexp", []string{"web=("}, nil, nil, "missing closing"},
		{"unknown per-series", nil, []string{"nope"}, nil, "unknown model group"},
		{"alpha out of range", nil, nil, []string{"default=1.5"}, "in (0, 1)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseGroups(tc.specs, tc.perSeries, tc.alpha)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestRebuildPosition checks the commit position against a hand count:
// with W = 3 and no lateness a series needs its last W + 2 steps.
func TestRebuildPosition(t *testing.T) {
	ps, err := newPartState(timeseries.Config{Step: time.Minute, Window: 3}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	// Series a: one sample per step at offsets 0, 2, 4, ... (steps 0..9);
	// series b: two samples in step 0, at offsets 1 and 3, then silence.
	for i := 0; i < 10; i++ {
		ps.track("a", at(i), int64(2*i))
		ps.next = int64(2*i) + 1
		if i < 2 {
			ps.track("b", at(0).Add(time.Duration(i)*time.Second), int64(2*i+1))
			ps.next = int64(2*i) + 2
		}
	}
	if got := ps.position(); got != 1 {
		t.Fatalf("position = %d, want 1 (series b's first sample)", got)
	}
	delete(ps.needs, "b")
	// a keeps steps 5..9 (idx > 9 - keep, keep = 3 + 1 + 1), first at offset 10.
	if got := ps.position(); got != 10 {
		t.Fatalf("position = %d, want 10", got)
	}
	delete(ps.needs, "a")
	if got := ps.position(); got != ps.next {
		t.Fatalf("position with no series = %d, want next %d", got, ps.next)
	}
}

// TestSilentPartitionForgotten checks that a partition without messages
// for IdleAfter of wall time (one revoked by a rebalance, as kafka-go does
// not say) is dropped, and a busy one kept.
func TestSilentPartitionForgotten(t *testing.T) {
	cfg := DetectorConfig{Brokers: []string{"127.0.0.1:1"}, Topic: "s", Group: "g",
		Alpha: 0.01, Grid: timeseries.Config{Step: time.Minute, Window: 3, IdleAfter: time.Hour}}
	d, err := NewDetector(cfg, &recordingWriter{}, &staticModels{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, seen := range map[int]time.Duration{0: 2 * time.Hour, 1: time.Minute} {
		ps := d.part(p)
		ps.seen = time.Now().Add(-seen)
		ps.track("a", time.Now(), 5)
	}
	d.evict(nil)
	if _, ok := d.parts[0]; ok {
		t.Error("partition silent for 2h kept")
	}
	if _, ok := d.parts[1]; !ok {
		t.Error("partition seen a minute ago dropped")
	}
}
