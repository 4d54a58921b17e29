package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// SeriesUpdate is the newest state of one series after a scoring batch.
type SeriesUpdate struct {
	Key    string
	Name   string
	Labels map[string]string
	Group  string
	// LastTS is the event time of the newest step; zero when the series
	// has emitted no step yet.
	LastTS time.Time
	// LastScore and LastPValue belong to LastTS; nil when that step was
	// not scored (no model yet, or a filled step).
	LastScore  *float64
	LastPValue *float64
}

// upsertSeries inserts new series and moves known ones forward: last_seen
// becomes now, and the score columns change only when the update is not
// older in event time than what is stored, so a replay cannot roll a
// series back.
func upsertSeries(ctx context.Context, tx pgx.Tx, us []SeriesUpdate) error {
	if len(us) == 0 {
		return nil
	}
	// Locking rows in one order keeps two detectors from deadlocking
	// during a rebalance, when both may touch the same series.
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b SeriesUpdate) int { return cmp.Compare(a.Key, b.Key) })
	us = slices.CompactFunc(us, func(a, b SeriesUpdate) bool { return a.Key == b.Key })

	n := len(us)
	keys, names, groups := make([]string, n), make([]string, n), make([]string, n)
	labels := make([]string, n)
	ts := make([]*time.Time, n)
	scores, pvals := make([]*float64, n), make([]*float64, n)
	for i, u := range us {
		keys[i], names[i], groups[i] = u.Key, u.Name, u.Group
		l, err := json.Marshal(u.Labels)
		if err != nil || u.Labels == nil {
			l = []byte("{}")
		}
		labels[i] = string(l)
		if !u.LastTS.IsZero() {
			t := u.LastTS
			ts[i] = &t
		}
		scores[i], pvals[i] = u.LastScore, u.LastPValue
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO series AS s (key, name, labels, model_group, last_ts, last_score,
		                         last_p_value)
		SELECT k, n, l::jsonb, g, t, sc, p
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
		            $6::float8[], $7::float8[]) AS u(k, n, l, g, t, sc, p)
		ON CONFLICT (key) DO UPDATE SET
		    last_seen = now(),
		    model_group = EXCLUDED.model_group,
		    last_ts = GREATEST(s.last_ts, EXCLUDED.last_ts),
		    last_score = CASE WHEN s.last_ts IS NULL OR EXCLUDED.last_ts >= s.last_ts
		                      THEN EXCLUDED.last_score ELSE s.last_score END,
		    last_p_value = CASE WHEN s.last_ts IS NULL OR EXCLUDED.last_ts >= s.last_ts
		                        THEN EXCLUDED.last_p_value ELSE s.last_p_value END`,
		keys, names, labels, groups, ts, scores, pvals)
	if err != nil {
		return fmt.Errorf("upsert series: %w", err)
	}
	return nil
}

// SeriesLastSteps returns the newest durable step (last_ts) of each of
// keys that has one; keys unknown or without a step are absent. A
// starting detector uses it to tell replayed points from new ones.
func (s *Store) SeriesLastSteps(ctx context.Context, keys []string) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT key, last_ts FROM series WHERE key = ANY($1) AND last_ts IS NOT NULL`, keys)
	if err != nil {
		return nil, fmt.Errorf("store: series last steps: %w", err)
	}
	out := make(map[string]time.Time, len(keys))
	var k string
	var t time.Time
	_, err = pgx.ForEachRow(rows, []any{&k, &t}, func() error {
		out[k] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: series last steps: %w", err)
	}
	return out, nil
}
