package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ModelsChannel is the LISTEN/NOTIFY channel on which the registry announces
// a change of champion. The payload is the JSON of a ModelEvent.
const ModelsChannel = "flowguard_models"

// Model states, as stored in models.state.
const (
	StateCandidate = "candidate"
	StateChampion  = "champion"
	StateRetired   = "retired"
	StateRejected  = "rejected"
)

// ErrNoModel is returned by Champion, ModelVersion, Promote and Rollback when
// the group has no model in the asked state or version.
var ErrNoModel = errors.New("store: no such model")

// NewModel is a trained model to add to the registry.
type NewModel struct {
	Group string
	// Spec is the flow spec as JSON, kept beside the artifact so that a
	// listing can show the model's shape without decoding it.
	Spec []byte
	// Artifact is the model file (scorer.Model.Encode).
	Artifact []byte
	// Metrics is JSON written by the trainer; nil stores {}.
	Metrics   []byte
	TrainFrom *time.Time
	TrainTo   *time.Time
	Note      string
}

// Model is one registry entry with its artifact.
type Model struct {
	ModelInfo
	// PromotedAt is when the version last became champion; nil if never.
	PromotedAt *time.Time
	Spec       []byte
	Artifact   []byte
}

// ModelEvent is the payload of a notification on ModelsChannel: Version is
// the group's new champion.
type ModelEvent struct {
	Group   string `json:"group"`
	Version int    `json:"version"`
}

// SaveModel adds m to the registry as a candidate with the next version
// number of its group (1 for the first) and returns its entry. Concurrent
// saves to one group are serialised by a transaction-scoped advisory lock,
// so two trainers never race for the same number.
func (s *Store) SaveModel(ctx context.Context, m NewModel) (ModelInfo, error) {
	if m.Group == "" || len(m.Artifact) == 0 {
		return ModelInfo{}, errors.New("store: save model: need a group and an artifact")
	}
	spec, metrics := jsonOr(m.Spec), jsonOr(m.Metrics)
	var info ModelInfo
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGroup(ctx, tx, m.Group); err != nil {
			return err
		}
		row := tx.QueryRow(ctx, `
			INSERT INTO models (model_group, version, spec, artifact, metrics,
			                    train_from, train_to, note)
			SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7
			FROM models WHERE model_group = $1
			RETURNING `+modelColumns,
			m.Group, spec, m.Artifact, metrics, m.TrainFrom, m.TrainTo, m.Note)
		var err error
		info, err = scanModelInfo(row)
		return err
	})
	if err != nil {
		return ModelInfo{}, fmt.Errorf("store: save model of group %q: %w", m.Group, err)
	}
	return info, nil
}

// lockGroup takes the transaction-scoped lock that serialises registry
// changes of one group. It is re-entrant within a transaction.
func lockGroup(ctx context.Context, tx pgx.Tx, group string) error {
	_, err := tx.Exec(ctx,
		"SELECT pg_advisory_xact_lock(hashtext('flowguard_models'), hashtext($1))", group)
	return err
}

// jsonOr returns b, or {} when b is empty, for jsonb columns.
func jsonOr(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

const modelColumns = `id, model_group, version, state, metrics, train_from, train_to,
	note, created_at`

func scanModelInfo(row pgx.Row) (ModelInfo, error) {
	var m ModelInfo
	err := row.Scan(&m.ID, &m.Group, &m.Version, &m.State, &m.Metrics, &m.TrainFrom,
		&m.TrainTo, &m.Note, &m.CreatedAt)
	return m, err
}

// Champion returns the champion of group with its artifact, or an error
// wrapping ErrNoModel if the group has none.
func (s *Store) Champion(ctx context.Context, group string) (Model, error) {
	return s.queryModel(ctx, "champion of "+group, `
		SELECT `+modelColumns+`, promoted_at, spec, artifact FROM models
		WHERE model_group = $1 AND state = 'champion'`, group)
}

// ModelVersion returns one version of group with its artifact, or an error
// wrapping ErrNoModel.
func (s *Store) ModelVersion(ctx context.Context, group string, version int) (Model, error) {
	return s.queryModel(ctx, fmt.Sprintf("model %s v%d", group, version), `
		SELECT `+modelColumns+`, promoted_at, spec, artifact FROM models
		WHERE model_group = $1 AND version = $2`, group, version)
}

func (s *Store) queryModel(ctx context.Context, what, sql string, args ...any) (Model, error) {
	var m Model
	err := s.pool.QueryRow(ctx, sql, args...).Scan(&m.ID, &m.Group, &m.Version, &m.State,
		&m.Metrics, &m.TrainFrom, &m.TrainTo, &m.Note, &m.CreatedAt, &m.PromotedAt,
		&m.Spec, &m.Artifact)
	if errors.Is(err, pgx.ErrNoRows) {
		return Model{}, fmt.Errorf("store: %s: %w", what, ErrNoModel)
	}
	if err != nil {
		return Model{}, fmt.Errorf("store: %s: %w", what, err)
	}
	return m, nil
}

// ChampionVersions returns the champion version of every group that has
// one, for a detector's periodic check for missed notifications.
func (s *Store) ChampionVersions(ctx context.Context) (map[string]int, error) {
	return s.intMap(ctx, "champion versions",
		"SELECT model_group, version FROM models WHERE state = 'champion'")
}

// Promote makes version the champion of group, retiring the current one,
// and notifies ModelsChannel; the notification is sent when the transaction
// commits, so a listener that hears it finds the new champion. Promoting the
// current champion again changes nothing and sends nothing. It returns an
// error wrapping ErrNoModel if the version does not exist.
func (s *Store) Promote(ctx context.Context, group string, version int) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return promoteTx(ctx, tx, group, version)
	})
	if err != nil {
		return fmt.Errorf("store: promote %s v%d: %w", group, version, err)
	}
	return nil
}

func promoteTx(ctx context.Context, tx pgx.Tx, group string, version int) error {
	// Without the group lock two promotions would each retire nothing and
	// the second would fail on the one-champion index.
	if err := lockGroup(ctx, tx, group); err != nil {
		return err
	}
	var state string
	err := tx.QueryRow(ctx, `SELECT state FROM models
		WHERE model_group = $1 AND version = $2 FOR UPDATE`, group, version).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoModel
	}
	if err != nil || state == StateChampion {
		return err
	}
	// The old champion steps down first: the partial unique index allows
	// one champion per group at any moment, even inside a transaction.
	if _, err := tx.Exec(ctx, `UPDATE models SET state = 'retired'
		WHERE model_group = $1 AND state = 'champion'`, group); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE models SET state = 'champion', promoted_at = now()
		WHERE model_group = $1 AND version = $2`, group, version); err != nil {
		return err
	}
	payload, _ := json.Marshal(ModelEvent{Group: group, Version: version})
	_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", ModelsChannel, string(payload))
	return err
}

// ErrChampionChanged is returned by PromoteOver when the group's champion
// is no longer the version the candidate was compared with.
var ErrChampionChanged = errors.New("store: champion changed")

// PromoteOver makes version the champion of group, as Promote does, only
// if the current champion is the version champion, which a trainer
// compared the candidate with; otherwise (a person or another trainer
// promoted or rolled back meanwhile) it changes nothing and returns an
// error wrapping ErrChampionChanged.
func (s *Store) PromoteOver(ctx context.Context, group string, version,
	champion int) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGroup(ctx, tx, group); err != nil {
			return err
		}
		var current int
		err := tx.QueryRow(ctx, `SELECT version FROM models
			WHERE model_group = $1 AND state = 'champion'`, group).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && current != champion) {
			return ErrChampionChanged
		}
		if err != nil {
			return err
		}
		return promoteTx(ctx, tx, group, version)
	})
	if err != nil {
		return fmt.Errorf("store: promote %s v%d over v%d: %w", group, version, champion, err)
	}
	return nil
}

// PromoteIfNone makes version the champion of group only if the group has
// no champion yet (the bootstrap case) and reports whether it did.
func (s *Store) PromoteIfNone(ctx context.Context, group string, version int) (bool, error) {
	var done bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The same lock as SaveModel: two trainers bootstrapping one group
		// cannot both see "no champion".
		if err := lockGroup(ctx, tx, group); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM models
			WHERE model_group = $1 AND state = 'champion')`, group).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		done = true
		return promoteTx(ctx, tx, group, version)
	})
	if err != nil {
		return false, fmt.Errorf("store: bootstrap promote %s v%d: %w", group, version, err)
	}
	return done, nil
}

// Rollback marks the champion of group rejected, with note, and makes the
// previous champion (the retired version promoted most recently) champion
// again, notifying ModelsChannel. It returns the restored version, or an
// error wrapping ErrNoModel if there is no champion or nothing to go back to.
func (s *Store) Rollback(ctx context.Context, group, note string) (int, error) {
	var version int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGroup(ctx, tx, group); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE models SET state = 'rejected',
			note = CASE WHEN $2 = '' THEN note ELSE $2 END
			WHERE model_group = $1 AND state = 'champion'`, group, note)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return noModelError("store: group " + group + " has no champion to roll back")
		}
		err = tx.QueryRow(ctx, `SELECT version FROM models
			WHERE model_group = $1 AND state = 'retired' AND promoted_at IS NOT NULL
			ORDER BY promoted_at DESC, version DESC LIMIT 1`, group).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return noModelError("store: group " + group +
				" has no earlier champion to roll back to")
		}
		if err != nil {
			return err
		}
		return promoteTx(ctx, tx, group, version)
	})
	var nm noModelError
	if errors.As(err, &nm) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("store: roll back %s: %w", group, err)
	}
	return version, nil
}

// noModelError says in a user's words why a group has no model to act on;
// it wraps ErrNoModel without repeating its text.
type noModelError string

func (e noModelError) Error() string { return string(e) }

func (e noModelError) Unwrap() error { return ErrNoModel }

// RejectModel marks a candidate rejected and records why, so that
// "trainer models" shows the reason it was not promoted. A champion cannot
// be rejected this way (use Rollback); that gives an error wrapping
// ErrNoModel, as does an unknown version.
func (s *Store) RejectModel(ctx context.Context, group string, version int,
	note string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE models SET state = 'rejected', note = $3
		WHERE model_group = $1 AND version = $2 AND state = 'candidate'`,
		group, version, note)
	if err != nil {
		return fmt.Errorf("store: reject %s v%d: %w", group, version, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: reject %s v%d: no such candidate: %w", group, version,
			ErrNoModel)
	}
	return nil
}
