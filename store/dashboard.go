package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The read queries of the dashboard. They never write, and every list is
// bounded by a limit so that a page cannot ask for a whole table.

// ErrNoSeries is returned (wrapped) by SeriesByKey when no series has the
// key.
var ErrNoSeries = errors.New("store: no such series")

// SeriesSummary is one row of the series table with the version of its
// group's champion.
type SeriesSummary struct {
	Key       string
	Name      string
	Labels    []byte // JSON object
	Group     string
	FirstSeen time.Time
	LastSeen  time.Time
	// LastTS is the event time of the newest scored point; nil before the
	// first score. LastScore and LastPValue belong to that point.
	LastTS     *time.Time
	LastScore  *float64
	LastPValue *float64
	// ModelVersion is the champion version of Group; nil when the group
	// has no champion.
	ModelVersion *int
}

// FlaggedPoint is one row of the anomalies table.
type FlaggedPoint struct {
	ID           int64
	TS           time.Time
	Value        []float64
	Score        float64
	PValue       float64
	ModelVersion int
	Explanation  []float64
}

// IncidentSummary is one row of the incidents table.
type IncidentSummary struct {
	ID         int64
	State      string // open or resolved
	Severity   string
	FirstTS    time.Time
	LastTS     time.Time
	Points     int
	MinPValue  float64
	MaxScore   float64
	OpenedAt   time.Time
	ResolvedAt *time.Time
}

// DriftRecord is one row of the drift_events table.
type DriftRecord struct {
	ID              int64
	Group           string
	ModelVersion    int
	DetectedAt      time.Time
	Statistic       float64
	Threshold       float64
	WindowSize      int
	OutOfRangeShare float64
	Reason          string
	JobID           *int64
}

const seriesSummaryColumns = `s.key, s.name, s.labels, s.model_group, s.first_seen,
	s.last_seen, s.last_ts, s.last_score, s.last_p_value, m.version`

const seriesSummaryFrom = ` FROM series s
	LEFT JOIN models m ON m.model_group = s.model_group AND m.state = 'champion'`

func scanSeriesSummary(row pgx.Row) (SeriesSummary, error) {
	var s SeriesSummary
	err := row.Scan(&s.Key, &s.Name, &s.Labels, &s.Group, &s.FirstSeen, &s.LastSeen,
		&s.LastTS, &s.LastScore, &s.LastPValue, &s.ModelVersion)
	return s, err
}

// ListSeries returns up to limit series, the most recently seen first.
func (s *Store) ListSeries(ctx context.Context, limit int) ([]SeriesSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+seriesSummaryColumns+seriesSummaryFrom+`
		ORDER BY s.last_seen DESC, s.key LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list series: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SeriesSummary, error) {
		return scanSeriesSummary(r)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list series: %w", err)
	}
	return out, nil
}

// SeriesByKey returns the series with key, or an error wrapping
// ErrNoSeries.
func (s *Store) SeriesByKey(ctx context.Context, key string) (SeriesSummary, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+seriesSummaryColumns+seriesSummaryFrom+`
		WHERE s.key = $1`, key)
	out, err := scanSeriesSummary(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return SeriesSummary{}, fmt.Errorf("store: series %q: %w", key, ErrNoSeries)
	}
	if err != nil {
		return SeriesSummary{}, fmt.Errorf("store: series %q: %w", key, err)
	}
	return out, nil
}

// RecentAnomalies returns up to limit flagged points of the series, the
// newest first.
func (s *Store) RecentAnomalies(ctx context.Context, key string,
	limit int) ([]FlaggedPoint, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, ts, value, score, p_value, model_version, explanation
		FROM anomalies WHERE series_key = $1 ORDER BY ts DESC LIMIT $2`, key, limit)
	if err != nil {
		return nil, fmt.Errorf("store: anomalies of %q: %w", key, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FlaggedPoint, error) {
		var p FlaggedPoint
		err := r.Scan(&p.ID, &p.TS, &p.Value, &p.Score, &p.PValue, &p.ModelVersion,
			&p.Explanation)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: anomalies of %q: %w", key, err)
	}
	return out, nil
}

// SeriesIncidents returns up to limit incidents of the series: the open
// one first, then the others by start, newest first.
func (s *Store) SeriesIncidents(ctx context.Context, key string,
	limit int) ([]IncidentSummary, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, state, severity, first_ts, last_ts, points, min_p_value,
		       max_score, opened_at, resolved_at
		FROM incidents WHERE series_key = $1
		ORDER BY state = 'open' DESC, first_ts DESC LIMIT $2`, key, limit)
	if err != nil {
		return nil, fmt.Errorf("store: incidents of %q: %w", key, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (IncidentSummary, error) {
		var in IncidentSummary
		err := r.Scan(&in.ID, &in.State, &in.Severity, &in.FirstTS, &in.LastTS, &in.Points,
			&in.MinPValue, &in.MaxScore, &in.OpenedAt, &in.ResolvedAt)
		return in, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: incidents of %q: %w", key, err)
	}
	return out, nil
}

// RecentDriftEvents returns up to limit drift events of every group, the
// newest first.
func (s *Store) RecentDriftEvents(ctx context.Context, limit int) ([]DriftRecord, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, model_group, model_version, detected_at, statistic, threshold,
		       window_size, out_of_range_share, reason, job_id
		FROM drift_events ORDER BY detected_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: drift events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DriftRecord, error) {
		var d DriftRecord
		err := r.Scan(&d.ID, &d.Group, &d.ModelVersion, &d.DetectedAt, &d.Statistic,
			&d.Threshold, &d.WindowSize, &d.OutOfRangeShare, &d.Reason, &d.JobID)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: drift events: %w", err)
	}
	return out, nil
}
