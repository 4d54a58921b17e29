package forecast

import (
	"errors"
	"fmt"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// History is the grid of a series as the detector sees it: one row of C
// values per step, oldest first, gap-filled steps included. Times need not
// be contiguous (a long gap restarts the grid), but the newest W-1 steps
// that open a forecast must be.
type History struct {
	Times  []time.Time
	Values []float64 // len(Times)*C, time-major
}

// Len returns the number of steps.
func (h History) Len() int { return len(h.Times) }

// Grid turns raw samples of one series (in time order) into the grid the
// model's features describe, with the detector's own aggregation and gap
// filling, so that forecasts start from the windows the detector scores.
func Grid(samples []timeseries.Sample, f scorer.Features) (History, error) {
	if len(samples) == 0 {
		return History{}, errors.New("forecast: grid: no samples")
	}
	cfg, err := f.SeriesConfig()
	if err != nil {
		return History{}, fmt.Errorf("forecast: grid: %w", err)
	}
	s, err := timeseries.NewSeries(samples[0].Series, cfg, f.Channels)
	if err != nil {
		return History{}, fmt.Errorf("forecast: grid: %w", err)
	}
	var h History
	take := func(emitted int) {
		for ago := emitted - 1; ago >= 0; ago-- {
			st := s.Step(ago)
			h.Times = append(h.Times, st.Time)
			h.Values = append(h.Values, st.Values...)
		}
	}
	for i := range samples {
		res := s.Push(&samples[i])
		if res.Reason == timeseries.ReasonChannels {
			return History{}, fmt.Errorf("forecast: grid: sample %d has %d values, want %d",
				i, len(samples[i].Values), f.Channels)
		}
		take(res.Emitted)
	}
	take(s.Flush().Emitted)
	return h, nil
}

// Slice returns the steps [i, j) of h, sharing its storage.
func (h History) Slice(i, j int) History {
	c := 0
	if len(h.Times) > 0 {
		c = len(h.Values) / len(h.Times)
	}
	return History{Times: h.Times[i:j], Values: h.Values[i*c : j*c]}
}
