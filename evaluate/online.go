package evaluate

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flowguard/flowguard/alerts"
	"github.com/flowguard/flowguard/drift"
	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
	"github.com/flowguard/flowguard/training"
)

// Settings are the service settings an evaluation runs with, the same for
// every series. Each field is named after the detector or trainer setting
// it stands for (README, Evaluate on labelled data). Start from
// DefaultSettings: of the zero values only Window, MaxFill, the alerts
// rules, Damp and Scale take the defaults.
type Settings struct {
	// Window is W, the steps in a model window (scoring.window).
	Window int
	// MaxFill is the longest gap, in steps, filled rather than restarting
	// the window (scoring.max_fill).
	MaxFill int
	// Calendar adds hour-of-day and day-of-week context
	// (scoring.calendar).
	Calendar bool
	// Lags are the seasonal lags offered as context (scoring.lags); each
	// fit keeps those its data support (scorer.Options.Lags).
	Lags []time.Duration
	// Probation is the number of leading rows the first model learns on
	// (the detector's bootstrap); 0 means NAB's min(floor(0.15 n), 750).
	Probation int
	// Fit holds the model settings of every fit (the trainer's model.*);
	// Window, MaxFill, Calendar, Lags and Exclude are set from the rest.
	Fit scorer.Options
	// Policy flags points: alpha and the run test (scoring.alpha,
	// scoring.run).
	Policy scorer.PolicyConfig
	// LiveCalibration is how many live scores the model's calibration
	// learns (scoring.live_calibration); 0 learns none.
	LiveCalibration int
	// Drift is the drift monitor on the model's own point p-values
	// (drift.window, drift.every, drift.alpha, drift.max_out_of_range).
	Drift drift.Config
	// MaxDeviation is the distance beyond the training values' range, in
	// robust scales, past which a value is out of range
	// (drift.max_deviation, default 6).
	MaxDeviation float64
	// Cooldown is the least series time between two retrain jobs
	// (drift.cooldown).
	Cooldown time.Duration
	// SettleSteps is how many grid steps pass after a drift verdict
	// before its retrain job runs (drift.settle_steps).
	SettleSteps int
	// LookbackSteps is how many grid steps before its end a retrain job's
	// range starts (drift.lookback_steps).
	LookbackSteps int
	// RefreshSteps, when positive, runs a retrain job once a model has
	// scored this many grid steps past its training data or its last
	// refresh job, drift or not (drift.refresh_steps).
	RefreshSteps int
	// NoRetrain turns retraining off.
	NoRetrain bool
	// Promotion decides whether a retrain's candidate replaces the
	// model (training.promote_margin, training.ks_tolerance).
	Promotion training.Policy
	// Holdout is the share of a retrain's newest samples kept out of the
	// candidate's fit to compare it with the model (training.holdout).
	Holdout float64
	// TrainLookbackSteps bounds a retrain's data to this many newest
	// samples (training.lookback_steps; 0: no bound).
	TrainLookbackSteps int
	// MaxFlaggedShare is the share of flagged samples above which a
	// retrain trains on them (training.max_flagged_share).
	MaxFlaggedShare float64
	// GapSteps sets the incidents' alerts.gap to this many grid steps:
	// flags closer than that are one incident, one alarm.
	GapSteps int
	// Alerts holds the other incident rules (alerts.*); zero means
	// config.DefaultAlerts.
	Alerts config.Alerts
	// Damp multiplies the anomaly score of every point of an incident but
	// the one that opened it (default 0.1), so a long improbable run is
	// one early alarm rather than a plateau. Output only.
	Damp float64
	// Scale is the surprise -ln p that maps to anomaly score 0.5
	// (default 20). Output only.
	Scale float64
}

// DefaultSettings returns the evaluation profile. It was chosen on NAB's
// development subset (see BENCHMARKS.md) and is the same for every series.
func DefaultSettings() Settings {
	return Settings{
		Window:   12,
		MaxFill:  3,
		Lags:     []time.Duration{24 * time.Hour, 7 * 24 * time.Hour},
		Calendar: false,
		// The trainer's model defaults for short data, and affine layers,
		// which did as well as splines here in a third of the time.
		Fit: scorer.Options{Seed: 1,
			Spec: flowmodel.Spec{Hidden: 32, Layers: 3, LayerType: flowmodel.LayerAffine}},
		Policy:          scorer.PolicyConfig{Alpha: 1e-6, Run: 4},
		LiveCalibration: 10000,
		Drift:           drift.Config{Window: 400, Every: 40},
		MaxDeviation:    6,
		Cooldown:        time.Hour,
		SettleSteps:     0,
		LookbackSteps:   3000,
		RefreshSteps:    750,
		// Live calibration corrects a new model's p-values as it scores,
		// so its held-out likelihood is what counts: the KS tolerance only
		// stops gross miscalibration. At the trainer's 0.1 (and margin
		// 0.02) the development subset scored 67.4 / 56.1 / 73.0.
		Promotion:          training.Policy{Margin: 0, KSTolerance: 0.3},
		Holdout:            0.2,
		TrainLookbackSteps: 0,
		MaxFlaggedShare:    0.1,
		GapSteps:           100,
		Damp:               0.1,
		Scale:              20,
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
	if s.Alerts.Gap == 0 && s.Alerts.RunPValue == 0 {
		s.Alerts = config.DefaultAlerts()
	}
	if !(s.MaxDeviation > 0) {
		s.MaxDeviation = d.MaxDeviation
	}
	if !(s.Holdout > 0 && s.Holdout < 0.9) {
		s.Holdout = d.Holdout
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
	// Stamp is the timestamp as the input wrote it, which the result file
	// repeats (fractional seconds, RFC 3339 zones); empty writes Time in
	// NAB's layout.
	Stamp string
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
	// Retrained reports that a retrain job swapped the model after this
	// row's score, the newest when the job ran.
	Retrained bool
}

// ReplayStats counts what happened along one series.
type ReplayStats struct {
	// Rows is the series' length and Probation its unscored leading rows.
	Rows, Probation int
	// Alarms counts incidents opened.
	Alarms int
	// Jobs counts retrain jobs (Drift of them on a drift verdict, the
	// others on the refresh schedule) and Retrains those whose candidate
	// replaced the model; Rejected those the promotion rule turned down.
	Jobs, Drift, Retrains, RejectedCandidates int
	// Rejected counts rows the grid refused (too late).
	Rejected int
	// Repeated counts rows with the timestamp of the row before; the
	// grid averages them into one step, as the service does.
	Repeated int
	// FailedRetrains counts retrains that could not fit; the old model
	// stays.
	FailedRetrains int
	// LastError is the error of the last failed retrain.
	LastError string
	// NoModel, when not empty, says why the series got no model: too
	// short to fit, as a detector group without enough data, its
	// probationary rows out of time order, or values the first fit could
	// not learn from. Its rows are then all unscored.
	NoModel string
}

// Add adds o's counts to s; Probation, LastError and NoModel, which are
// one series', stay as they are.
func (s *ReplayStats) Add(o ReplayStats) {
	s.Rows += o.Rows
	s.Alarms += o.Alarms
	s.Jobs += o.Jobs
	s.Drift += o.Drift
	s.Retrains += o.Retrains
	s.RejectedCandidates += o.RejectedCandidates
	s.Rejected += o.Rejected
	s.Repeated += o.Repeated
	s.FailedRetrains += o.FailedRetrains
}

// replayer is the online state of one series.
type replayer struct {
	set     Settings
	feat    scorer.Features // offered; a model's own are in its Meta
	samples []timeseries.Sample
	rowStep []int64 // grid index of each row
	flagged map[int64]bool

	series  *timeseries.Series
	model   *scorer.Model
	version int
	sc      scorer.Scores

	monitor   *drift.Monitor
	policy    *scorer.Policy
	incidents *alerts.Incidents
	win       []float64
	ctxv      []float64
	pending   int // first row whose step has not been emitted

	// The retrain lifecycle, in series time: the newest step scored, a
	// drift alarm waiting to settle, the last job and the last refresh.
	newest    time.Time
	alarmAt   time.Time // zero: no alarm waiting
	lastJob   time.Time
	refreshed time.Time
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
	out := make([]Point, len(rows))
	for i := range out {
		out[i].PValue = 1
	}
	if len(rows) < 2 || st.Probation < 2 {
		st.NoModel = fmt.Sprintf("%d rows: too short for a probationary period", len(rows))
		return out, st, nil
	}
	r := &replayer{set: set, policy: scorer.NewPolicy(set.Policy),
		flagged: make(map[int64]bool)}
	r.samples = make([]timeseries.Sample, len(rows))
	vals := make([]float64, len(rows))
	for i, row := range rows {
		vals[i] = row.Value
		r.samples[i] = timeseries.Sample{Series: timeseries.SeriesID{Name: replayKey},
			Time: row.Time, Values: vals[i : i+1]}
		if i > 0 && row.Time.Equal(rows[i-1].Time) {
			st.Repeated++
		}
	}
	// The grid step a user would configure for such a series.
	step := scorer.MedianSpacing(r.samples[:st.Probation])
	if step == 0 {
		step = time.Minute
	}
	r.feat = scorer.Features{Window: set.Window, Channels: 1, MaxFill: set.MaxFill,
		Step: step, Calendar: set.Calendar, Lags: set.Lags}
	// The grid judges every row before the first model too, and without
	// one, so that rows out of time order are counted, and named as the
	// cause when they leave the first fit too little data.
	// The rows it refuses depend on the step alone, not on the context.
	gcfg, err := scorer.Features{Window: set.Window, Channels: 1, MaxFill: set.MaxFill,
		Step: step}.SeriesConfig()
	if err != nil {
		return nil, st, fmt.Errorf("evaluate: %w", err)
	}
	grid, err := timeseries.NewSeries(timeseries.SeriesID{Name: replayKey}, gcfg, 1)
	if err != nil {
		return nil, st, fmt.Errorf("evaluate: %w", err)
	}
	r.rowStep = make([]int64, len(rows))
	for i, row := range rows {
		r.rowStep[i] = row.Time.UnixNano() / int64(step)
	}
	ac := set.Alerts
	if set.GapSteps > 0 {
		ac.Gap = time.Duration(set.GapSteps) * step
	}
	r.incidents = alerts.NewIncidents(ac)

	for i := range rows {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		if r.series == nil {
			if grid.Push(&r.samples[i]).Reason != timeseries.ReasonNone {
				st.Rejected++
			}
			if i+1 == st.Probation {
				// The first model: the trainer's bootstrap fit on all the
				// data so far, no champion to beat.
				if err := r.first(ctx, i); err != nil {
					if ctx.Err() != nil {
						return nil, st, ctx.Err()
					}
					st.NoModel = err.Error()
					if st.Rejected > 0 {
						st.NoModel = fmt.Sprintf("%d of the %d probationary rows are out of "+
							"time order, refused by the grid; %s", st.Rejected, st.Probation,
							st.NoModel)
					}
				}
			}
			continue
		}
		res := r.series.Push(&r.samples[i])
		if res.Reason != timeseries.ReasonNone {
			st.Rejected++
		}
		r.emitted(res.Emitted, i, out, &st)
		if err := r.lifecycle(ctx, i, out, &st); err != nil {
			return nil, st, err
		}
	}
	if r.series == nil {
		// No model: every row stays unscored, as in a detector group
		// without enough data.
		return out, st, nil
	}
	r.emitted(r.series.Flush().Emitted, len(rows), out, &st)
	for i := range st.Probation {
		out[i] = Point{PValue: 1}
	}
	return out, st, nil
}

// first fits the first model on rows 0..now and makes it the model. Its
// error, other than the context's, means the series gets no model: too
// short, or data the fit cannot learn from (an outlier that overflows
// it, say); the run's other series go on.
func (r *replayer) first(ctx context.Context, now int) error {
	m, err := scorer.Fit(ctx, [][]timeseries.Sample{r.samples[:now+1]}, r.options(nil))
	if err != nil {
		return err
	}
	if err := r.swap(m, now); err != nil {
		return fmt.Errorf("evaluate: first model: %w", err)
	}
	return nil
}

// options returns the fit options with the grid and the exclusion.
func (r *replayer) options(exclude func(timeseries.SeriesID, time.Time) bool) scorer.Options {
	opt := r.set.Fit
	opt.Group = replayKey
	opt.Step, opt.Window, opt.MaxFill = r.feat.Step, r.feat.Window, r.feat.MaxFill
	opt.Calendar = scorer.Off
	if r.feat.Calendar {
		opt.Calendar = scorer.On
	}
	opt.Lags = slices.Clone(r.feat.Lags)
	opt.Exclude = exclude
	return opt
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

// swap makes m the model from row now on and rebuilds the series state by
// replaying every row up to now, as a detector restoring a series would.
func (r *replayer) swap(m *scorer.Model, now int) error {
	feat := m.Meta().Features
	cfg, err := feat.SeriesConfig()
	if err != nil {
		return err
	}
	s, err := timeseries.NewSeries(timeseries.SeriesID{Name: replayKey}, cfg, 1)
	if err != nil {
		return err
	}
	for i := range now + 1 {
		s.Push(&r.samples[i])
	}
	m.Calibration().Learn(r.set.LiveCalibration)
	dc := r.set.Drift
	dc.Reference = len(m.Meta().Calibration)
	r.series, r.model, r.monitor = s, m, drift.NewMonitor(dc)
	r.version++
	r.win = make([]float64, feat.Window)
	r.ctxv = make([]float64, feat.ContextWidth())
	r.alarmAt = time.Time{}
	return nil
}

// score scores the step at grid index idx with the current model and
// applies the policy, the incident rules and the drift monitor.
func (r *replayer) score(idx int64, t time.Time, st *ReplayStats) Point {
	u, pointP := math.Inf(1), 0.0
	if err := r.model.Score(&r.sc, r.win, r.ctxv); err == nil {
		u, pointP = r.sc.Surprise[0], r.sc.PointP[0]
		// Learning after scoring: a point is judged against what came
		// before it, never against itself.
		r.model.Calibration().Add(r.sc.Score[0])
	}
	// A broken score is treated as the most improbable point, so it is
	// seen rather than hidden.
	d := r.policy.Next(u)
	value := r.win[len(r.win)-1]
	open := r.incidents.Open(replayKey, t)
	alarm := false
	if d.Flagged {
		r.flagged[idx] = true
		alarm = r.incidents.Add(store.Anomaly{SeriesKey: replayKey, Group: replayKey, TS: t,
			Value: []float64{value}, Score: u, PValue: d.PValue()}, t)
	}
	p := Point{Score: anomalyScore(d.Surprise, r.set.Scale), PValue: d.PValue(), Alarm: alarm}
	if !alarm && (open || d.Flagged) {
		p.Score *= r.set.Damp
	}
	if alarm {
		st.Alarms++
	}
	if t.After(r.newest) {
		r.newest = t
	}
	dev := r.model.Deviation(r.win[len(r.win)-1:])
	if _, drifted := r.monitor.Observe(pointP, dev > r.set.MaxDeviation); drifted &&
		r.alarmAt.IsZero() {
		r.alarmAt = r.newest
	}
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

// lifecycle runs the retrain job the detector would file after row now:
// a drift alarm once settled, or the model's refresh once due, at most one
// per Cooldown. The job trains as the trainer does (training.Recent,
// training.Exclusion, training.Challenge) and its candidate replaces the
// model when the promotion rule says so. The replay runs the job at once,
// where the service swaps the model in once the trainer is done.
func (r *replayer) lifecycle(ctx context.Context, now int, out []Point,
	st *ReplayStats) error {
	if r.set.NoRetrain || r.newest.IsZero() {
		return nil
	}
	step := r.feat.Step
	drifted := !r.alarmAt.IsZero() &&
		!r.newest.Before(r.alarmAt.Add(time.Duration(r.set.SettleSteps)*step))
	// The schedule counts from the model's data or from the last refresh
	// job, whichever is later: a rejected candidate waits a period too.
	due := later(r.model.Meta().Data.To, r.refreshed)
	refresh := r.set.RefreshSteps > 0 &&
		!r.newest.Before(due.Add(time.Duration(r.set.RefreshSteps)*step))
	if !drifted && !refresh {
		return nil
	}
	if !r.lastJob.IsZero() && r.newest.Before(r.lastJob.Add(r.set.Cooldown)) {
		r.alarmAt = time.Time{} // the service drops an alarm in its cooldown
		return nil
	}
	r.alarmAt, r.lastJob = time.Time{}, r.newest
	if refresh && !drifted {
		r.refreshed = r.newest
	} else {
		st.Drift++
	}
	st.Jobs++
	series, since, opt := r.jobData(now)
	cand, ev, err := training.Challenge(ctx, r.model, r.version, series, since, opt,
		r.set.Promotion, r.set.Holdout)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		st.FailedRetrains++
		st.LastError = err.Error()
		return nil
	case !ev.Promote:
		st.RejectedCandidates++
		return nil
	}
	if err := r.swap(cand, now); err != nil {
		return err
	}
	st.Retrains++
	if r.pending > 0 {
		out[r.pending-1].Retrained = true
	}
	return nil
}

// jobData returns what the trainer replays for a job ending at the newest
// step scored: LookbackSteps grid steps of it, cut to TrainLookbackSteps
// samples, after as much lag history as the largest offered lag needs;
// the start of the job's own samples; and the fit options leaving out
// flagged steps (unless too many) and the lag history.
func (r *replayer) jobData(now int) ([][]timeseries.Sample, time.Time, scorer.Options) {
	step := r.feat.Step
	to := now
	for to > 0 && r.samples[to].Time.After(r.newest) {
		to--
	}
	from := 0
	if r.set.LookbackSteps > 0 {
		start := r.newest.Add(-time.Duration(r.set.LookbackSteps) * step)
		from, _ = slices.BinarySearchFunc(r.samples[:to+1], start,
			func(s timeseries.Sample, t time.Time) int { return s.Time.Compare(t) })
	}
	job := training.Recent([][]timeseries.Sample{r.samples[from : to+1]}, 0,
		r.set.TrainLookbackSteps)
	begin := job[0][0].Time
	from = to + 1 - len(job[0])
	need := training.LagHistory(r.feat.Lags)
	warm := from
	for warm > 0 && begin.Sub(r.samples[warm-1].Time) <= need {
		warm--
	}
	var flagged []time.Time
	for i := from; i <= to; i++ {
		if r.flagged[r.rowStep[i]] {
			flagged = append(flagged, r.samples[i].Time)
		}
	}
	key := r.samples[0].Series.Key()
	ex, _, _ := training.Exclusion(job, map[string][]time.Time{key: flagged},
		r.set.MaxFlaggedShare)
	exclude := training.SkipHistory(ex, map[string]time.Time{key: begin})
	return [][]timeseries.Sample{r.samples[warm : to+1]}, begin, r.options(exclude)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
