package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flowguard/flowguard/alerts"
	"github.com/flowguard/flowguard/drift"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// Settings are the detector settings an evaluation runs with, the same
// for every series. Start from DefaultSettings: of the zero values only
// Window, MaxFill, Fitter and the alerts rules take the defaults.
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
	// Drift configures the drift monitor, which tests the model's own
	// point p-values (scorer.Scores.PointP); a drift retrains the model.
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
	// LiveCalibration is how many live scores the model's calibration
	// learns (scorer.Calibration.Learn); 0 learns none.
	LiveCalibration int
	// Policy flags points: alpha and the run test (scorer.Policy).
	Policy scorer.PolicyConfig
	// GapSteps sets the incidents' alerts.gap to this many grid steps
	// (default 100): flags closer than that are one incident, one alarm.
	GapSteps int
	// Alerts holds the other incident rules (alerts.Incidents); zero
	// means config.DefaultAlerts.
	Alerts config.Alerts
	// Damp multiplies the anomaly score of every point of an incident but
	// the one that opened it (default 0.1), so a long improbable run is
	// one early alarm rather than a plateau.
	Damp float64
	// Scale is the surprise -ln p that maps to anomaly score 0.5
	// (default 20).
	Scale float64
	// Fitter fits the models; nil means FlowFitter{}, the service's model.
	Fitter Fitter `json:"-"`
}

// DefaultSettings returns the evaluation profile. It was chosen on NAB's
// development subset (see BENCHMARKS.md) and is the same for every series.
func DefaultSettings() Settings {
	return Settings{
		Window:          12,
		MaxFill:         3,
		Lags:            []time.Duration{24 * time.Hour, 7 * 24 * time.Hour},
		RetrainRows:     3000,
		LiveCalibration: 10000,
		Refresh:         true,
		Drift:           drift.Config{Window: 400, Every: 40},
		Policy:          scorer.PolicyConfig{Alpha: 1e-6, Run: 4},
		GapSteps:        100,
		Damp:            0.1,
		Scale:           20,
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
	if s.Alerts.Gap == 0 && s.Alerts.RunPValue == 0 {
		s.Alerts = config.DefaultAlerts()
	}
	if !(s.Damp > 0 && s.Damp <= 1) {
		s.Damp = d.Damp
	}
	if !(s.Scale > 0) {
		s.Scale = d.Scale
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
	lo, hi float64 // the training values' range, for drift

	monitor   *drift.Monitor
	policy    *scorer.Policy
	incidents *alerts.Incidents
	win       []float64
	ctxv      []float64
	pending   int  // first row whose step has not been emitted
	drifted   bool // a drift verdict waits for the current push to finish
	fitAt     int  // the row of the last fit
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
		policy: scorer.NewPolicy(set.Policy), flagged: make(map[int64]bool)}
	r.feat = scorer.Features{Window: set.Window, Channels: 1, MaxFill: set.MaxFill,
		Step: medianStep(rows[:st.Probation]), Calendar: set.Calendar}
	ac := set.Alerts
	if set.GapSteps > 0 {
		ac.Gap = time.Duration(set.GapSteps) * r.feat.Step
	}
	r.incidents = alerts.NewIncidents(ac)
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
		p := r.score(idx, step.Time, st)
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
	m.Learn(r.set.LiveCalibration)
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
	r.series, r.model = s, m
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
// applies the policy, the incident rules and the drift monitor.
func (r *replayer) score(idx int64, t time.Time, st *ReplayStats) Point {
	v, err := r.model.Score(r.win, r.ctxv)
	if err != nil || math.IsNaN(v.Surprise) {
		// A broken score is treated as the most improbable point, so it
		// is seen rather than hidden.
		v = Verdict{Surprise: math.Inf(1), PointP: 0}
	}
	d := r.policy.Next(v.Surprise)
	value := r.win[len(r.win)-1]
	open := r.incidents.Open(replayKey, t)
	alarm := false
	if d.Flagged {
		r.flagged[idx] = true
		alarm = r.incidents.Add(store.Anomaly{SeriesKey: replayKey, Group: replayKey, TS: t,
			Value: []float64{value}, Score: v.Surprise, PValue: math.Exp(-d.Surprise)}, t)
	}
	p := Point{Score: anomalyScore(d.Surprise, r.set.Scale),
		PValue: min(math.Exp(-d.Surprise), 1), Alarm: alarm}
	if !alarm && (open || d.Flagged) {
		p.Score *= r.set.Damp
	}
	if alarm {
		st.Alarms++
	}
	_, drifted := r.monitor.Observe(v.PointP, value < r.lo || value > r.hi)
	r.drifted = r.drifted || (drifted && !r.set.NoRetrain)
	return p
}

// replayKey is the series key of a replayed series.
const replayKey = "eval"

// anomalyScore maps surprise s to [0, 1]: s / (s + scale).
func anomalyScore(s, scale float64) float64 {
	switch {
	case s <= 0:
		return 0
	case math.IsInf(s, 1):
		return 1
	}
	return s / (s + scale)
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

// gap is the fewest rows between two fits.
func (r *replayer) gap(st *ReplayStats) int {
	if r.set.RetrainGap > 0 {
		return r.set.RetrainGap
	}
	return st.Probation
}
