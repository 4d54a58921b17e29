package evaluate

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/training"
)

const nabDir = "../../shared/datasets/nab"

// subset links two NAB files into a fresh data folder.
func subset(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		src, err := filepath.Abs(filepath.Join(nabDir, n))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunLayoutAndScores(t *testing.T) {
	jumps := "artificialWithAnomaly/art_daily_jumpsup.csv"
	ec2 := "realKnownCause/ec2_request_latency_system_failure.csv"
	// Two files keep the test well inside CI's budget on two cores; the
	// full corpus is in BENCHMARKS.md.
	cases := []struct {
		name     string
		names    []string
		windows  int
		minHits  int
		minScore float64
	}{
		{"jumps and latency", []string{jumps, ec2}, 4, 3, 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			names := tc.names
			out := t.TempDir()
			set := DefaultSettings()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := Run(ctx, Options{Data: subset(t, names...), Out: out,
				Labels: filepath.Join(nabDir, "combined_windows_dev.json"), Settings: set})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				checkOutput(t, filepath.Join(nabDir, n), filepath.Join(out, n))
			}
			rep := res.Report
			if rep == nil || len(rep.Results) != 3 {
				t.Fatalf("report = %+v, want three profiles", rep)
			}
			// Both files have clear anomalies (a doubled daily peak, latency
			// surges); a detector that finds none scores 0 and one that
			// only raises false alarms scores below 0.
			for _, r := range rep.Results {
				if r.Score < tc.minScore || r.Score > 100 || r.Windows != tc.windows ||
					r.Hits < tc.minHits {
					t.Errorf("%s: score %.2f with %d of %d windows, want >= %v with >= %d",
						r.Profile.Name, r.Score, r.Hits, r.Windows, tc.minScore, tc.minHits)
				}
			}
			// The alarms are the rows at or above the score of -ln alpha,
			// so the tuned threshold can only do as well or better; and
			// each alarm is one row, so hits plus false-alarm events
			// cannot exceed the alarm count.
			alarms := 0
			for _, f := range res.Files {
				alarms += f.Stats.Alarms
			}
			if res.Alarms == nil || len(res.Alarms.Results) != 3 {
				t.Fatalf("alarms report = %+v, want three profiles", res.Alarms)
			}
			for i, a := range res.Alarms.Results {
				if a.Score > rep.Results[i].Score+1e-9 || a.Hits < tc.minHits ||
					a.Hits+a.FPEvents > alarms {
					t.Errorf("%s: alarms alone %.2f with %d hits and %d false alarms of "+
						"%d alarms; tuned %.2f", a.Profile.Name, a.Score, a.Hits, a.FPEvents,
						alarms, rep.Results[i].Score)
				}
			}
		})
	}
}

// checkOutput compares a result file with its data file: same timestamps
// and values row by row, scores in [0, 1], zero in the probationary
// period.
func checkOutput(t *testing.T, dataPath, outPath string) {
	t.Helper()
	data := readCSV(t, dataPath)
	got := readCSV(t, outPath)
	if len(got) != len(data) {
		t.Fatalf("%s: %d rows, want %d", outPath, len(got), len(data))
	}
	if h := got[0]; len(h) != 3 || h[0] != "timestamp" || h[1] != "value" ||
		h[2] != "anomaly_score" {
		t.Fatalf("%s: header %v", outPath, h)
	}
	prob := min((len(data)-1)*15/100, 750)
	for i := 1; i < len(got); i++ {
		if got[i][0] != data[i][0] {
			t.Fatalf("%s row %d: timestamp %s, want %s", outPath, i, got[i][0], data[i][0])
		}
		gv, _ := strconv.ParseFloat(got[i][1], 64)
		dv, _ := strconv.ParseFloat(data[i][1], 64)
		if gv != dv {
			t.Fatalf("%s row %d: value %v, want %v", outPath, i, gv, dv)
		}
		s, err := strconv.ParseFloat(got[i][2], 64)
		if err != nil || s < 0 || s > 1 {
			t.Fatalf("%s row %d: score %q not in [0, 1]", outPath, i, got[i][2])
		}
		if i-1 < prob && s != 0 {
			t.Fatalf("%s row %d: score %v in the probationary period", outPath, i, s)
		}
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestReplayNoLookAhead replays a file and its first 3,000 rows: every
// score before the cut must be the same, since a row's score may only
// depend on that row and earlier ones (retrains included).
func TestReplayNoLookAhead(t *testing.T) {
	rows, err := readRows(filepath.Join(nabDir,
		"realKnownCause/ec2_request_latency_system_failure.csv"))
	if err != nil {
		t.Fatal(err)
	}
	set := DefaultSettings()
	set.Probation = 604 // NAB's for the whole file, kept for the cut one
	// Every candidate replaces the model, so that retrains happen before
	// the cut and their data are checked too.
	set.Promotion = training.Policy{Margin: math.Inf(-1), KSTolerance: math.Inf(1)}
	full, _, err := Replay(context.Background(), rows, set)
	if err != nil {
		t.Fatal(err)
	}
	const cut = 3000
	part, _, err := Replay(context.Background(), rows[:cut], set)
	if err != nil {
		t.Fatal(err)
	}
	retrains, alarms := 0, 0
	for _, p := range full[:cut] {
		if p.Retrained {
			retrains++
		}
		if p.Alarm {
			alarms++
		}
	}
	if retrains == 0 || alarms == 0 {
		t.Fatalf("%d retrains, %d alarms before the cut: the check needs both",
			retrains, alarms)
	}
	for i := range cut {
		if full[i] != part[i] {
			t.Fatalf("row %d: %+v with the whole file, %+v with the first %d rows",
				i, full[i], part[i], cut)
		}
	}
}

// TestReplayTooShortForAModel: a series too short for a probationary
// period, or whose probationary period is too short to fit, gets no model,
// as a detector group without enough data: every row unscored, the reason
// in the stats, and no error, so the other files of a run go on.
func TestReplayTooShortForAModel(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{5, 400} {
		rows := make([]Row, n)
		for i := range rows {
			rows[i] = Row{Time: t0.Add(time.Duration(i) * 5 * time.Minute),
				Value: math.Sin(float64(i))}
		}
		pts, st, err := Replay(context.Background(), rows, DefaultSettings())
		if err != nil || st.NoModel == "" || len(pts) != n {
			t.Fatalf("%d rows: %d points, stats %+v, err %v; want no model and no error", n,
				len(pts), st, err)
		}
		for i, p := range pts {
			if p != (Point{PValue: 1}) {
				t.Fatalf("%d rows: point %d is %+v, want unscored", n, i, p)
			}
		}
		t.Logf("%d rows: %s", n, st.NoModel)
	}
}

// TestReplayCountsRepeatedTimestamps: rows that repeat the time of the row
// before are counted, so that the command can say so.
func TestReplayCountsRepeatedTimestamps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]Row, 400)
	for i := range rows {
		rows[i] = Row{Time: t0.Add(time.Duration(i/2) * 5 * time.Minute), Value: float64(i)}
	}
	if _, st, err := Replay(context.Background(), rows, DefaultSettings()); err != nil ||
		st.Repeated != 200 {
		t.Errorf("400 rows in pairs: %d repeated (err %v), want 200", st.Repeated, err)
	}
}

func TestDataFilesLayout(t *testing.T) {
	write := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("timestamp,value\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := t.TempDir()
	write(filepath.Join(elsewhere, "linkedCat", "a.csv"))
	write(filepath.Join(elsewhere, "b.csv"))

	dir := t.TempDir()
	write(filepath.Join(dir, "cat", "x.csv"))
	write(filepath.Join(dir, "cat", ".x.csv"))        // an editor's copy
	write(filepath.Join(dir, "cat", "notes.txt"))     // not a series
	write(filepath.Join(dir, "cat", "deep", "y.csv")) // below the layout
	write(filepath.Join(dir, ".hidden", "z.csv"))
	for _, l := range [][2]string{
		{filepath.Join(elsewhere, "linkedCat"), filepath.Join(dir, "linkedCat")},
		{filepath.Join(elsewhere, "b.csv"), filepath.Join(dir, "cat", "b.csv")},
	} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := dataFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cat/b.csv", "cat/x.csv", "linkedCat/a.csv"}
	if !slices.Equal(got, want) {
		t.Errorf("dataFiles = %q, want %q", got, want)
	}

	flat := t.TempDir()
	write(filepath.Join(flat, "a.csv"))
	if _, err := dataFiles(flat); err == nil ||
		!strings.Contains(err.Error(), "not in category folders") {
		t.Errorf("flat folder: err = %v, want the layout named", err)
	}
	if _, err := dataFiles(t.TempDir()); err == nil {
		t.Error("empty folder: no error")
	}
}
