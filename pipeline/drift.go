package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flowguard/flowguard/drift"
	"github.com/flowguard/flowguard/store"
)

// DriftConfig sets how the detector watches each model group for drift,
// and when it refreshes a group's model on a schedule (RefreshSteps). The
// zero value watches nothing.
type DriftConfig struct {
	// Enabled turns the watch on.
	Enabled bool
	// Monitor is the test on the group's live p-values; zero fields take
	// drift.Config's defaults. Its Reference is set from the model (see
	// DriftModel.CalibrationSize).
	Monitor drift.Config
	// MaxDeviation is the distance beyond the training values' range, in
	// robust scales (DriftModel.Deviation), past which a point counts as
	// out of range (default 6).
	MaxDeviation float64
	// Cooldown is the least wall time between two drift events of a
	// group, across detectors and restarts, and from a group's newest
	// retrain job to a refresh job (default 1h).
	Cooldown time.Duration
	// SettleSteps is how many grid steps of event time pass after an
	// alarm before its retrain job is filed, with To at the newest point
	// then scored. A job filed at the alarm would hold little of the new
	// behaviour for the trainer's lookback to learn. Zero files at once.
	SettleSteps int
	// LookbackSteps sets a drift or refresh job's From to LookbackSteps
	// grid steps before its To; the trainer may cut further (default
	// 4000).
	LookbackSteps int
	// RefreshSteps is how many grid steps of event time a group scores
	// past its model's training data end (RefreshModel; else the first
	// point the model scored) before one refresh job is filed for that
	// model, drift or not; it needs no Enabled. Zero never refreshes.
	RefreshSteps int
}

func (c *DriftConfig) setDefaults() {
	if c.MaxDeviation <= 0 {
		c.MaxDeviation = 6
	}
	if c.Cooldown <= 0 {
		c.Cooldown = time.Hour
	}
	if c.LookbackSteps <= 0 {
		c.LookbackSteps = 4000
	}
	c.RefreshSteps = max(c.RefreshSteps, 0)
}

// DriftModel is a Model that tells the drift watch about its training
// data. Models that do not implement it get no out-of-range share and a
// test that takes their p-values as exactly calibrated.
type DriftModel interface {
	Model
	// Deviation returns how far the raw values of one step lie outside
	// the model's training data: the largest over channels of the
	// distance beyond the training range in robust scales, 0 inside it.
	Deviation(value []float64) float64
	// CalibrationSize is the number of calibration scores behind the
	// p-values, the drift test's reference size (drift.Config.Reference).
	CalibrationSize() int
}

// DriftAlarm is a drift verdict ready to be recorded, with the retrain
// job it asks for.
type DriftAlarm struct {
	Group   string
	Version int // version of the model whose p-values drifted
	Verdict drift.Verdict
	// At is the newest event time the group's watch had seen at the
	// verdict.
	At time.Time
	// From and To bound the data the retrain job asks for; To is the
	// newest point scored when the alarm is filed.
	From, To time.Time
	// Series are the keys of the group's series seen by this detector.
	Series []string
	// Cooldown is DriftConfig.Cooldown.
	Cooldown time.Duration
}

// DriftFiler records drift alarms. A JobFiler passed to NewDetector that
// also implements DriftFiler receives the detector's drift alarms;
// *Registry does.
type DriftFiler interface {
	// FileDrift records the alarm's event and files its retrain job, as
	// store.RecordDrift does: nothing during the group's cool-down or
	// while it has an unfinished job.
	FileDrift(ctx context.Context, a DriftAlarm) (store.DriftFiling, error)
}

// DriftDetails is the JSON of a drift job's details: the grid and series
// of a bootstrap job, plus the verdict.
type DriftDetails struct {
	BootstrapDetails
	ModelVersion    int       `json:"model_version"`
	Statistic       float64   `json:"statistic"`
	Threshold       float64   `json:"threshold"`
	WindowSize      int       `json:"window_size"`
	OutOfRangeShare float64   `json:"out_of_range_share"`
	Reason          string    `json:"reason"`
	Alarm           time.Time `json:"alarm"`
}

var _ DriftFiler = (*Registry)(nil)

// FileDrift implements DriftFiler with store.RecordDrift and a drift job
// whose details are DriftDetails.
func (r *Registry) FileDrift(ctx context.Context, a DriftAlarm) (store.DriftFiling, error) {
	v := a.Verdict
	details, err := json.Marshal(DriftDetails{
		BootstrapDetails: r.bootstrapDetails(a.Series),
		ModelVersion:     a.Version, Statistic: v.Statistic, Threshold: v.Threshold,
		WindowSize: v.Window, OutOfRangeShare: v.OutOfRangeShare, Reason: v.Reason,
		Alarm: a.At,
	})
	if err != nil {
		return store.DriftFiling{}, fmt.Errorf("pipeline: drift details: %w", err)
	}
	from, to := a.From, a.To
	return r.Store.RecordDrift(ctx, store.DriftEvent{Group: a.Group, ModelVersion: a.Version,
		Statistic: v.Statistic, Threshold: v.Threshold, Window: v.Window,
		OutOfRangeShare: v.OutOfRangeShare, Reason: v.Reason},
		store.JobRequest{Group: a.Group, Reason: store.ReasonDrift, From: &from, To: &to,
			Details: details}, a.Cooldown)
}

// driftWatch is one group's retrain state on the finish side: the drift
// monitor of its current model, an alarm waiting for its settle time, and
// the model's refresh schedule.
type driftWatch struct {
	mon    *drift.Monitor
	maxDev float64

	alarm   *drift.Verdict
	alarmAt time.Time
	newest  time.Time // of the points with a p-value
	scored  time.Time // of every point scored
	keys    map[string]struct{}

	refresh refreshWatch
}

// newDriftWatch returns the watch for model m under cfg.
func newDriftWatch(cfg DriftConfig, m Model) *driftWatch {
	mc := cfg.Monitor
	if dm, ok := m.(DriftModel); ok {
		mc.Reference = dm.CalibrationSize()
	}
	return &driftWatch{mon: drift.NewMonitor(mc), maxDev: cfg.MaxDeviation,
		keys: map[string]struct{}{}}
}

// seen records a scored point's series and time.
func (w *driftWatch) seen(key string, ts time.Time) {
	w.keys[key] = struct{}{}
	if ts.After(w.scored) {
		w.scored = ts
	}
}

// observe records one scored point and feeds it to the drift monitor,
// and reports a new verdict. A verdict while an earlier one waits to be
// filed is dropped: the monitor cleared its window, and the earlier alarm
// stands for both.
func (w *driftWatch) observe(key string, ts time.Time, pv, dev float64) (drift.Verdict, bool) {
	w.seen(key, ts)
	if math.IsNaN(pv) {
		return drift.Verdict{}, false
	}
	if ts.After(w.newest) {
		w.newest = ts
	}
	v, ok := w.mon.Observe(pv, dev > w.maxDev)
	if !ok {
		return drift.Verdict{}, false
	}
	if w.alarm != nil {
		return drift.Verdict{}, false
	}
	// Partitions are read at their own pace, so the window may hold newer
	// points than this one: the alarm is as new as the newest.
	alarm := v // v itself stays on the stack for the common, quiet case
	w.alarm, w.alarmAt = &alarm, w.newest
	return v, true
}

// due reports whether the waiting alarm has settled for settle of event
// time.
func (w *driftWatch) due(settle time.Duration) bool {
	return w.alarm != nil && !w.newest.Before(w.alarmAt.Add(settle))
}

// series returns the sorted keys of the series seen.
func (w *driftWatch) series() []string {
	out := make([]string, 0, len(w.keys))
	for k := range w.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// watchDrift feeds the points of a scored batch to g's drift watch, files
// its alarm once settled, and files the model's refresh once due.
func (d *Detector) watchDrift(ctx context.Context, g *groupState, gb *groupBatch) {
	if !d.cfg.Drift.Enabled && d.cfg.Drift.RefreshSteps == 0 {
		return
	}
	if g.drift == nil {
		g.drift = newDriftWatch(d.cfg.Drift, g.model)
		g.drift.refresh.start(g.model, gb)
	}
	w := g.drift
	if d.cfg.Drift.Enabled {
		d.observeDrift(ctx, g, w, gb)
	} else {
		for i := range gb.pending {
			w.seen(gb.pending[i].key, gb.pending[i].ts)
		}
	}
	d.watchRefresh(ctx, g, w)
}

// observeDrift feeds the batch's points to the drift monitor (which notes
// them as seen) and files the alarm once settled.
func (d *Detector) observeDrift(ctx context.Context, g *groupState, w *driftWatch,
	gb *groupBatch) {
	dm, _ := g.model.(DriftModel)
	ps := g.scores.driftPValues(len(gb.pending))
	for i := range gb.pending {
		p := &gb.pending[i]
		dev := 0.0
		if dm != nil {
			dev = dm.Deviation(p.value)
		}
		v, ok := w.observe(p.key, p.ts, ps[i], dev)
		if ok {
			d.log.Warn("drift detected", "group", g.name, "version", g.model.Version(),
				"reason", v.Reason, "statistic", v.Statistic, "threshold", v.Threshold,
				"window", v.Window, "out_of_range_share", v.OutOfRangeShare,
				"at", w.alarmAt)
		}
	}
	if stat, ok := w.mon.Statistic(); ok {
		d.m.driftStatistic.WithLabelValues(g.name).Set(stat)
	}
	settle := time.Duration(d.cfg.Drift.SettleSteps) * d.cfg.Grid.Step
	if d.drifts != nil && w.due(settle) {
		d.fileDrift(ctx, g, w)
	}
}

// fileDrift records g's settled alarm and files its job; a failure keeps
// the alarm for the next batch.
func (d *Detector) fileDrift(ctx context.Context, g *groupState, w *driftWatch) {
	to := w.newest
	from := to.Add(-time.Duration(d.cfg.Drift.LookbackSteps) * d.cfg.Grid.Step)
	a := DriftAlarm{Group: g.name, Version: g.model.Version(), Verdict: *w.alarm,
		At: w.alarmAt, From: from, To: to, Series: w.series(),
		Cooldown: d.cfg.Drift.Cooldown}
	f, err := d.drifts.FileDrift(ctx, a)
	if err != nil {
		d.log.Warn("recording drift failed; retrying with the next batch", "group", g.name,
			"err", err)
		return
	}
	w.alarm = nil
	switch {
	case !f.Recorded && f.Job.ID != 0:
		d.log.Info("drift not recorded: the group's open job stands for it", "group", g.name,
			"job", f.Job.ID, "job_reason", f.Job.Reason)
	case !f.Recorded:
		d.log.Info("drift in cool-down; not recorded", "group", g.name,
			"cooldown", d.cfg.Drift.Cooldown)
	case f.JobCreated:
		d.m.driftEvents.WithLabelValues(g.name).Inc()
		d.m.driftJobs.WithLabelValues(g.name).Inc()
		d.log.Info("drift recorded; retrain job filed", "group", g.name,
			"event", f.Event.ID, "job", f.Job.ID, "from", from, "to", to)
	default:
		d.m.driftEvents.WithLabelValues(g.name).Inc()
		d.log.Info("drift recorded; joined a job filed meanwhile", "group", g.name,
			"event", f.Event.ID, "job", f.Job.ID, "job_reason", f.Job.Reason)
	}
}

// driftPValues returns the p-values of n windows the drift watch tests:
// the model's own, since other tests combined in (the level test) make
// PValue conservative rather than uniform.
func (s *Scores) driftPValues(n int) []float64 {
	if len(s.PointPValue) >= n {
		return s.PointPValue
	}
	return s.PValue
}
