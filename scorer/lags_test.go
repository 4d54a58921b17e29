package scorer_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// TestFitKeepsTheLagsItsDataSupport offers a day and a week: three days of
// data keep the day only and train on no window of the first day, whose
// lag values would be the step itself; twenty days keep both and start a
// week in. Offered lags that are not multiples of the step are dropped.
func TestFitKeepsTheLagsItsDataSupport(t *testing.T) {
	const day, week = 24 * time.Hour, 7 * 24 * time.Hour
	offered := []time.Duration{day, 7 * time.Minute, week}
	for _, tc := range []struct {
		name  string
		step  time.Duration
		n     int
		lags  []time.Duration
		start time.Duration // first window's newest step, after t0
		width int
	}{
		{"three days", 15 * time.Minute, 3 * 96, []time.Duration{day}, day, 1},
		{"twenty days", time.Hour, 20 * 24, []time.Duration{day, week}, week, 2},
		{"one day", 5 * time.Minute, 288, nil, 3 * 5 * time.Minute, 0},
	} {
		opt := smallOptions()
		opt.Lags, opt.Calendar = offered, scorer.Off
		opt.Train.Epochs = 2
		ss := seasonal(1, tc.n, 1, t0, tc.step)
		m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss}, opt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		meta := m.Meta()
		if !slices.Equal(meta.Features.Lags, tc.lags) {
			t.Errorf("%s: kept lags %v, want %v", tc.name, meta.Features.Lags, tc.lags)
		}
		if got := meta.Features.ContextWidth(); got != tc.width {
			t.Errorf("%s: context width %d, want %d", tc.name, got, tc.width)
		}
		// Window 4: without lags the first window ends on the fourth step.
		if got := meta.Data.From.Sub(t0); got != tc.start {
			t.Errorf("%s: first window ends %v after the data start, want %v", tc.name,
				got, tc.start)
		}
		// Every step ending a window from there on is used once.
		last := tc.step * time.Duration(tc.n-1)
		want := int((last-tc.start)/tc.step) + 1
		if d := meta.Data; d.Train+d.Valid+d.Calib != want || d.Excluded != 0 {
			t.Errorf("%s: %d+%d+%d windows, %d excluded; want %d windows", tc.name, d.Train,
				d.Valid, d.Calib, d.Excluded, want)
		}
	}
}
