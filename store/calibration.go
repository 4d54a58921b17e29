package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// saveCalibrations replaces each group's saved live calibration. The
// newest save wins, whatever version wrote it: a detector only saves
// for the champion it scores with.
func saveCalibrations(ctx context.Context, tx pgx.Tx, cs []LiveCalibration) error {
	for _, c := range cs {
		scores := c.Scores
		if scores == nil {
			scores = []float64{} // the column is NOT NULL; no scores is a state too
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO live_calibration (model_group, model_version, scores)
			VALUES ($1, $2, $3)
			ON CONFLICT (model_group) DO UPDATE SET model_version = EXCLUDED.model_version,
			    scores = EXCLUDED.scores, saved_at = now()`,
			c.Group, c.Version, scores)
		if err != nil {
			return fmt.Errorf("save live calibration of group %q: %w", c.Group, err)
		}
	}
	return nil
}

// LiveCalibration returns the live scores saved for group's model version,
// oldest first, or nil when none are saved for that version: a new
// champion starts learning afresh.
func (s *Store) LiveCalibration(ctx context.Context, group string, version int) ([]float64, error) {
	var scores []float64
	err := s.pool.QueryRow(ctx, `
		SELECT scores FROM live_calibration WHERE model_group = $1 AND model_version = $2`,
		group, version).Scan(&scores)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: live calibration of group %q: %w", group, err)
	}
	return scores, nil
}
