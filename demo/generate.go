package demo

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

// Fault kinds injected by Generate.
const (
	FaultSpike         = "spike"
	FaultLevelShift    = "level shift"
	FaultStuckSensor   = "stuck sensor"
	FaultVarianceBurst = "variance burst"
)

// Fault is a stretch of a series known to be abnormal: a fault Generate
// injected, or a labelled window of a NAB file.
type Fault struct {
	Kind   string
	Series string // series key
	// From and To are the first and last abnormal steps, inclusive.
	From, To time.Time
}

// Caught reports whether one of the flagged times of the fault's series
// lies in [From, To+after]. A point after the fault still has faulty steps
// in its window, so a detector may well see the fault there: after is
// typically the window's span.
func (f Fault) Caught(flagged []time.Time, after time.Duration) bool {
	end := f.To.Add(after)
	for _, t := range flagged {
		if !t.Before(f.From) && !t.After(end) {
			return true
		}
	}
	return false
}

// GenConfig shapes the generated series. Zero fields take the defaults of
// DefaultGen.
type GenConfig struct {
	// Series names the series.
	Series timeseries.SeriesID
	// Start is the first sample's time; Step the spacing; Days the length.
	Start time.Time
	Step  time.Duration
	Days  int
	// Seed fixes the noise.
	Seed uint64
}

// DefaultGen is the demo's series: a machine temperature every 5 minutes
// for 14 days from Monday 2026-01-05 00:00 UTC.
func DefaultGen() GenConfig {
	return GenConfig{
		Series: timeseries.NewSeriesID("machine_temperature",
			map[string]string{"host": "demo-1"}),
		Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
		Step:  5 * time.Minute,
		Days:  14,
		Seed:  7,
	}
}

// Generate returns a series with a daily cycle (peak at 15:00), slow
// correlated drift and measurement noise, and the faults injected in its
// second week, one of each kind:
//
//   - spike: one reading 6 degrees high (day 8, 10:00);
//   - level shift: 4 degrees up for 4 hours (day 9, 13:00);
//   - stuck sensor: the reading freezes for 2 hours while the daily cycle
//     moves on (day 10, 08:00);
//   - variance burst: six times the noise for 1 hour (day 12, 16:00).
//
// The first week is clean, so that a model bootstrapped on it has seen
// only normal behaviour. The same config gives the same series.
func Generate(cfg GenConfig) ([]timeseries.Sample, []Fault) {
	d := DefaultGen()
	if cfg.Series.Name == "" {
		cfg.Series = d.Series
	}
	if cfg.Start.IsZero() {
		cfg.Start = d.Start
	}
	if cfg.Step <= 0 {
		cfg.Step = d.Step
	}
	if cfg.Days <= 0 {
		cfg.Days = d.Days
	}
	key := cfg.Series.Key()
	at := func(day, hour int) time.Time {
		return cfg.Start.Add(time.Duration(day)*24*time.Hour + time.Duration(hour)*time.Hour)
	}
	steps := func(h time.Duration) time.Duration { return h - cfg.Step }
	faults := []Fault{
		{Kind: FaultSpike, From: at(8, 10), To: at(8, 10)},
		{Kind: FaultLevelShift, From: at(9, 13), To: at(9, 13).Add(steps(4 * time.Hour))},
		{Kind: FaultStuckSensor, From: at(10, 8), To: at(10, 8).Add(steps(2 * time.Hour))},
		{Kind: FaultVarianceBurst, From: at(12, 16), To: at(12, 16).Add(steps(time.Hour))},
	}
	for i := range faults {
		faults[i].Series = key
	}
	// Drop the faults that fall outside a shortened series.
	end := cfg.Start.Add(time.Duration(cfg.Days) * 24 * time.Hour)
	kept := faults[:0]
	for _, f := range faults {
		if f.To.Before(end) {
			kept = append(kept, f)
		}
	}
	faults = kept

	rng := rand.New(rand.NewPCG(cfg.Seed, 2))
	n := int(end.Sub(cfg.Start) / cfg.Step)
	out := make([]timeseries.Sample, n)
	drift, last := 0.0, 0.0
	for i := range out {
		t := cfg.Start.Add(time.Duration(i) * cfg.Step)
		hour := float64(t.Sub(cfg.Start)%(24*time.Hour)) / float64(time.Hour)
		drift = 0.98*drift + 0.08*rng.NormFloat64()
		noise := 0.15
		v := 60 + 5*math.Cos(2*math.Pi*(hour-15)/24) + drift
		for _, f := range faults {
			if t.Before(f.From) || t.After(f.To) {
				continue
			}
			switch f.Kind {
			case FaultSpike:
				v += 6
			case FaultLevelShift:
				v += 4
			case FaultVarianceBurst:
				noise *= 6
			}
		}
		v += noise * rng.NormFloat64()
		if stuck(faults, t) {
			v = last
		}
		last = v
		out[i] = timeseries.Sample{Series: cfg.Series, Time: t, Values: []float64{v}}
	}
	return out, faults
}

func stuck(faults []Fault, t time.Time) bool {
	for _, f := range faults {
		if f.Kind == FaultStuckSensor && !t.Before(f.From) && !t.After(f.To) {
			return true
		}
	}
	return false
}
