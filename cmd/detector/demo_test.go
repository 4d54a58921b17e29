package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/demo"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/timeseries"
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

// TestDemoFlagRanges: the demo's own flags are refused outside their range
// (the alerts ones as the detector refuses them) before anything is read
// or started (the database named does not exist).
func TestDemoFlagRanges(t *testing.T) {
	for _, c := range []struct {
		flag, want string
	}{
		{"--speed=-1", "config: flag --speed: -1 is out of range: want 0 or more"},
		{"--speed=+Inf", "config: flag --speed: +Inf is not a finite number"},
		{"--show=-1", "config: flag --show: -1 is out of range: want 0 or more"},
		{"--scoring.alpha=2", "config: flag --scoring.alpha: 2 is out of range: want more " +
			"than 0 and less than 1"},
		{"--scoring.window=0", "config: flag --scoring.window: 0 is out of range: want 1 " +
			"or more"},
		{"--scoring.step=-5m", "config: flag --scoring.step: -5m0s is out of range: want " +
			"0s or more"},
		{"--model.layer_type=made", `demo: --model.layer_type "made": want spline or affine`},
		{"--alerts.gap=0s", "config: flag --alerts.gap: 0s is out of range: want more than 0s"},
		{"--alerts.open_p_value=1.5", "config: flag --alerts.open_p_value: 1.5 is out of " +
			"range: want more than 0 and at most 1"},
		{"--alerts.run_length=1", "config: flag --alerts.run_length: 1 is out of range"},
	} {
		var out, logs syncBuffer
		err := Run(context.Background(), []string{"demo", c.flag,
			"--demo_database=postgres://nobody@127.0.0.1:1/none"}, &out, &logs,
			func(string) string { return "" })
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error starting %q", c.flag, err, c.want)
		}
		if out.String() != "" {
			t.Errorf("%s: printed %q before refusing", c.flag, out.String())
		}
	}
}

// TestDemoLabelsNameNoFile: labels that do not name the CSV file stop the
// demo before it starts, naming the labels' close names, as evaluate
// refuses them; labels that name it with no window say so.
func TestDemoLabelsNameNoFile(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "a.csv")
	rows := "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n" +
		"2014-01-01 00:10:00,3\n"
	labels := filepath.Join(dir, "labels.json")
	for p, b := range map[string]string{csv: rows,
		labels: `{"cat/A.csv": [], "other/far_away_file.csv": []}`} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out, logs syncBuffer
	err := Run(context.Background(), []string{"demo", "--csv", csv, "--labels", labels,
		"--demo_database=postgres://nobody@127.0.0.1:1/none"}, &out, &logs,
		func(string) string { return "" })
	want := "demo: --labels " + labels + " names no window for " + csv
	if err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.Contains(err.Error(), `close names there: "cat/A.csv"`) ||
		strings.Contains(err.Error(), "far_away") {
		t.Fatalf("demo with labels not naming the file: %v\nwant it to start %q and name "+
			"cat/A.csv only as close", err, want)
	}

	// Named, with no window: the demo goes on (here to the missing
	// database) after saying so.
	if err := os.WriteFile(labels, []byte(`{"cat/a.csv": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out2 syncBuffer
	err = Run(context.Background(), []string{"demo", "--csv", csv, "--labels", labels,
		"--demo_database=postgres://nobody@127.0.0.1:1/none"}, &out2, &logs,
		func(string) string { return "" })
	if err == nil || strings.Contains(err.Error(), "names no window") {
		t.Fatalf("labels naming the file: %v, want only the database to fail", err)
	}
	if !strings.Contains(out2.String(), csv+": the labels (cat/a.csv) hold no anomaly window") {
		t.Errorf("output does not say the labels hold no window:\n%s", out2.String())
	}
}

// TestDemoNewerSchema: a demo database a newer flowguard migrated is left
// as it is, with an error that says so and what to do.
func TestDemoNewerSchema(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	s := openStore(t, ctx, db)
	defer s.Close()
	known, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied)
		VALUES ($1, true)`, known+1); err != nil {
		t.Fatal(err)
	}
	var out, logs syncBuffer
	err = Run(ctx, []string{"demo", "--demo_database=" + db}, &out, &logs,
		func(string) string { return "" })
	want := fmt.Sprintf("store: database schema is at version %d, newer than this "+
		"flowguard knows (%d): run a newer flowguard", known+1, known)
	if err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.Contains(err.Error(), "demo: a newer flowguard migrated ") ||
		!strings.Contains(err.Error(), "DROP DATABASE "+dbName(db)) {
		t.Fatalf("demo on a newer schema: %v\nwant it to start %q and say what to do",
			err, want)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM goose_db_version WHERE "+
		"version_id > 0").Scan(&n); err != nil || n != int(known)+1 {
		t.Errorf("%d versions recorded after the demo, %v; want %d (nothing rolled back)",
			n, err, known+1)
	}
}

// TestDemoCSVClock replays a CSV whose clock goes back an hour, as
// machine_temperature_system_failure.csv's does: every row is replayed in
// file order, none dropped beforehand, the output says so, and the rows
// of the repeated hour end up where the service puts them: refused as too
// late or averaged into a step another row holds. The labels name the
// file by "category/file.csv", and its window is reported.
func TestDemoCSVClock(t *testing.T) {
	ss, _ := demo.Generate(demo.GenConfig{Days: 3})
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	row := func(s timeseries.Sample, add float64) {
		fmt.Fprintf(&b, "%s,%.4f\n", s.Time.Format("2006-01-02 15:04:05"), s.Values[0]+add)
	}
	// Day 2, 02:00 to 02:55 (steps 312 to 323), comes twice.
	for i, s := range ss {
		row(s, 0)
		if i == 323 {
			for _, r := range ss[312:324] {
				row(r, 0.5)
			}
		}
	}
	dir := t.TempDir()
	csv := filepath.Join(dir, "clock.csv")
	labels := filepath.Join(dir, "labels.json")
	for p, body := range map[string]string{csv: b.String(),
		labels: `{"cat/clock.csv": [["2026-01-07 10:00:00", "2026-01-07 11:00:00"]]}`} {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, logs syncBuffer
	args := []string{"demo", "--demo_database=" + db, "--csv", csv, "--labels", labels,
		"--show=0"}
	if err := Run(ctx, args, &out, &logs, func(string) string { return "" }); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), logs.String())
	}
	text := out.String()
	t.Log("\n" + text)
	note := csv + ": 11 rows go back in time (the first, 2026-01-06 02:00:00, after " +
		"2026-01-06 02:55:00), 12 rows repeat an earlier row's timestamp; all replayed " +
		"in file order"
	if !strings.Contains(text, note) {
		t.Errorf("output lacks %q", note)
	}
	count := func(label string) int {
		m := regexp.MustCompile(regexp.QuoteMeta(label) + `\s+(-?\d+)`).FindStringSubmatch(text)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if got := count("points read"); got != 3*288+12 {
		t.Errorf("points read %d, want %d: every row, the repeated hour too", got, 3*288+12)
	}
	// The data has no gap: each of the 12 rows is refused (its step
	// final) or shares a step, depending on the batches the ingest sorts.
	if r, o := count("rejected (late or duplicate)"), count("other (data gaps, shared steps)"); r+o != 12 {
		t.Errorf("rejected %d + other %d, want 12 (the rows of the repeated hour)", r, o)
	}
	if !regexp.MustCompile(`labelled window  2026-01-07 10:00 \.\. 2026-01-07 11:00  `+
		`(caught|missed)`).MatchString(text) || !strings.Contains(text, "of 1 caught") {
		t.Errorf("output lacks the report of the labelled window")
	}
}
