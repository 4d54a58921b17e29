package alerts

import (
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

// TestIncidentsReplay checks the in-memory grouping a replay uses: flags
// within the gap of each other are one incident, a flag after the gap
// opens the next, and Open says whether a point would join.
func TestIncidentsReplay(t *testing.T) {
	cfg := config.DefaultAlerts()
	cfg.Gap = 10 * time.Minute
	in := NewIncidents(cfg)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	var opened []int
	for _, m := range []int{3, 5, 14, 30, 41, 50} {
		a := store.Anomaly{SeriesKey: "s", Group: "g", TS: at(m), PValue: 1e-7, Score: 20,
			Value: []float64{1}}
		if in.Add(a, at(m)) {
			opened = append(opened, m)
		}
	}
	// 3, 5 and 14 are one incident (each within 10 min of the last); 30
	// opens the next, 41 is 11 min after it and opens a third, 50 joins.
	if len(opened) != 3 || opened[0] != 3 || opened[1] != 30 || opened[2] != 41 {
		t.Errorf("opened at %v, want [3 30 41]", opened)
	}
	for _, tc := range []struct {
		m    int
		want bool
	}{{55, true}, {60, true}, {61, false}} {
		if got := in.Open("s", at(tc.m)); got != tc.want {
			t.Errorf("Open at %d = %v, want %v", tc.m, got, tc.want)
		}
	}
	if in.Open("other", at(50)) {
		t.Error("a series without anomalies has an open incident")
	}
}
