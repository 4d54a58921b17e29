package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
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
	scored, unscored := count("scored"), count("unscored (warm-up)")
	if scored+unscored != 4032-16 {
		t.Errorf("scored %d + unscored %d, want %d", scored, unscored, 4032-16)
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

	s, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	as, err := s.ListAnomalies(ctx, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if n := count("anomalies (p < 0.001)"); len(as) != n || n == 0 {
		t.Errorf("%d anomalies in PostgreSQL, %d printed; want equal and not 0", len(as), n)
	}
}
