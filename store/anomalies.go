package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Anomaly is one flagged point as the detector writes it.
type Anomaly struct {
	SeriesKey string
	Group     string
	// TS is the event time of the point (the start of its grid step), UTC.
	TS    time.Time
	Value []float64
	// Score is -log p(x_t | history) in nats.
	Score  float64
	PValue float64
	// ModelVersion is the version, within Group, of the model that scored
	// the point.
	ModelVersion int
	// Explanation holds the per-step terms of the window's score, oldest
	// step first.
	Explanation []float64
	// Topic, Partition and Offset locate the sample message that completed
	// the point, for tracing a flag back to its input.
	Topic     string
	Partition int
	Offset    int64
}

// Results is what one scoring batch makes durable: its anomalies, the
// newest state of the series it touched and, now and then, the live part
// of its groups' calibrations.
type Results struct {
	Anomalies    []Anomaly
	Series       []SeriesUpdate
	Calibrations []LiveCalibration
}

// LiveCalibration is the live part of a model group's calibration: the
// scores the group's champion, Version, learned while scoring, oldest
// first (scorer.Calibration.LiveScores).
type LiveCalibration struct {
	Group   string
	Version int
	Scores  []float64
}

// SaveResults writes r in one transaction and returns the number of
// anomalies that were new. Writing the same results twice stores them
// once: anomalies are keyed by (series_key, ts) and a replay finds its rows
// already there, and series rows never move back in event time. Anomalies
// go through COPY into a transaction-local staging table, so a batch of
// thousands costs one round trip.
func (s *Store) SaveResults(ctx context.Context, r Results) (int64, error) {
	if len(r.Anomalies) == 0 && len(r.Series) == 0 && len(r.Calibrations) == 0 {
		return 0, nil
	}
	var inserted int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := upsertSeries(ctx, tx, r.Series); err != nil {
			return err
		}
		if err := saveCalibrations(ctx, tx, r.Calibrations); err != nil {
			return err
		}
		n, err := insertAnomalies(ctx, tx, r.Anomalies)
		inserted = n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: save results: %w", err)
	}
	return inserted, nil
}

func insertAnomalies(ctx context.Context, tx pgx.Tx, as []Anomaly) (int64, error) {
	if len(as) == 0 {
		return 0, nil
	}
	// ON COMMIT DROP keeps the catalogue of pooled connections clean.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE anomalies_stage
		(LIKE anomalies INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
		return 0, fmt.Errorf("staging table: %w", err)
	}
	cols := []string{"series_key", "model_group", "ts", "value", "score", "p_value",
		"model_version", "explanation", "kafka_topic", "kafka_partition", "kafka_offset"}
	src := pgx.CopyFromSlice(len(as), func(i int) ([]any, error) {
		a := &as[i]
		expl := a.Explanation
		if expl == nil {
			expl = []float64{}
		}
		return []any{a.SeriesKey, a.Group, a.TS, a.Value, a.Score, a.PValue,
			a.ModelVersion, expl, a.Topic, a.Partition, a.Offset}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"anomalies_stage"}, cols, src); err != nil {
		return 0, fmt.Errorf("copy anomalies: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO anomalies (series_key, model_group, ts, value, score, p_value,
		       model_version, explanation, kafka_topic, kafka_partition, kafka_offset)
		SELECT series_key, model_group, ts, value, score, p_value,
		       model_version, explanation, kafka_topic, kafka_partition, kafka_offset
		FROM anomalies_stage ORDER BY series_key, ts
		ON CONFLICT (series_key, ts) DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("insert anomalies: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ListAnomalies returns up to limit anomalies of every series, ordered by
// series key and time.
func (s *Store) ListAnomalies(ctx context.Context, limit int) ([]Anomaly, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT series_key, model_group, ts, value, score, p_value, model_version,
		       explanation, kafka_topic, kafka_partition, kafka_offset
		FROM anomalies ORDER BY series_key, ts LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list anomalies: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Anomaly, error) {
		var a Anomaly
		err := r.Scan(&a.SeriesKey, &a.Group, &a.TS, &a.Value, &a.Score, &a.PValue,
			&a.ModelVersion, &a.Explanation, &a.Topic, &a.Partition, &a.Offset)
		a.TS = a.TS.UTC()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list anomalies: %w", err)
	}
	return out, nil
}
