package timeseries

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nabDir is the shared NAB subset, beside the repository both here and in
// CI.
const nabDir = "../../shared/datasets/nab"

func nabFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(nabDir, "*", "*.csv"))
	if err == nil && len(files) == 0 {
		err = os.ErrNotExist
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NAB data set missing at %s: %v", nabDir, err)
		}
		t.Skipf("NAB data set missing at %s (CI=true makes this fail): %v", nabDir, err)
	}
	return files
}

func decodeNAB(t *testing.T, path string) []Sample {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewCSVDecoder(CSVConfig{Series: SeriesID{Name: "nab",
		Labels: []Label{{"file", filepath.Base(path)}}}})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := d.Decode(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if rows := strings.Count(strings.TrimSpace(string(b)), "\n"); len(ss) != rows {
		t.Fatalf("%s: %d samples from %d rows", path, len(ss), rows)
	}
	return ss
}

// medianStep is the typical spacing of a file's timestamps.
func medianStep(ss []Sample) time.Duration {
	d := make([]time.Duration, 0, len(ss))
	for i := 1; i < len(ss); i++ {
		d = append(d, ss[i].Time.Sub(ss[i-1].Time))
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// Every file decodes without error and every sample is accounted for by
// the grid.
func TestNABAllFiles(t *testing.T) {
	files := nabFiles(t)
	if len(files) != 18 {
		t.Errorf("found %d NAB files, the README lists 18", len(files))
	}
	for _, f := range files {
		ss := decodeNAB(t, f)
		step := medianStep(ss)
		cfg := Config{Step: step, Window: 32, MaxFill: 3, Calendar: true,
			Lags: []time.Duration{24 * time.Hour}, NormWarmUp: 200}
		s := newTestSeries(t, cfg, 1)
		w := make([]float64, 32)
		ctx := make([]float64, cfg.ContextWidth(1))
		windows := 0
		consume := func(r Result) {
			for a := range r.Emitted {
				if s.WindowAt(w, a) {
					windows++
				}
				s.ContextAt(ctx, a)
				for _, v := range ctx {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("%s: non-finite context %v", f, ctx)
					}
				}
			}
		}
		for i := range ss {
			consume(s.Push(&ss[i]))
		}
		consume(s.Flush())
		st := s.Stats()
		if st.Accepted+st.TooLate != uint64(len(ss)) || st.Invalid != 0 || windows == 0 {
			t.Errorf("%s: %d samples but stats %+v, %d windows", f, len(ss), st, windows)
		}
		if _, ok := s.Normaliser(); !ok {
			t.Errorf("%s: no online normaliser after %d steps", f, st.Steps)
		}
		t.Logf("%s: step %v, %d samples, %d steps, %d filled, %d restarts, %d too late, %d windows",
			filepath.Base(f), step, len(ss), st.Steps, st.GapFilled, st.WindowRestarts,
			st.TooLate, windows)
	}
}

// The windows of a file with short and long gaps equal the windows built
// directly from its text: one value per 5-minute step, a gap of up to
// three steps carried forward, a longer one restarting the window.
func TestNABWindowsMatchCSV(t *testing.T) {
	nabFiles(t)
	const (
		file    = "realKnownCause/rogue_agent_key_hold.csv"
		step    = 5 * time.Minute
		w       = 16
		maxFill = 3
	)
	raw, err := os.ReadFile(filepath.Join(nabDir, file))
	if err != nil {
		t.Fatal(err)
	}

	// Direct computation, sharing no code with the package.
	var want [][]float64
	var seq []float64 // values since the last restart, filled ones included
	var filled []bool
	lastIdx := int64(0)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")[1:]
	for i, line := range lines {
		ts, val, _ := strings.Cut(line, ",")
		tm, err := time.Parse("2006-01-02 15:04:05", ts)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			t.Fatal(err)
		}
		idx := tm.Unix() / int64(step/time.Second)
		if i > 0 {
			gap := idx - lastIdx - 1
			if gap > maxFill {
				seq, filled = nil, nil
			}
			for j := int64(0); j < gap && gap <= maxFill; j++ {
				seq = append(seq, seq[len(seq)-1])
				filled = append(filled, true)
			}
		}
		seq = append(seq, v)
		filled = append(filled, false)
		lastIdx = idx
		if len(seq) >= w {
			want = append(want, slices.Clone(seq[len(seq)-w:]))
		}
	}

	s := newTestSeries(t, Config{Step: step, Window: w, MaxFill: maxFill}, 1)
	var got [][]float64
	buf := make([]float64, w)
	collect := func(r Result) {
		for a := r.Emitted - 1; a >= 0; a-- {
			if s.Step(a).Filled {
				continue
			}
			if s.WindowAt(buf, a) {
				got = append(got, slices.Clone(buf))
			}
		}
	}
	for _, smp := range decodeNAB(t, filepath.Join(nabDir, file)) {
		collect(s.Push(&smp))
	}
	collect(s.Flush())

	if len(want) < 1000 {
		t.Fatalf("direct computation gave only %d windows", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("%d windows, direct computation gives %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("window %d = %v, want %v", i, got[i], want[i])
		}
	}
	if st := s.Stats(); st.WindowRestarts == 0 || st.GapFilled == 0 {
		t.Errorf("file exercised no gap handling: %+v", st)
	}
}
