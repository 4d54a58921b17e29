package scorer

import (
	"fmt"
	"math"
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

// FormatVersion is the version of Meta written by this package. Decode
// reads it and every older one; a later one must keep reading them all.
//
// Version 2 added Range and DataInfo.Extreme. A version 1 file has
// neither: its Deviation measures from the normaliser's centre.
const FormatVersion = 2

// Meta is what a model file carries besides the flow, as JSON in the file's
// metadata blob. It is everything needed to turn raw samples into the
// windows the flow was trained on and its scores into p-values.
type Meta struct {
	// Format is FormatVersion at the time of writing.
	Format int `json:"format"`
	// Group is the model group the model was trained for.
	Group string `json:"group"`
	// Features says how samples become windows and context vectors.
	Features Features `json:"features"`
	// Norm maps raw values to the model's units, per channel.
	Norm timeseries.Normaliser `json:"norm"`
	// Calibration holds the point scores of the calibration windows, sorted
	// ascending. It is never empty.
	Calibration []float64 `json:"calibration"`
	// Level is the level test's reference: for steps of the training
	// data, 0.5 z^2 of the channel furthest from the normaliser's centre,
	// as at most maxLevel order statistics, ascending. Empty means no
	// level test, as in files written before it.
	Level []float64 `json:"level,omitempty"`
	// Range is, per channel, the smallest and largest raw value of the
	// samples given to Fit, extreme ones left out (DataInfo.Extreme):
	// what Deviation measures from. Empty in format 1 files.
	Range ValueRange `json:"range,omitzero"`
	// Data describes what the model was trained on.
	Data DataInfo `json:"data"`
	// Report holds the training numbers.
	Report Report `json:"report"`
}

// ValueRange holds per-channel bounds of raw values.
type ValueRange struct {
	Min []float64 `json:"min"`
	Max []float64 `json:"max"`
}

// Features is the grid and context configuration shared by training and
// scoring. SeriesConfig turns it into the timeseries.Config a detector
// uses, so online windows match the training ones.
type Features struct {
	// Window is W, the steps per window.
	Window int `json:"window"`
	// Channels is C, the values per step.
	Channels int `json:"channels"`
	// Step is the grid spacing.
	Step time.Duration `json:"step"`
	// MaxFill is the longest gap, in steps, that is filled; longer gaps
	// restart the window.
	MaxFill int `json:"max_fill"`
	// Calendar adds hour-of-day and day-of-week terms to the context.
	Calendar bool `json:"calendar"`
	// TimeZone is the IANA name of the calendar's zone; empty means UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Lags are the seasonal lags whose values are context features.
	Lags []time.Duration `json:"lags,omitempty"`
	// LagResolution is the bucket width of the lag history; zero means
	// Step.
	LagResolution time.Duration `json:"lag_resolution,omitempty"`
}

// DataInfo describes a model's training data.
type DataInfo struct {
	// From and To are the times of the first and last step used.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Series is the number of series.
	Series int `json:"series"`
	// Samples is the number of samples given to Fit.
	Samples int `json:"samples"`
	// Excluded is the number of steps left out because they were flagged
	// (Options.Exclude); every window holding one was dropped.
	Excluded int `json:"excluded"`
	// Extreme is the number of windows left out, after Excluded, for
	// holding a value far outside the bulk of the training data, a glitch
	// such as 1e155 in a series of tens (see dropExtreme).
	Extreme int `json:"extreme,omitempty"`
	// Train, Valid and Calib are the windows in each split.
	Train int `json:"train"`
	Valid int `json:"valid"`
	Calib int `json:"calib"`
}

// Report holds the numbers of a training run. NLLs are mean negative
// log-likelihoods in nats, in normalised units.
type Report struct {
	// TrainNLL and ValidNLL are per window, as flowmodel reports them.
	TrainNLL float64 `json:"train_nll"`
	ValidNLL float64 `json:"valid_nll"`
	// CalibScore is the mean point score of the calibration windows: the
	// per-step NLL of the newest step, the number to compare models by.
	CalibScore float64 `json:"calib_score"`
	Epochs     int     `json:"epochs"`
	BestEpoch  int     `json:"best_epoch"`
	Stopped    string  `json:"stopped"`
	// Seconds is the wall time of training.
	Seconds float64 `json:"seconds"`
}

// SeriesConfig returns the timeseries configuration that produces this
// model's windows and context vectors. Settings that do not change the
// windows (lateness, aggregation, eviction) are left for the caller.
func (f Features) SeriesConfig() (timeseries.Config, error) {
	loc, err := f.location()
	if err != nil {
		return timeseries.Config{}, err
	}
	cfg := timeseries.Config{
		Step:          f.Step,
		Window:        f.Window,
		Channels:      f.Channels,
		MaxFill:       f.MaxFill,
		Fill:          timeseries.FillLinear,
		Calendar:      f.Calendar,
		Location:      loc,
		Lags:          append([]time.Duration(nil), f.Lags...),
		LagResolution: f.LagResolution,
	}
	if err := cfg.Validate(); err != nil {
		return timeseries.Config{}, fmt.Errorf("scorer: features: %w", err)
	}
	return cfg, nil
}

// ContextWidth is the length of one context vector.
func (f Features) ContextWidth() int {
	n := len(f.Lags) * f.Channels
	if f.Calendar {
		n += timeseries.CalendarWidth
	}
	return n
}

// lagOffset is where the lag values start in a context vector.
func (f Features) lagOffset() int {
	if f.Calendar {
		return timeseries.CalendarWidth
	}
	return 0
}

func (f Features) location() (*time.Location, error) {
	if f.TimeZone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(f.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("scorer: features: time zone: %w", err)
	}
	return loc, nil
}

// LogScale returns the sum over channels of log Scale. Added to a point
// score (a negative log-density of normalised values) it gives the negative
// log-density of the raw values, since p_raw(x) = p_norm(z) / prod Scale.
func (m *Meta) LogScale() float64 {
	var s float64
	for _, v := range m.Norm.Scale {
		s += math.Log(v)
	}
	return s
}

// validate checks what Decode and Fit rely on.
func (m *Meta) validate() error {
	f := m.Features
	switch {
	case m.Format < 1 || m.Format > FormatVersion:
		return fmt.Errorf("scorer: metadata format %d, this build reads 1 to %d", m.Format,
			FormatVersion)
	case f.Window < 1 || f.Channels < 1:
		return fmt.Errorf("scorer: metadata: window %d x %d channels", f.Window, f.Channels)
	case m.Norm.Channels() != f.Channels || len(m.Norm.Scale) != f.Channels:
		return fmt.Errorf("scorer: metadata: normaliser has %d channels, want %d",
			m.Norm.Channels(), f.Channels)
	case len(m.Calibration) == 0:
		return fmt.Errorf("scorer: metadata: no calibration scores")
	}
	for _, s := range m.Norm.Scale {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("scorer: metadata: normaliser scale %v", s)
		}
	}
	if r := m.Range; len(r.Min) > 0 || len(r.Max) > 0 {
		if len(r.Min) != f.Channels || len(r.Max) != f.Channels {
			return fmt.Errorf("scorer: metadata: range has %d and %d channels, want %d",
				len(r.Min), len(r.Max), f.Channels)
		}
		for c := range r.Min {
			if !(r.Min[c] <= r.Max[c]) || math.IsInf(r.Min[c], 0) || math.IsInf(r.Max[c], 0) {
				return fmt.Errorf("scorer: metadata: channel %d range [%v, %v]", c, r.Min[c],
					r.Max[c])
			}
		}
	}
	for i, s := range m.Calibration {
		if math.IsNaN(s) || (i > 0 && s < m.Calibration[i-1]) {
			return fmt.Errorf("scorer: metadata: calibration scores not sorted")
		}
	}
	_, err := f.location()
	return err
}
