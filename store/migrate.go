package store

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/flowguard/flowguard/migrations"
)

// MigrationStatus is the state of one migration in the database.
type MigrationStatus struct {
	Version int64
	Name    string
	Applied bool
}

// SchemaNewerError is returned (wrapped) by every migration entry point
// when the database's schema version is beyond the newest migration this
// build embeds: a newer flowguard migrated it. Nothing is changed then,
// since this build neither knows what the newer tables mean nor holds the
// SQL that rolls them back.
type SchemaNewerError struct {
	// Database is the schema version in the database, Known the newest
	// migration of this build.
	Database, Known int64
}

func (e *SchemaNewerError) Error() string {
	return fmt.Sprintf("store: database schema is at version %d, newer than this flowguard "+
		"knows (%d): run a newer flowguard, or roll the schema back to version %d with "+
		"the flowguard that migrated it (detector migrate down)", e.Database, e.Known, e.Known)
}

// checkKnown fails with a *SchemaNewerError when the database's schema is
// newer than the embedded migrations. goose would otherwise report it as
// "version not found" when rolling back, and apply nothing on the way up
// without a word.
func checkKnown(ctx context.Context, p *goose.Provider) error {
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	var known int64
	for _, src := range p.ListSources() {
		known = max(known, src.Version)
	}
	if v > known {
		return &SchemaNewerError{Database: v, Known: known}
	}
	return nil
}

// checkedProvider is provider, failing when the schema is newer than this
// build's migrations.
func (s *Store) checkedProvider(ctx context.Context) (*goose.Provider, func() error, error) {
	p, closeDB, err := s.provider()
	if err != nil {
		return nil, nil, err
	}
	if err := checkKnown(ctx, p); err != nil {
		closeDB()
		return nil, nil, err
	}
	return p, closeDB, nil
}

func (s *Store) provider() (*goose.Provider, func() error, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	// A session lock keeps two detectors starting at once from applying the
	// same migration twice.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, nil, fmt.Errorf("store: migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker))
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("store: load migrations: %w", err)
	}
	return p, db.Close, nil
}

// Migrate applies every migration not yet applied and returns the schema
// version reached.
func (s *Store) Migrate(ctx context.Context) (int64, error) {
	p, closeDB, err := s.checkedProvider(ctx)
	if err != nil {
		return 0, err
	}
	defer closeDB()
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("store: migrate up: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return v, nil
}

// MigrateDown rolls back the newest applied migration, only that one, and
// returns it and the schema version reached. It fails when no migration is
// applied. Rolling back the first migration drops every flowguard table and
// its data.
func (s *Store) MigrateDown(ctx context.Context) (MigrationStatus, int64, error) {
	p, closeDB, err := s.checkedProvider(ctx)
	if err != nil {
		return MigrationStatus{}, 0, err
	}
	defer closeDB()
	res, err := p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return MigrationStatus{}, 0, errors.New("store: migrate down: no migration is applied")
	}
	if err != nil {
		return MigrationStatus{}, 0, fmt.Errorf("store: migrate down: %w", err)
	}
	done := MigrationStatus{Version: res.Source.Version, Name: res.Source.Path}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return done, 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return done, v, nil
}

// MigrateDownTo rolls migrations back until the schema is at version (0
// removes every table flowguard created, with its data).
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, closeDB, err := s.checkedProvider(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := p.DownTo(ctx, version); err != nil {
		return fmt.Errorf("store: migrate down to %d: %w", version, err)
	}
	return nil
}

// MigrationStatus lists every known migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	p, closeDB, err := s.checkedProvider(ctx)
	if err != nil {
		return nil, err
	}
	defer closeDB()
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, m := range st {
		out = append(out, MigrationStatus{
			Version: m.Source.Version,
			Name:    m.Source.Path,
			Applied: m.State == goose.StateApplied,
		})
	}
	return out, nil
}

// CheckSchema returns an error naming the pending migrations when the
// database's schema is behind this build's, for a process told not to
// migrate: it would otherwise start, report ready and fail on its first
// write to a missing table.
func (s *Store) CheckSchema(ctx context.Context) error {
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	var pending []string
	for _, m := range st {
		if !m.Applied {
			pending = append(pending, path.Base(m.Name))
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("store: the database schema lacks %d migration(s) (%s): apply "+
			"them with \"detector migrate up\", or let the process migrate on start "+
			"(database.migrate true)", len(pending), strings.Join(pending, ", "))
	}
	return nil
}

// EnsureSchema readies the schema for a process: it applies the pending
// migrations when migrate is true (database.migrate), and otherwise
// only checks that none is pending (CheckSchema). It returns the schema
// version when it migrated.
func (s *Store) EnsureSchema(ctx context.Context, migrate bool) (int64, error) {
	if !migrate {
		return 0, s.CheckSchema(ctx)
	}
	return s.Migrate(ctx)
}
