package nab_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/nab"
)

var base = time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)

// synth builds a file of one-minute rows with the given scores and windows
// given as inclusive row ranges.
func synth(name string, scores []float64, windows ...[2]int) nab.File {
	f := nab.File{Name: name, Scores: scores}
	for i := range scores {
		f.Timestamps = append(f.Timestamps, base.Add(time.Duration(i)*time.Minute))
	}
	for _, w := range windows {
		f.Windows = append(f.Windows, nab.Window{
			First: f.Timestamps[w[0]],
			Last:  f.Timestamps[w[1]],
		})
	}
	return f
}

func mustCorpus(t testing.TB, files ...nab.File) *nab.Corpus {
	t.Helper()
	c, err := nab.NewCorpus(files)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scoresWith returns n scores of value fill with the given rows set.
func scoresWith(n int, fill float64, set map[int]float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = fill
	}
	for i, v := range set {
		s[i] = v
	}
	return s
}

// A 20-row file has a probationary period of 3 rows; its window covers
// rows [8, 11]. Expected values are hand-computed with tanh(-5y/2) (see
// weights_test.go) and hold to float64 rounding.
func TestScoreAtEvents(t *testing.T) {
	scores := scoresWith(20, 0, map[int]float64{
		2:  0.9, // in the probationary period: never a detection
		4:  0.9, // rows 4-5: one false-positive event before the window
		5:  0.9,
		9:  0.9, // first hit, one row after the window's start
		11: 0.9, // in the window; rows 12-13 go on outside it
		12: 0.9,
		13: 0.9,
		17: 0.9, // a third event
	})
	c := mustCorpus(t, synth("c/f.csv", scores, [2]int{8, 11}))
	res := c.ScoreAt(nab.Standard, 0.5)

	// 0.96699 for row 9 (y=-3/4), then 0.11 x (-1 -1 + f(1/3) + f(2/3) + f(2)).
	const wantRaw = 0.45952822145154311
	if math.Abs(res.Raw-wantRaw) > 1e-13 {
		t.Errorf("Raw = %.17g, want %.17g", res.Raw, wantRaw)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"Hits", float64(res.Hits), 1},
		{"FPRows", float64(res.FPRows), 5},
		{"FPEvents", float64(res.FPEvents), 3},
		{"Precision", res.Precision, 0.25},
		{"Recall", res.Recall, 1},
		{"F1", res.F1, 0.4},
		{"MeanDelayRows", res.MeanDelayRows, 1},
		{"MeanDelay", res.MeanDelay.Seconds(), 60},
		{"Null", res.Null, -1},
		{"Perfect", res.Perfect, 1},
		{"Score", res.Score, 100 * (wantRaw + 1) / 2},
	}
	for _, ck := range checks {
		if math.Abs(ck.got-ck.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// Tie-breaking and candidates, on the 20-row file of TestScoreAtEvents
// (window rows [8, 11], probation 3) or a 100-row one (window [60, 63],
// probation 15).
func TestTuneTies(t *testing.T) {
	tests := []struct {
		name   string
		file   nab.File
		want   float64
		wantHi int
	}{
		{
			// 0.9 hits the window's first row; 0.5 adds a later row of the
			// same window, which adds nothing: equal S, higher wins.
			name: "equal S keeps the higher threshold",
			file: synth("c/a.csv", scoresWith(20, 0, map[int]float64{8: 0.9, 10: 0.5}),
				[2]int{8, 11}),
			want:   0.9,
			wantHi: 1,
		},
		{
			// An earlier row at a lower score is worth more (1 vs 0.86).
			name: "earlier detection at lower score wins",
			file: synth("c/b.csv", scoresWith(20, 0, map[int]float64{8: 0.5, 10: 0.9}),
				[2]int{8, 11}),
			want:   0.5,
			wantHi: 1,
		},
		{
			// Every candidate below 1.1 costs more than the missed window:
			// 45 rows before the window fire at 0 and 0.9 is a lone FP.
			name: "nothing pays: 1.1",
			file: synth("c/c.csv", scoresWith(100, 0, map[int]float64{30: 0.9}),
				[2]int{60, 63}),
			want:   nab.NoDetection,
			wantHi: 0,
		},
		{
			// Scores in the probationary period are not candidates.
			name: "probationary scores are not candidates",
			file: synth("c/d.csv", scoresWith(20, 0.1, map[int]float64{1: 0.95, 8: 0.7}),
				[2]int{8, 11}),
			want:   0.7,
			wantHi: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustCorpus(t, tt.file).Tune(nab.Standard)
			if res.Threshold != tt.want || res.Hits != tt.wantHi {
				t.Errorf("threshold %v with %d hits, want %v with %d",
					res.Threshold, res.Hits, tt.want, tt.wantHi)
			}
		})
	}
}

// The sweep must pick what rescoring every candidate would pick. Scores
// are quantised to tenths so that ties are common.
func TestTuneMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for trial := range 20 {
		var files []nab.File
		for k := range 1 + rng.IntN(5) {
			n := 20 + rng.IntN(200)
			scores := make([]float64, n)
			for i := range scores {
				scores[i] = float64(rng.IntN(11)) / 10
			}
			var windows [][2]int
			for lo := 3 + rng.IntN(n/2); lo < n && len(windows) < 3; {
				hi := min(n-1, lo+rng.IntN(n/5+1))
				windows = append(windows, [2]int{lo, hi})
				lo = hi + 1 + rng.IntN(n/3+1)
			}
			files = append(files, synth("c/"+string(rune('a'+k))+".csv", scores, windows...))
		}
		c := mustCorpus(t, files...)

		for _, p := range nab.Profiles() {
			want := bruteForce(c, files, p)
			got := c.Tune(p)
			if got.Threshold != want.Threshold || got.Raw != want.Raw {
				t.Fatalf("trial %d %s: sweep picked %v (S=%v), brute force %v (S=%v)",
					trial, p.Name, got.Threshold, got.Raw, want.Threshold, want.Raw)
			}
		}
	}
}

func bruteForce(c *nab.Corpus, files []nab.File, p nab.Profile) nab.Result {
	seen := map[float64]bool{}
	cands := []float64{nab.NoDetection}
	for _, f := range files {
		for _, s := range f.Scores[nab.ProbationaryLength(len(f.Scores)):] {
			if !seen[s] {
				seen[s] = true
				cands = append(cands, s)
			}
		}
	}
	best := c.ScoreAt(p, nab.NoDetection)
	for _, theta := range cands {
		r := c.ScoreAt(p, theta)
		if r.Raw > best.Raw || (r.Raw == best.Raw && theta > best.Threshold) {
			best = r
		}
	}
	return best
}

func TestThresholdsRoundTrip(t *testing.T) {
	want := nab.Thresholds{
		nab.Standard.Name:    0.1 + 0.2, // not a short decimal
		nab.RewardLowFP.Name: 0.60209514966299997,
		nab.RewardLowFN.Name: nab.NoDetection,
	}
	path := filepath.Join(t.TempDir(), "thresholds.json")
	if err := nab.SaveThresholds(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := nab.LoadThresholds(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d thresholds, want %d", len(got), len(want))
	}
	for name, theta := range want {
		if math.Float64bits(got[name]) != math.Float64bits(theta) {
			t.Errorf("%s: got %.17g, want %.17g bit for bit", name, got[name], theta)
		}
	}
}

func TestReadThresholdsRejects(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"unknown profile", `{"standard": 0.5, "sensitive": 0.4}`, "unknown profile"},
		{"empty", `{}`, "no thresholds"},
		{"empty file", ``, "empty"},
		{"not a number", `{"standard": "0.5"}`, "cannot unmarshal"},
		{"null", `{"standard": null, "reward_low_FP_rate": 0.4}`, "standard is null"},
		{"truncated", `{"standard": 0.5`, "unexpected EOF"},
		{"negative", `{"standard": -5}`, "want a value in"},
		{"above no detection", `{"standard": 7}`, "want a value in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := nab.ReadThresholds(strings.NewReader(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
	nan := nab.Thresholds{"standard": math.NaN()}
	if err := nab.WriteThresholds(&bytes.Buffer{}, nan); err == nil {
		t.Error("WriteThresholds accepted NaN")
	}
}

func TestReadSeries(t *testing.T) {
	in := "value,anomaly_score,timestamp,label\n" +
		"1.5,0.25,2014-02-14 14:30:00,0\n" +
		"2.5,1,2014-02-14 14:35:00.500000,1\n"
	s, err := nab.ReadSeries(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	wantTS := []time.Time{
		time.Date(2014, 2, 14, 14, 30, 0, 0, time.UTC),
		time.Date(2014, 2, 14, 14, 35, 0, 5e8, time.UTC),
	}
	if len(s.Timestamps) != 2 || !s.Timestamps[0].Equal(wantTS[0]) ||
		!s.Timestamps[1].Equal(wantTS[1]) {
		t.Errorf("timestamps %v, want %v", s.Timestamps, wantTS)
	}
	if len(s.Scores) != 2 || s.Scores[0] != 0.25 || s.Scores[1] != 1 {
		t.Errorf("scores %v, want [0.25 1]", s.Scores)
	}
}

func TestReadSeriesRejects(t *testing.T) {
	tests := []struct{ name, csv string }{
		{"no score column", "timestamp,value\n2014-02-14 14:30:00,1\n"},
		{"score above 1", "timestamp,anomaly_score\n2014-02-14 14:30:00,1.5\n"},
		{"NaN score", "timestamp,anomaly_score\n2014-02-14 14:30:00,NaN\n"},
		{"bad timestamp", "timestamp,anomaly_score\n2014-02-14T14:30:00Z,0.5\n"},
		{"short row", "timestamp,anomaly_score\n2014-02-14 14:30:00\n"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := nab.ReadSeries(strings.NewReader(tt.csv)); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestReadSeriesDecimalScores: scores are read as the detector's CSV
// decoder reads values; Go's syntax, which strconv takes, is refused with
// the value named, where 0x1p-1 once read as 0.5 and 0_0 as 0.
func TestReadSeriesDecimalScores(t *testing.T) {
	for score, why := range map[string]string{"0x1p-1": "hexadecimal", "0_0": "underscore"} {
		_, err := nab.ReadSeries(strings.NewReader(
			"timestamp,anomaly_score\n2014-02-14 14:30:00," + score + "\n"))
		if err == nil || !strings.Contains(err.Error(), `line 2: anomaly_score: value "`+score+`"`) ||
			!strings.Contains(err.Error(), why) {
			t.Errorf("score %s: %v; want refused as %s, naming line and value", score, err, why)
		}
	}
	s, err := nab.ReadSeries(strings.NewReader(
		"timestamp,anomaly_score\n2014-02-14 14:30:00, 5e-1 \n2014-02-14 14:35:00,1E0\n"))
	if err != nil || len(s.Scores) != 2 || s.Scores[0] != 0.5 || s.Scores[1] != 1 {
		t.Errorf("exponent scores: %v, %v; want [0.5 1]", s.Scores, err)
	}
}

func TestReadLabels(t *testing.T) {
	in := `{"a/x.csv": [], "b/y.csv": [["2014-04-10 07:15:00.000000", "2014-04-11 16:45:00"]]}`
	l, err := nab.ReadLabels(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Names(); len(got) != 2 || got[0] != "a/x.csv" || got[1] != "b/y.csv" {
		t.Fatalf("names %v", got)
	}
	w := l["b/y.csv"]
	if len(w) != 1 || !w[0].First.Equal(time.Date(2014, 4, 10, 7, 15, 0, 0, time.UTC)) ||
		!w[0].Last.Equal(time.Date(2014, 4, 11, 16, 45, 0, 0, time.UTC)) {
		t.Errorf("windows %v", w)
	}

	bad := []string{
		`{"a.csv": [["2014-04-11 00:00:00", "2014-04-10 00:00:00"]]}`,
		`{"a.csv": [["2014-04-10 00:00:00", "2014-04-11 00:00:00"],
		            ["2014-04-11 00:00:00", "2014-04-12 00:00:00"]]}`,
		`{"a.csv": [["2014-04-10 00:00:00"]]}`,
	}
	for _, in := range bad {
		if _, err := nab.ReadLabels(strings.NewReader(in)); err == nil {
			t.Errorf("no error for %s", in)
		}
	}

	// A name given twice would lose one of its lists: the error names it.
	twice := `{"a/x.csv": [["2014-04-10 00:00:00", "2014-04-11 00:00:00"]], "b/y.csv": [],
		"a/x.csv": []}`
	if _, err := nab.ReadLabels(strings.NewReader(twice)); err == nil ||
		!strings.Contains(err.Error(), `"a/x.csv" twice`) {
		t.Errorf("a name given twice: err %v, want it named", err)
	}
	for _, in := range []string{`[]`, `"a/x.csv"`, `{"a/x.csv": [] `, `{"a/x.csv": {}}`} {
		if _, err := nab.ReadLabels(strings.NewReader(in)); err == nil {
			t.Errorf("no error for %s", in)
		}
	}
}

func TestNewCorpusRejects(t *testing.T) {
	good := synth("c/f.csv", make([]float64, 20), [2]int{8, 11})

	offGrid := good
	offGrid.Windows = []nab.Window{
		{First: base.Add(30 * time.Second), Last: base.Add(11 * time.Minute)},
	}
	short := good
	short.Scores = short.Scores[:19]

	for name, f := range map[string]nab.File{"window off the rows": offGrid, "length": short} {
		if _, err := nab.NewCorpus([]nab.File{f}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// LoadResults accepts our layout (cat/file.csv) and NAB's
// (cat/<detector>_file.csv, detector = the folder's name).
func TestLoadResultsLayouts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "det")
	csv := "timestamp,value,anomaly_score\n2014-04-01 00:00:00,1,0.5\n"
	write := func(rel string) {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/x.csv")
	write("b/det_y.csv")

	labels := nab.Labels{"a/x.csv": nil, "b/y.csv": nil}
	files, err := nab.LoadResults(dir, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Name != "a/x.csv" || files[1].Scores[0] != 0.5 {
		t.Errorf("files %+v", files)
	}

	labels["c/z.csv"] = nil
	if _, err := nab.LoadResults(dir, labels); err == nil {
		t.Error("missing results file: no error")
	}
}
