package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
)

// TestDemoGenerated runs "detector demo" on its generated series: the
// embedded broker, the detector, an in-process trainer and the alerts
// service in one process. The first model is trained on the clean first
// week and hot-swapped in; the injected faults of the second week must be
// flagged, and the printed counts must match PostgreSQL.
func TestDemoGenerated(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, logs syncBuffer
	args := []string{"demo", "--demo_database=" + db, "--show=3"}
	if err := Run(ctx, args, &out, &logs, func(string) string { return "" }); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), logs.String())
	}
	text := out.String()
	t.Log("\n" + text)
	for _, want := range []string{"training job 1 filed", "model default v1 trained",
		"detector now scores group default with model v1", "incident 1 opened"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	count := func(label string) int {
		m := regexp.MustCompile(regexp.QuoteMeta(label) + `\s+(\d+)`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("summary lacks %q", label)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	// 14 days of 5-minute steps; the first W-1 steps complete no window
	// and the last step is never final, so 4032-16 points are ready.
	if got := count("points read"); got != 4032 {
		t.Errorf("points read %d, want 4032", got)
	}
	scored, unscored := count("scored"), count("unscored (no model yet)")
	if scored+unscored != 4032-16 {
		t.Errorf("scored %d + unscored %d, want %d", scored, unscored, 4032-16)
	}
	// The lines under points read add up to it.
	filling, open := count("filling the first window (15 steps)"), count("last step still open")
	if rejected := count("rejected (late or duplicate)"); filling != 15 || open != 1 ||
		rejected != 0 || strings.Contains(text, "other (") {
		t.Errorf("filling %d, open %d, rejected %d, want 15, 1, 0 and no other line",
			filling, open, rejected)
	}
	if !strings.Contains(text, "alerts.gap 5m0s") {
		t.Errorf("summary lacks the alerts.gap used (the detector's default, 5m)")
	}
	// The bootstrap needs 2000 windows; the replay is held within a few
	// dozen points of that.
	if unscored < 2000 || unscored > 2300 {
		t.Errorf("unscored %d, want 2000 to 2300", unscored)
	}
	m := regexp.MustCompile(`(\d) of 4 caught`).FindStringSubmatch(text)
	if m == nil || m[1] < "3" {
		t.Errorf("want at least 3 of the 4 injected faults caught")
	}

	s := openStore(t, ctx, db)
	defer s.Close()
	as, err := s.ListAnomalies(ctx, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if n := count("anomalies (p < 0.001)"); len(as) != n || n == 0 {
		t.Errorf("%d anomalies in PostgreSQL, %d printed; want equal and not 0", len(as), n)
	}

	// A second demo on the same database with --reset=false used to hang:
	// the replay waited for a model the detector loads only once it sees
	// points. The champion of the first run must score the whole replay.
	var again, logs2 syncBuffer
	args = append(args, "--reset=false")
	if err := Run(ctx, args, &again, &logs2, func(string) string { return "" }); err != nil {
		t.Fatalf("demo --reset=false: %v\nstdout:\n%s\nstderr:\n%s", err, again.String(),
			logs2.String())
	}
	text = again.String()
	t.Log("\n" + text)
	if !strings.Contains(text, "--reset=false: model default v1 of an earlier run is the "+
		"champion") {
		t.Errorf("--reset=false: output does not say the earlier champion is used")
	}
	if !strings.Contains(text, "detector now scores group default with model v1") {
		t.Errorf("--reset=false: output lacks the existing champion v1 in use")
	}
	if got := count("scored"); got != 4032-16 {
		t.Errorf("--reset=false: scored %d, want %d (every ready point, by v1)", got, 4032-16)
	}
}

func TestSpan(t *testing.T) {
	from := time.Date(2013, 12, 17, 20, 25, 0, 0, time.UTC)
	for _, c := range []struct {
		to   time.Time
		want string
	}{{from.Add(4 * time.Hour), "2013-12-17 20:25 to 2013-12-18 00:25"},
		{from.Add(time.Hour), "2013-12-17 20:25 to 21:25"},
		{from.AddDate(0, 0, 2).Add(4*time.Hour + 25*time.Minute),
			"2013-12-17 20:25 to 2013-12-20 00:50"}} {
		if got := span(from, c.to); got != c.want {
			t.Errorf("span to %v: %q, want %q", c.to, got, c.want)
		}
	}
}
