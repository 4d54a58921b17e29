package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/flowguard/flowguard/store"
)

// A refresh retrains a group's model on a schedule, drift or not: once the
// group has scored DriftConfig.RefreshSteps grid steps past the end of its
// model's training data, or past its last refresh job, the detector files
// a refresh job. Slow change that never trips the drift test still reaches
// the model, and a rejected candidate is tried again a period later. The
// offline evaluation (package evaluate) refits on the same rule.

// RefreshModel is a Model that tells when its training data end. Models
// that do not implement it count from the first point they score.
type RefreshModel interface {
	Model
	// DataEnd is the newest event time of the training data; zero if
	// unknown.
	DataEnd() time.Time
}

var _ RefreshModel = (*flowModel)(nil)

// DataEnd implements RefreshModel with the model's metadata.
func (f *flowModel) DataEnd() time.Time { return f.m.Meta().Data.To }

// RefreshRequest asks for a refresh retrain job.
type RefreshRequest struct {
	Group   string
	Version int // version of the model to refresh
	// DataEnd is where the schedule counted from: the model's training
	// data end, or the first point it scored.
	DataEnd time.Time
	// From and To bound the data the job asks for; To is the newest point
	// scored.
	From, To time.Time
	// Series are the keys of the group's series seen by this detector.
	Series []string
	// Cooldown is DriftConfig.Cooldown.
	Cooldown time.Duration
}

// RefreshFiler files refresh jobs. A JobFiler passed to NewDetector that
// also implements RefreshFiler receives the detector's refresh jobs
// (DriftConfig.RefreshSteps); *Registry does.
type RefreshFiler interface {
	// FileRefresh files the job as store.FileJobCooled does: nothing
	// while the group has an unfinished job (returned) or within
	// Cooldown of its newest job.
	FileRefresh(ctx context.Context, r RefreshRequest) (store.JobFiling, error)
}

// RefreshDetails is the JSON of a refresh job's details: the grid and
// series of a bootstrap job, plus the model refreshed.
type RefreshDetails struct {
	BootstrapDetails
	ModelVersion int       `json:"model_version"`
	DataEnd      time.Time `json:"data_end"`
}

var _ RefreshFiler = (*Registry)(nil)

// FileRefresh implements RefreshFiler with store.FileJobCooled and a
// refresh job whose details are RefreshDetails.
func (r *Registry) FileRefresh(ctx context.Context, q RefreshRequest) (store.JobFiling, error) {
	details, err := json.Marshal(RefreshDetails{BootstrapDetails: r.bootstrapDetails(q.Series),
		ModelVersion: q.Version, DataEnd: q.DataEnd})
	if err != nil {
		return store.JobFiling{}, fmt.Errorf("pipeline: refresh details: %w", err)
	}
	from, to := q.From, q.To
	return r.Store.FileJobCooled(ctx, store.JobRequest{Group: q.Group,
		Reason: store.ReasonRefresh, From: &from, To: &to, Details: details}, q.Cooldown)
}

// refreshWatch is one group's refresh schedule for its current model; it
// lives in the group's driftWatch, which a new model replaces.
type refreshWatch struct {
	// end is where the schedule counts from: the model's data end, then
	// the To of its last refresh job (or of the open job that stood for
	// one); zero until known.
	end time.Time
	// retry is the wall time before which a refresh that met a cool-down
	// is not asked for again.
	retry time.Time
}

// start sets where g's schedule counts from, at the model's first scores.
func (r *refreshWatch) start(m Model, gb *groupBatch) {
	if rm, ok := m.(RefreshModel); ok {
		r.end = rm.DataEnd()
	}
	if !r.end.IsZero() {
		return
	}
	for i := range gb.pending {
		if t := gb.pending[i].ts; r.end.IsZero() || t.Before(r.end) {
			r.end = t
		}
	}
}

// watchRefresh files g's refresh job once its model has scored
// RefreshSteps grid steps past its data end or its last refresh. A failure
// is retried with the next batch; a cool-down when it ends.
func (d *Detector) watchRefresh(ctx context.Context, g *groupState, w *driftWatch) {
	r := &w.refresh
	steps := d.cfg.Drift.RefreshSteps
	if steps <= 0 || r.end.IsZero() ||
		w.scored.Before(r.end.Add(time.Duration(steps)*d.cfg.Grid.Step)) {
		return
	}
	rf, ok := d.jobs.(RefreshFiler)
	if !ok || (!r.retry.IsZero() && time.Now().Before(r.retry)) {
		return
	}
	to := w.scored
	from := to.Add(-time.Duration(d.cfg.Drift.LookbackSteps) * d.cfg.Grid.Step)
	version := g.model.Version()
	f, err := rf.FileRefresh(ctx, RefreshRequest{Group: g.name, Version: version,
		DataEnd: r.end, From: from, To: to, Series: w.series(),
		Cooldown: d.cfg.Drift.Cooldown})
	if err != nil {
		d.log.Warn("filing refresh job failed; retrying with the next batch", "group", g.name,
			"err", err)
		return
	}
	switch {
	case f.CoolDown > 0:
		r.retry = time.Now().Add(f.CoolDown)
		d.log.Info("refresh in cool-down; retrying when it ends", "group", g.name,
			"version", version, "last_job", f.Job.ID, "left", f.CoolDown)
	case f.Created:
		r.end = to
		d.m.refreshJobs.WithLabelValues(g.name).Inc()
		d.log.Info("refresh retrain job filed", "group", g.name, "version", version,
			"job", f.Job.ID, "from", from, "to", to)
	default:
		r.end = to
		d.log.Info("refresh not filed: the group's open job stands for it", "group", g.name,
			"version", version, "job", f.Job.ID, "job_reason", f.Job.Reason)
	}
}
