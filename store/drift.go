package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DriftEvent is one row of drift_events: a detector found that a group's
// live stream no longer fits its model.
type DriftEvent struct {
	ID           int64
	Group        string
	ModelVersion int // version of the model whose p-values drifted
	DetectedAt   time.Time
	// Statistic and Threshold are the KS distance of the window's p-values
	// from uniform and its critical value.
	Statistic float64
	Threshold float64
	// Window is the number of p-values tested.
	Window int
	// OutOfRangeShare is the share of the window outside the model's
	// training range.
	OutOfRangeShare float64
	Reason          string
	// JobID is the retrain job the event filed or joined; nil if none.
	JobID *int64
}

// DriftFiling is what RecordDrift did.
type DriftFiling struct {
	// Recorded is false when the group was cooling down or already had
	// an unfinished job: nothing was written and Event is zero.
	Recorded bool
	Event    DriftEvent
	// Job is the group's retrain job: the one filed, or the unfinished one
	// it already had (JobCreated false); zero in a cool-down.
	Job        Job
	JobCreated bool
}

const driftColumns = `id, model_group, model_version, detected_at, statistic, threshold,
	window_size, out_of_range_share, reason, job_id`

func scanDrift(row pgx.Row) (DriftEvent, error) {
	var e DriftEvent
	err := row.Scan(&e.ID, &e.Group, &e.ModelVersion, &e.DetectedAt, &e.Statistic,
		&e.Threshold, &e.Window, &e.OutOfRangeShare, &e.Reason, &e.JobID)
	return e, err
}

// RecordDrift records ev (its ID, DetectedAt and JobID are set here) and
// files job as FileJob does, in one transaction. It writes nothing and
// returns Recorded false when the group recorded a drift event less than
// cooldown ago, or when it has an unfinished job, which will train on the
// drifted data anyway (that job is returned). Concurrent calls for one
// group are serialised, so detectors that see the same drift record it
// once.
func (s *Store) RecordDrift(ctx context.Context, ev DriftEvent, job JobRequest,
	cooldown time.Duration) (DriftFiling, error) {
	if ev.Group == "" || job.Group != ev.Group {
		return DriftFiling{}, errors.New("store: record drift: event and job need one group")
	}
	var f DriftFiling
	var err error
	for range 3 { // as in FileJob: the open job may end before it is read
		f, err = s.recordDriftOnce(ctx, ev, job, cooldown)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return DriftFiling{}, fmt.Errorf("store: record drift of %q: %w", ev.Group, err)
	}
	return f, nil
}

func (s *Store) recordDriftOnce(ctx context.Context, ev DriftEvent, req JobRequest,
	cooldown time.Duration) (DriftFiling, error) {
	var f DriftFiling
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Held to the end of the transaction: the cool-down check and the
		// insert are one step for every detector of the group.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('drift:' || $1))",
			ev.Group); err != nil {
			return err
		}
		var recent bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM drift_events
			WHERE model_group = $1 AND detected_at > now() - make_interval(secs => $2))`,
			ev.Group, cooldown.Seconds()).Scan(&recent); err != nil {
			return err
		}
		if recent {
			return nil
		}
		job, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM retrain_jobs
			WHERE model_group = $1 AND state IN ('pending', 'running')`, ev.Group))
		if err == nil {
			f.Job = job
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// A bootstrap job filed since, outside the lock, is joined.
		job, created, err := fileJobTx(ctx, tx, req)
		if err != nil {
			return err
		}
		e, err := scanDrift(tx.QueryRow(ctx, `INSERT INTO drift_events (model_group,
			model_version, statistic, threshold, window_size, out_of_range_share, reason,
			job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+driftColumns,
			ev.Group, ev.ModelVersion, ev.Statistic, ev.Threshold, ev.Window,
			ev.OutOfRangeShare, ev.Reason, job.ID))
		if err != nil {
			return err
		}
		f = DriftFiling{Recorded: true, Event: e, Job: job, JobCreated: created}
		return nil
	})
	return f, err
}

// DriftEvents returns the drift events of group, oldest first; an empty
// group returns those of every group.
func (s *Store) DriftEvents(ctx context.Context, group string) ([]DriftEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+driftColumns+` FROM drift_events
		WHERE $1 = '' OR model_group = $1 ORDER BY detected_at, id`, group)
	if err != nil {
		return nil, fmt.Errorf("store: drift events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DriftEvent, error) {
		return scanDrift(r)
	})
	if err != nil {
		return nil, fmt.Errorf("store: drift events: %w", err)
	}
	return evs, nil
}
