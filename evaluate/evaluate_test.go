package evaluate

import (
	"context"
	"encoding/csv"
	"fmt"
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

// sine returns n rows of a daily sine at a 5-minute step.
func sine(n int) []Row {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{Time: t0.Add(time.Duration(i) * 5 * time.Minute),
			Value: math.Sin(2 * math.Pi * float64(i) / 288)}
	}
	return rows
}

// TestReplayFirstFitFails: a series whose first model cannot be fitted,
// for whatever reason, gets no model and says why, as a too-short one
// does: an error would stop the other files of a run.
func TestReplayFirstFitFails(t *testing.T) {
	set := DefaultSettings()
	set.Fit.Spec.LayerType = "no-such-layer" // no fit can succeed
	pts, st, err := Replay(context.Background(), sine(2000), set)
	if err != nil || len(pts) != 2000 || !strings.Contains(st.NoModel, "no-such-layer") {
		t.Fatalf("%d points, NoModel %q, err %v; want 2000 unscored points, the fit's "+
			"error as NoModel and no error", len(pts), st.NoModel, err)
	}
	for i, p := range pts {
		if p != (Point{PValue: 1}) {
			t.Fatalf("point %d is %+v, want unscored", i, p)
		}
	}
}

// TestReplayReversedRows: rows in descending time are refused by the grid
// as the service refuses them, and that, not the fit, is what NoModel and
// Rejected say.
func TestReplayReversedRows(t *testing.T) {
	rows := sine(2000)
	slices.Reverse(rows)
	_, st, err := Replay(context.Background(), rows, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	// The first row opens the grid; every later one is older.
	if st.Rejected != 1999 || !strings.Contains(st.NoModel,
		"299 of the 300 probationary rows are out of time order") {
		t.Errorf("rejected %d, NoModel %q; want 1999 and the out-of-order rows named",
			st.Rejected, st.NoModel)
	}
	// Rows in order but a few: the count is of the refused rows only.
	rows = sine(2000)
	rows[100].Time, rows[101].Time = rows[101].Time, rows[100].Time
	_, st, err = Replay(context.Background(), rows, DefaultSettings())
	if err != nil || st.Rejected != 1 || st.NoModel != "" {
		t.Errorf("one swap in the probationary period: rejected %d, NoModel %q, err %v; "+
			"want 1, a model", st.Rejected, st.NoModel, err)
	}
}

// writeData writes text as data file name under dir.
func writeData(t *testing.T, dir, name, text string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunGoesOnPastAFileWithoutModel: one extreme but finite value (the
// service accepts any finite value) must not stop the run: the good file
// is scored, the other written whole, scored or, when its first model
// cannot be fitted, unscored with the reason.
func TestRunGoesOnPastAFileWithoutModel(t *testing.T) {
	src := filepath.Join(nabDir, "artificialNoAnomaly/art_daily_small_noise.csv")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	data := t.TempDir()
	writeData(t, data, "cat/a.csv", string(b))
	lines[301] = strings.SplitN(lines[301], ",", 2)[0] + ",1e155\n"
	writeData(t, data, "cat/b.csv", strings.Join(lines, ""))
	labels := filepath.Join(t.TempDir(), "l.json")
	if err := os.WriteFile(labels, []byte(`{"cat/a.csv": [["2014-04-10 00:00:00",
		"2014-04-10 05:00:00"]], "cat/b.csv": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	res, err := Run(context.Background(), Options{Data: data, Out: out, Labels: labels,
		Settings: DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Report == nil || len(res.Report.Results) != 3 {
		t.Fatalf("report %+v, want three profiles", res.Report)
	}
	for _, f := range res.Files {
		checkOutput(t, filepath.Join(data, f.Name), filepath.Join(out, f.Name))
	}
	a, bad := res.Files[0], res.Files[1]
	if a.Stats.NoModel != "" || a.Stats.Alarms+a.Stats.Jobs == 0 {
		t.Errorf("a.csv: %+v, want a model that scored", a.Stats)
	}
	t.Logf("b.csv: NoModel %q, %d alarms", bad.Stats.NoModel, bad.Stats.Alarms)
}

// TestRunWritesStampsAsRead: each result row carries its input row's
// timestamp as written, fractional seconds and zone included.
func TestRunWritesStampsAsRead(t *testing.T) {
	var in strings.Builder
	in.WriteString("timestamp,value\n")
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range 40 {
		ts := t0.Add(time.Duration(i)*5*time.Minute + 123456*time.Microsecond)
		stamp := ts.Format("2006-01-02 15:04:05.000000")
		if i%2 == 1 {
			stamp = ts.In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)
		}
		fmt.Fprintf(&in, "%s,%d\n", stamp, i)
	}
	data, out := t.TempDir(), t.TempDir()
	writeData(t, data, "c/f.csv", in.String())
	if _, err := Run(context.Background(), Options{Data: data, Out: out,
		Settings: DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	checkOutput(t, filepath.Join(data, "c/f.csv"), filepath.Join(out, "c/f.csv"))
}

// TestRunListsStaleResults: results in out that the run does not write
// are listed (and kept); a file where a category folder of results goes
// is refused before the replay.
func TestRunListsStaleResults(t *testing.T) {
	data, out := t.TempDir(), t.TempDir()
	short := "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,2\n"
	writeData(t, data, "c/f.csv", short)
	writeData(t, out, "c/f.csv", "old")
	writeData(t, out, "c/gone.csv", "old")
	writeData(t, out, "old/x.csv", "old")
	writeData(t, out, "old/.x.csv.partial", "hidden")
	writeData(t, out, "notes.txt", "not a result")
	res, err := Run(context.Background(), Options{Data: data, Out: out,
		Settings: DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c/gone.csv", "old/x.csv"}; !slices.Equal(res.Stale, want) {
		t.Errorf("stale %q, want %q", res.Stale, want)
	}
	if b, err := os.ReadFile(filepath.Join(out, "old/x.csv")); err != nil || string(b) != "old" {
		t.Errorf("old/x.csv holds %q (%v), want it kept", b, err)
	}

	blocked := t.TempDir()
	writeData(t, blocked, "c", "a file where the folder of c's results goes")
	if _, err := Run(context.Background(), Options{Data: data, Out: blocked,
		Settings: DefaultSettings()}); err == nil ||
		!strings.Contains(err.Error(), "where the results of category c go") {
		t.Errorf("out/c a file: err %v", err)
	}
}

// TestWriteResultsAllOrNone: when one result cannot be written, none is
// left behind, nor the folders made for them.
func TestWriteResultsAllOrNone(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	rows := sine(3)
	files := []FileOutcome{
		{Name: "a/f.csv", Rows: rows, Points: make([]Point, 3)},
		{Name: "b/f.csv", Rows: rows, Points: make([]Point, 3)},
		{Name: "c/f.csv", Rows: rows, Points: make([]Point, 3)},
	}
	if err := os.MkdirAll(filepath.Join(out, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeData(t, out, "b", "a file where folder b goes")
	err := writeResults(out, files)
	if err == nil || !strings.Contains(err.Error(), "b/f.csv") {
		t.Fatalf("err %v, want b/f.csv named", err)
	}
	var left []string
	filepath.WalkDir(out, func(p string, _ os.DirEntry, _ error) error {
		left = append(left, p)
		return nil
	})
	// out, its file b and its folder c were there before.
	if want := []string{out, filepath.Join(out, "b"), filepath.Join(out, "c")}; !slices.Equal(
		left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
	os.Remove(filepath.Join(out, "b"))
	if err := writeResults(out, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if recs := readCSV(t, filepath.Join(out, f.Name)); len(recs) != 4 ||
			recs[1][0] != "2026-01-01 00:00:00" {
			t.Errorf("%s: %q, want a header and three rows", f.Name, recs)
		}
	}
}
