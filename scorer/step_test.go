package scorer_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// spaced returns n samples of series key, step apart from t0 (each moved
// by up to jitter either way), with standard normal values.
func spaced(key string, n int, step, jitter time.Duration) []timeseries.Sample {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(step)))
	id := timeseries.NewSeriesID(key, nil)
	out := make([]timeseries.Sample, n)
	for i := range out {
		t := t0.Add(time.Duration(i) * step)
		if jitter > 0 {
			t = t.Add(time.Duration(rng.Int64N(int64(2*jitter))) - jitter)
		}
		out[i] = timeseries.Sample{Series: id, Time: t, Values: []float64{rng.NormFloat64()}}
	}
	return out
}

// TestFitRefusesSeriesOfDifferentSteps: with the step left to Fit, it was
// taken from the first series, and a sparser second series then filled no
// window of that grid and vanished from the fit without a word.
func TestFitRefusesSeriesOfDifferentSteps(t *testing.T) {
	cases := []struct {
		name        string
		first, then time.Duration
	}{
		{"5m then 30m", 5 * time.Minute, 30 * time.Minute},
		{"30m then 5m", 30 * time.Minute, 5 * time.Minute},
		{"1m then 2m", time.Minute, 2 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			series := [][]timeseries.Sample{spaced("a", 600, tc.first, 0),
				spaced("b", 600, tc.then, 0)}
			_, err := scorer.Fit(context.Background(), series, smallOptions())
			var mm *scorer.StepMismatchError
			if !errors.As(err, &mm) {
				t.Fatalf("Fit: %v, want a *StepMismatchError", err)
			}
			want := scorer.StepMismatchError{First: 0, FirstKey: "a{}", FirstStep: tc.first,
				Series: 1, Key: "b{}", Step: tc.then}
			if *mm != want {
				t.Fatalf("error %+v, want %+v", *mm, want)
			}
		})
	}
}

// TestFitToleratesJitter: live clocks wobble; spacings within a tenth of
// each other are one step.
func TestFitToleratesJitter(t *testing.T) {
	series := [][]timeseries.Sample{spaced("a", 1500, time.Minute, 0),
		spaced("b", 1500, 63*time.Second, 2*time.Second)}
	m, err := scorer.Fit(context.Background(), series, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if st := m.Meta().Features.Step; st != time.Minute {
		t.Fatalf("step %s, want the first series' 1m", st)
	}
}

func TestUnwindowed(t *testing.T) {
	feat := scorer.Features{Window: 4, Channels: 1, Step: time.Minute, MaxFill: 3}

	// Two steps alone between gaps of an hour: too few for a window.
	fragment := slices.Concat(spaced("fragment", 50, time.Minute, 0),
		shift(spaced("fragment", 2, time.Minute, 0), time.Hour+50*time.Minute),
		shift(spaced("fragment", 50, time.Minute, 0), 3*time.Hour))
	// One sample arrives after its step was final.
	late := spaced("late", 50, time.Minute, 0)
	late = append(late, late[10])
	series := [][]timeseries.Sample{
		spaced("regular", 100, time.Minute, 0),
		spaced("sparse", 100, 5*time.Minute, 0), // gaps of 4 steps, MaxFill 3
		spaced("dense", 100, 20*time.Second, 0), // three samples a step
		fragment,
		late,
	}
	got, err := feat.Unwindowed(series)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 100, 0, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("Unwindowed = %v, want %v (regular, sparse, dense, fragment, late)",
			got, want)
	}

	// The lags' first history is in no window either, as in Fit.
	feat.Lags = []time.Duration{10 * time.Minute}
	got, err = feat.Unwindowed(series[:1])
	if err != nil {
		t.Fatal(err)
	}
	// Windows end from the first step plus the lag: steps 10 to 99; the
	// first of them reaches back to step 7.
	if want := []int{7}; !slices.Equal(got, want) {
		t.Fatalf("Unwindowed with a 10m lag = %v, want %v", got, want)
	}

	if _, err := (scorer.Features{Window: 4, Channels: 1}).Unwindowed(series); err == nil {
		t.Fatal("Unwindowed without a grid step succeeded")
	}
}

// shift moves every sample of ss by d.
func shift(ss []timeseries.Sample, d time.Duration) []timeseries.Sample {
	for i := range ss {
		ss[i].Time = ss[i].Time.Add(d)
	}
	return ss
}
