package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flowguard/flowguard/drift"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// Settings are the detector settings an evaluation runs with, the same
// for every series. Start from DefaultSettings: of the zero values only
// Window, MaxFill and Fitter take the defaults.
type Settings struct {
	// Window is W, the steps in a model window (default 12).
	Window int
	// MaxFill is the longest gap, in steps, filled rather than restarting
	// the window (default 3).
	MaxFill int
	// Calendar adds hour-of-day and day-of-week context.
	Calendar bool
	// Lags are the seasonal lags offered as context. A fit uses a lag
	// only when its training data spans at least twice the lag, and then
	// leaves out the steps before one lag has passed, whose lag values
	// would be the step itself.
	Lags []time.Duration
	// Probation is the number of leading rows the first model learns on;
	// 0 means NAB's min(floor(0.15 n), 750).
	Probation int
	// RetrainRows is how many recent rows a retrain learns on (default
	// 3000); 0 means the probation length.
	RetrainRows int
	// Drift configures the drift monitor, which tests the model's point
	// p-values (before the level test joins them); a drift retrains the
	// model.
	Drift drift.Config
	// RetrainGap is the fewest rows between two retrains; 0 means the
	// probation length. A drift verdict sooner is ignored, as the service
	// keeps one retrain job per model group at a time.
	RetrainGap int
	// Refresh also refits every RetrainGap rows, drift or not, as a
	// trainer on a schedule does (default on).
	Refresh bool
	// NoRetrain turns retraining on drift off.
	NoRetrain bool
	// LiveCalibration adds every scored point to the calibration set, up
	// to this many live points (0: off, negative: no limit, the default).
	LiveCalibration int
	// Level adds a level test: how far the value is from the median of
	// the training values, against their own spread, so a slow move to
	// a level never seen is found even when every step looks plausible.
	Level bool
	// Policy configures the alarm policy.
	Policy PolicyConfig
	// Fitter fits the models; nil means FlowFitter{}, the service's model.
	Fitter Fitter `json:"-"`
}

// DefaultSettings returns the product defaults. They were chosen on NAB's
// development subset (see BENCHMARKS.md) and are the same for every series.
func DefaultSettings() Settings {
	return Settings{
		Window:          12,
		MaxFill:         3,
		Lags:            []time.Duration{24 * time.Hour, 7 * 24 * time.Hour},
		RetrainRows:     3000,
		Level:           true,
		LiveCalibration: -1,
		Refresh:         true,
		Drift:           drift.Config{Window: 400, Every: 40},
		Policy:          PolicyConfig{Alpha: 1e-6, Quiet: 100, Run: 4},
	}
}

func (s Settings) withDefaults() Settings {
	d := DefaultSettings()
	if s.Window <= 1 {
		s.Window = d.Window
	}
	if s.MaxFill == 0 {
		s.MaxFill = d.MaxFill
	}
	s.MaxFill = max(s.MaxFill, 0)
	if s.Fitter == nil {
		s.Fitter = FlowFitter{}
	}
	return s
}

// Row is one input row of a series.
type Row struct {
	Time  time.Time
	Value float64
}

// Point is the outcome of one row.
type Point struct {
	// Score is the anomaly score in [0, 1]; 0 in the probationary period
	// and for rows the grid refused or did not score.
	Score float64
	// PValue is the point's p-value; 1 when not scored.
	PValue float64
	// Alarm reports that the row raised a new alarm.
	Alarm bool
	// Retrained reports that a drift verdict at this row refitted the
	// model.
	Retrained bool
}

// ReplayStats counts what happened along one series.
type ReplayStats struct {
	// Rows is the series' length and Probation its unscored leading rows.
	Rows, Probation int
	// Alarms counts incidents opened; Retrains counts refits on drift.
	Alarms, Retrains int
	// Rejected counts rows the grid refused (too late).
	Rejected int
	// FailedRetrains counts retrains that could not fit; the old model
	// stays.
	FailedRetrains int
	// LastError is the error of the last failed retrain.
	LastError string
}

// replayer is the online state of one series.
type replayer struct {
	set     Settings
	feat    scorer.Features
	samples []timeseries.Sample
	rowStep []int64 // grid index of each row
	flagged map[int64]bool

	series *timeseries.Series
	model  Model
	calib  *Calibration
	level  *Calibration // of the values' distance from their median
	norm   timeseries.Normaliser
	lo, hi float64

	monitor *drift.Monitor
	policy  *Policy
	win     []float64
	ctxv    []float64
	pending int  // first row whose step has not been emitted
	drifted bool // a drift verdict waits for the current push to finish
	fitAt   int  // the row of the last fit
}

// Replay runs one series through the online path and returns one Point per
// row. rows must be in time order (a row older than a final step is
// refused, as online).
func Replay(ctx context.Context, rows []Row, set Settings) ([]Point, ReplayStats, error) {
	set = set.withDefaults()
	st := ReplayStats{Rows: len(rows), Probation: set.Probation}
	if st.Probation == 0 {
		st.Probation = min(len(rows)*15/100, 750)
	}
	if len(rows) < 2 || st.Probation < 2 {
		return nil, st, errors.New("evaluate: series too short")
	}
	r := &replayer{set: set, monitor: drift.NewMonitor(set.Drift),
		policy: NewPolicy(set.Policy), flagged: make(map[int64]bool)}
	r.feat = scorer.Features{Window: set.Window, Channels: 1, MaxFill: set.MaxFill,
		Step: medianStep(rows[:st.Probation]), Calendar: set.Calendar}
	r.samples = make([]timeseries.Sample, len(rows))
	r.rowStep = make([]int64, len(rows))
	vals := make([]float64, len(rows))
	for i, row := range rows {
		vals[i] = row.Value
		r.samples[i] = timeseries.Sample{Series: timeseries.SeriesID{Name: "eval"},
			Time: row.Time, Values: vals[i : i+1]}
		r.rowStep[i] = row.Time.UnixNano() / int64(r.feat.Step)
	}

	out := make([]Point, len(rows))
	for i := range out {
		out[i].PValue = 1
	}
	for i := range rows {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		if i+1 == st.Probation {
			if err := r.fit(ctx, 0, i, i); err != nil {
				return nil, st, fmt.Errorf("evaluate: initial fit: %w", err)
			}
			continue
		}
		if r.series == nil {
			continue
		}
		res := r.series.Push(&r.samples[i])
		if res.Reason != timeseries.ReasonNone {
			st.Rejected++
		}
		r.emitted(res.Emitted, i, out, &st)
		if r.set.Refresh && i-1-r.fitAt >= r.gap(&st) {
			r.drifted = true
		}
		if r.drifted {
			r.drifted = false
			if err := r.retrain(ctx, i, out, &st); err != nil {
				return nil, st, err
			}
		}
	}
	if r.series != nil {
		r.emitted(r.series.Flush().Emitted, len(rows), out, &st)
	}
	for i := range st.Probation {
		out[i] = Point{PValue: 1}
	}
	return out, st, nil
}

// medianStep is the median positive spacing of the rows, the grid step a
// user would configure for such a series.
func medianStep(rows []Row) time.Duration {
	var d []time.Duration
	for i := 1; i < len(rows); i++ {
		if dt := rows[i].Time.Sub(rows[i-1].Time); dt > 0 {
			d = append(d, dt)
		}
	}
	if len(d) == 0 {
		return time.Minute
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// emitted scores the steps the last Push or Flush emitted, oldest first,
// and hands each score to the rows of its step; now is the row being
// pushed (rows before it can have their steps emitted).
func (r *replayer) emitted(n, now int, out []Point, st *ReplayStats) {
	for ago := n - 1; ago >= 0; ago-- {
		step := r.series.Step(ago)
		idx := step.Time.UnixNano() / int64(r.feat.Step)
		if step.Filled || !step.Ready || !r.series.WindowAt(r.win, ago) {
			continue
		}
		r.series.ContextAt(r.ctxv, ago)
		p := r.score(idx, st)
		for r.pending < now && r.rowStep[r.pending] <= idx {
			if r.rowStep[r.pending] == idx {
				out[r.pending] = p
			}
			r.pending++
		}
	}
}

// fit trains on rows [from, to] and rebuilds the series state by replaying
// every row up to upTo, as a detector restoring a series would.
func (r *replayer) fit(ctx context.Context, from, to, upTo int) error {
	feat := r.feat
	// Lag values need history before the first training step: windows
	// start at row from, the lag history as early as the data allows.
	begin := r.samples[from].Time
	var need time.Duration
	for _, l := range r.set.Lags {
		if l%feat.Step != 0 {
			continue
		}
		first := later(begin, r.samples[0].Time.Add(l+feat.Step))
		if 2*r.samples[to].Time.Sub(first) >= r.samples[to].Time.Sub(begin) {
			feat.Lags = append(feat.Lags, l)
			need = max(need, l)
		}
	}
	warm := from
	for warm > 0 && begin.Sub(r.samples[warm-1].Time) <= need {
		warm--
	}
	t0 := later(begin, r.samples[warm].Time.Add(need+feat.Step))
	exclude := func(t time.Time) bool {
		return t.Before(t0) || r.flagged[t.UnixNano()/int64(feat.Step)]
	}
	m, err := r.set.Fitter.Fit(ctx, r.samples[warm:to+1], feat, exclude)
	if err != nil {
		return err
	}
	cal, err := NewCalibration(m.Calibration())
	if err != nil {
		return err
	}
	cfg, err := feat.SeriesConfig()
	if err != nil {
		return err
	}
	s, err := timeseries.NewSeries(timeseries.SeriesID{Name: "eval"}, cfg, 1)
	if err != nil {
		return err
	}
	for i := range upTo + 1 {
		s.Push(&r.samples[i])
	}
	r.series, r.model, r.calib = s, m, cal
	if r.set.Level {
		if err := r.fitLevel(from, to); err != nil {
			return err
		}
	}
	r.win = make([]float64, feat.Window)
	r.ctxv = make([]float64, feat.ContextWidth())
	r.lo, r.hi = math.Inf(1), math.Inf(-1)
	for i := from; i <= to; i++ {
		r.lo, r.hi = min(r.lo, r.samples[i].Values[0]), max(r.hi, r.samples[i].Values[0])
	}
	r.monitor.Reset()
	r.fitAt = to
	return nil
}

// score scores the step at grid index idx with the current model and
// applies the policy and the drift monitor.
func (r *replayer) score(idx int64, st *ReplayStats) Point {
	s, err := r.model.Score(r.win, r.ctxv)
	if err != nil || math.IsNaN(s) {
		// A broken score is treated as the most improbable point, so it
		// is seen rather than hidden.
		s = math.Inf(1)
	}
	u := r.calib.Surprise(s)
	pointP := math.Exp(-u) // the model's own p-value, what drift tests
	if r.level != nil {
		z := (r.win[len(r.win)-1] - r.norm.Loc[0]) / r.norm.Scale[0]
		u = max(u, r.level.Surprise(0.5*z*z)) - math.Ln2
	}
	if r.set.LiveCalibration != 0 {
		r.calib.Add(s, max(r.set.LiveCalibration, 0))
	}
	d := r.policy.Next(u)
	p := Point{Score: d.Score, PValue: min(math.Exp(-u), 1), Alarm: d.Alarm}
	if d.Alarm {
		st.Alarms++
	}
	if d.Flagged {
		r.flagged[idx] = true
	}
	v := r.win[len(r.win)-1]
	_, drifted := r.monitor.Observe(pointP, v < r.lo || v > r.hi)
	r.drifted = r.drifted || (drifted && !r.set.NoRetrain)
	return p
}

// retrain refits on the recent rows whose steps are final, the ones before
// row now, and marks row now's predecessor.
func (r *replayer) retrain(ctx context.Context, now int, out []Point, st *ReplayStats) error {
	n := r.set.RetrainRows
	if n == 0 {
		n = st.Probation
	}
	last := now - 1
	if last-r.fitAt < r.gap(st) {
		return nil
	}
	if err := r.fit(ctx, max(last-n+1, 0), last, now); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st.FailedRetrains++
		st.LastError = err.Error()
		return nil
	}
	st.Retrains++
	out[last].Retrained = true
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// fitLevel calibrates the level test on the values of rows [from, to].
func (r *replayer) fitLevel(from, to int) error {
	v := make([]float64, 0, to-from+1)
	for i := from; i <= to; i++ {
		v = append(v, r.samples[i].Values[0])
	}
	norm, err := timeseries.FitNormaliser(v, 1, timeseries.NormConfig{})
	if err != nil {
		return err
	}
	norm.Apply(v)
	for i, z := range v {
		v[i] = 0.5 * z * z
	}
	r.norm = norm
	r.level, err = NewCalibration(v)
	return err
}

// gap is the fewest rows between two fits.
func (r *replayer) gap(st *ReplayStats) int {
	if r.set.RetrainGap > 0 {
		return r.set.RetrainGap
	}
	return st.Probation
}
