package scorer_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

const nabDir = "../../shared/datasets/nab/"

// readNAB reads a NAB CSV file as one series.
func readNAB(t testing.TB, name string) []timeseries.Sample {
	t.Helper()
	b, err := os.ReadFile(nabDir + name)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := timeseries.NewCSVDecoder(timeseries.CSVConfig{
		Series: timeseries.NewSeriesID("nab", nil)})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// nabWindows reads the labelled windows of a file.
func nabWindows(t testing.TB, name string) [][2]time.Time {
	t.Helper()
	b, err := os.ReadFile(nabDir + "combined_windows_dev.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string][][2]string
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	var out [][2]time.Time
	for _, w := range all[name] {
		var p [2]time.Time
		for i, s := range w {
			if p[i], err = time.Parse("2006-01-02 15:04:05.000000", s); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, p)
	}
	return out
}

// windowRanks returns, for each labelled window, the share of same-length
// stretches outside every labelled window whose highest score is below the
// labelled window's highest score: 0.5 is chance, 1 means no stretch of
// normal data looks as bad.
func windowRanks(times []time.Time, score []float64, wins [][2]time.Time) []float64 {
	label := make([]bool, len(times))
	for i, tt := range times {
		for _, w := range wins {
			if !tt.Before(w[0]) && !tt.After(w[1]) {
				label[i] = true
			}
		}
	}
	var out []float64
	for _, w := range wins {
		lo, hi := -1, -1
		for i, tt := range times {
			if !tt.Before(w[0]) && !tt.After(w[1]) {
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
		if lo < 0 {
			continue
		}
		n := hi - lo + 1
		top := maxOf(score[lo : hi+1])
		var below, total int
		for s := 0; s+n <= len(times); s += n / 4 {
			clean := true
			for _, l := range label[s : s+n] {
				clean = clean && !l
			}
			if !clean {
				continue
			}
			total++
			if maxOf(score[s:s+n]) < top {
				below++
			}
		}
		out = append(out, float64(below)/float64(total))
	}
	return out
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// TestFitOnNAB fits on the first 750 rows of NAB's machine temperature
// series (its probation period, what "detector evaluate" learns from) and
// scores the rest. What is measured: for each of the four labelled windows,
// the share of same-length stretches of unlabelled data after the training
// rows whose highest score is below the window's highest score. Chance
// gives 0.5. One seed's number can move with any change to the arithmetic
// of training, so the test averages the ranks of seeds 1 and 2 and asks
// for more than 0.6. Measured when written: [0.94 1.00 0.94 1.00] for both
// seeds with the spline layers (mean 0.97); the affine layers gave means
// of 0.60 to 0.77 over seeds 1-4.
func TestFitOnNAB(t *testing.T) {
	const name = "realKnownCause/machine_temperature_system_failure.csv"
	ss := readNAB(t, name)
	labels := nabWindows(t, name)
	var ranks []float64
	for seed := uint64(1); seed <= 2; seed++ {
		m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss[:750]},
			scorer.Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		meta := m.Meta()
		if meta.Features.Window != 8 || meta.Features.Step != 5*time.Minute ||
			meta.Features.Calendar || meta.Data.Samples != 750 {
			t.Fatalf("short-data defaults not taken: %+v %+v", meta.Features, meta.Data)
		}
		w, _, err := meta.Features.Build([][]timeseries.Sample{ss}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sc scorer.Scores
		if err := m.Score(&sc, w.X, w.Context); err != nil {
			t.Fatal(err)
		}
		after := slices.IndexFunc(w.Time, func(tt time.Time) bool {
			return tt.After(meta.Data.To)
		})
		r := windowRanks(w.Time[after:], sc.Score[after:], labels)
		if len(r) != 4 {
			t.Fatalf("%d labelled windows found, want 4", len(r))
		}
		t.Logf("seed %d: labelled window ranks %.3f", seed, r)
		ranks = append(ranks, r...)
	}
	var sum float64
	for _, r := range ranks {
		sum += r
	}
	if avg := sum / float64(len(ranks)); avg <= 0.6 {
		t.Fatalf("labelled windows' mean rank %.3f: no better than chance", avg)
	}
}
