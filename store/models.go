package store

import (
	"context"
	"fmt"
	"time"
)

// ModelInfo describes one model version in the registry, without its
// artifact.
type ModelInfo struct {
	ID        int64
	Group     string
	Version   int
	State     string // candidate, champion, retired or rejected
	Metrics   []byte // JSON written by the trainer
	TrainFrom *time.Time
	TrainTo   *time.Time
	Note      string
	CreatedAt time.Time
}

// ListModels returns every model version, newest first within each group.
func (s *Store) ListModels(ctx context.Context) ([]ModelInfo, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, model_group, version, state, metrics, train_from, train_to,
		       note, created_at
		FROM models ORDER BY model_group, version DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list models: %w", err)
	}
	defer rows.Close()
	var out []ModelInfo
	for rows.Next() {
		var m ModelInfo
		if err := rows.Scan(&m.ID, &m.Group, &m.Version, &m.State, &m.Metrics,
			&m.TrainFrom, &m.TrainTo, &m.Note, &m.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: list models: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list models: %w", err)
	}
	return out, nil
}
