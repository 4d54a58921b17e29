package training

import (
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

func TestPolicyDecide(t *testing.T) {
	p := Policy{Margin: 0.05, KSTolerance: 0.1}
	champ := scorer.Assessment{Windows: 200, MeanScore: 2, KS: 0.1}
	for _, c := range []struct {
		name       string
		cand       scorer.Assessment
		sawHeldOut bool
		promote    bool
		reason     string
	}{
		{"better", scorer.Assessment{Windows: 200, MeanScore: 1.9, KS: 0.12}, false, true,
			"at least margin"},
		{"gain below margin", scorer.Assessment{Windows: 200, MeanScore: 1.96, KS: 0.05},
			false, false, "gain 0.0400 below margin 0.0500"},
		{"worse", scorer.Assessment{Windows: 200, MeanScore: 2.5, KS: 0.05}, false, false,
			"below margin"},
		{"worse calibrated", scorer.Assessment{Windows: 200, MeanScore: 1, KS: 0.21}, false,
			false, "calibration worse"},
		// The champion's KS on its own calibration data means nothing.
		{"champion saw the data", scorer.Assessment{Windows: 200, MeanScore: 1, KS: 0.21},
			true, true, "calibration not compared"},
		{"too few windows", scorer.Assessment{Windows: 31, MeanScore: 1, KS: 0.1}, false,
			false, "too few"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := p.Decide(c.cand, champ, 3, c.sawHeldOut)
			if ev.Promote != c.promote || !strings.Contains(ev.Reason, c.reason) ||
				ev.Gain != champ.MeanScore-c.cand.MeanScore || ev.ChampionVersion != 3 {
				t.Fatalf("Decide = %+v; want promote %v, reason with %q", ev, c.promote,
					c.reason)
			}
		})
	}
}

// minutes returns n samples of series name, one a minute from t0 plus
// offset minutes.
func minutes(name string, offset, n int) []timeseries.Sample {
	id := timeseries.NewSeriesID(name, nil)
	out := make([]timeseries.Sample, n)
	for i := range out {
		out[i] = timeseries.Sample{Series: id, Values: []float64{float64(i)},
			Time: t0.Add(time.Duration(offset+i) * time.Minute)}
	}
	return out
}

func TestRecent(t *testing.T) {
	// a ends at minute 99, b at minute 79.
	a, b := minutes("a", 0, 100), minutes("b", 60, 20)
	for _, c := range []struct {
		name         string
		lookback     time.Duration
		steps        int
		wantA, wantB int
	}{
		{"no bound", 0, 0, 100, 20},
		{"steps per series", 0, 10, 10, 10},
		// (99 - 30, 99]: b keeps minutes 70 to 79.
		{"time before the newest sample", 30 * time.Minute, 0, 30, 10},
		{"the shorter wins", 30 * time.Minute, 5, 5, 5},
		{"series left empty are dropped", 15 * time.Minute, 0, 15, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Recent([][]timeseries.Sample{a, b}, c.lookback, c.steps)
			n := func(i int) int {
				if i < len(got) {
					return len(got[i])
				}
				return 0
			}
			if n(0) != c.wantA || n(1) != c.wantB || !got[0][n(0)-1].Time.Equal(a[99].Time) {
				t.Fatalf("kept %d and %d samples, want %d and %d", n(0), n(1), c.wantA,
					c.wantB)
			}
		})
	}
}

func TestHoldOut(t *testing.T) {
	a, b, c := minutes("a", 0, 100), minutes("b", 0, 2), minutes("c", 0, 1)
	fit, cuts := holdOut([][]timeseries.Sample{a, b, c}, 0.2, time.Time{})
	if len(fit[0]) != 80 || !cuts[0].Equal(a[80].Time) {
		t.Fatalf("a: fit %d, cut %v; want 80 and minute 80", len(fit[0]), cuts[0])
	}
	// Two samples: one each side. One sample: nothing to hold out.
	if len(fit[1]) != 1 || !cuts[1].Equal(b[1].Time) || len(fit[2]) != 1 || !cuts[2].IsZero() {
		t.Fatalf("short series: fit %d and %d, cuts %v and %v", len(fit[1]), len(fit[2]),
			cuts[1], cuts[2])
	}
	// Since minute 50: a fifth of the 50 samples from there on.
	fit, cuts = holdOut([][]timeseries.Sample{a}, 0.2, a[50].Time)
	if len(fit[0]) != 90 || !cuts[0].Equal(a[90].Time) {
		t.Fatalf("since minute 50: fit %d, cut %v; want 90 and minute 90", len(fit[0]), cuts[0])
	}
}

func TestExclusion(t *testing.T) {
	w := &Worker{cfg: WorkerConfig{MaxFlaggedShare: 0.1}}
	sparse, dense := minutes("sparse", 0, 100), minutes("dense", 0, 100)
	flagged := map[string][]time.Time{
		"sparse{}": {sparse[3].Time, sparse[50].Time},
		"dense{}":  {},
		"gone{}":   {t0},
	}
	for i := range 11 {
		flagged["dense{}"] = append(flagged["dense{}"], dense[i].Time)
	}
	var rng Range
	ex := w.exclusion([][]timeseries.Sample{sparse, dense}, flagged, &rng)
	if rng.Flagged != 13 || len(rng.FlagsKept) != 1 || rng.FlagsKept[0] != "dense{}" {
		t.Fatalf("range %+v; want 13 flagged, those of dense kept", rng)
	}
	if !ex(sparse[3].Series, sparse[3].Time) || ex(sparse[4].Series, sparse[4].Time) ||
		ex(dense[0].Series, dense[0].Time) {
		t.Fatal("exclude: want sparse flags only")
	}
	if ex := w.exclusion([][]timeseries.Sample{dense}, flagged, &Range{}); ex != nil {
		t.Fatal("exclusion with only dense flags is not nil")
	}
}
