package store

import (
	"context"
	"fmt"

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
	p, closeDB, err := s.provider()
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

// MigrateDownTo rolls migrations back until the schema is at version (0
// removes everything flowguard created).
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, closeDB, err := s.provider()
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
	p, closeDB, err := s.provider()
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
