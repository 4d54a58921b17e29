package store_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

func TestMigrateUpDown(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	v, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v < 1 {
		t.Fatalf("schema version after Migrate = %d, want >= 1", v)
	}
	want := []string{"series", "models", "anomalies", "incidents", "alert_outbox",
		"retrain_jobs", "drift_events", "live_calibration"}
	for _, table := range want {
		if !tableExists(t, s, table) {
			t.Errorf("table %s missing after migrate up", table)
		}
	}

	// Applying again is a no-op, as every detector start does it.
	if v2, err := s.Migrate(ctx); err != nil || v2 != v {
		t.Fatalf("second Migrate = %d, %v; want %d, nil", v2, err, v)
	}

	st, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied {
			t.Errorf("migration %d (%s) not applied", m.Version, m.Name)
		}
	}

	if err := s.MigrateDownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	for _, table := range want {
		if tableExists(t, s, table) {
			t.Errorf("table %s still present after migrate down", table)
		}
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("re-applying after down: %v", err)
	}
}

// TestMigrateDownOneStep: MigrateDown undoes the newest migration only;
// the tables and rows of the earlier ones stay.
func TestMigrateDownOneStep(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	pool := s.Pool()
	for _, q := range []string{
		`INSERT INTO models (model_group, version, spec, artifact) VALUES ('g', 1, '{}', '\x00')`,
		`INSERT INTO anomalies (series_key, model_group, ts, value, score, p_value, model_version)
			VALUES ('cpu{}', 'g', '2024-01-01T00:00:00Z', '{1.5}', 9.1, 0.001, 1)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newest := st[len(st)-1]

	done, v, err := s.MigrateDown(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if done.Version != newest.Version || done.Name != newest.Name {
		t.Fatalf("MigrateDown rolled back %d (%s), want the newest, %d (%s)",
			done.Version, done.Name, newest.Version, newest.Name)
	}
	if want := st[len(st)-2].Version; v != want {
		t.Fatalf("schema at version %d after one step down, want %d", v, want)
	}
	for _, table := range []string{"series", "models", "anomalies", "incidents",
		"alert_outbox", "retrain_jobs", "drift_events", "alert_cursor"} {
		if !tableExists(t, s, table) {
			t.Errorf("table %s dropped by one step down", table)
		}
	}
	for _, table := range []string{"models", "anomalies"} {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s holds %d rows after one step down, want 1", table, n)
		}
	}
	if after, err := s.MigrationStatus(ctx); err != nil || after[len(after)-1].Applied {
		t.Fatalf("status after one step down: %+v, %v", after, err)
	}

	if err := s.MigrateDownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.MigrateDown(ctx); err == nil ||
		!strings.Contains(err.Error(), "no migration is applied") {
		t.Fatalf("MigrateDown on an empty schema: %v, want no migration is applied", err)
	}
}

func TestAnomalyKeyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	const insert = `INSERT INTO anomalies
		(series_key, model_group, ts, value, score, p_value, model_version)
		VALUES ('cpu{host="a"}', 'default', '2024-01-01T00:00:00Z', '{1.5}', 9.1, 0.001, 1)
		ON CONFLICT (series_key, ts) DO NOTHING`
	for i := 0; i < 2; i++ {
		if _, err := s.Pool().Exec(ctx, insert); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM anomalies").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("rows after inserting the same anomaly twice = %d, want 1", n)
	}
}

func TestEnsureDatabaseCreatesMissing(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.MissingDatabase(t)
	if s, err := store.Open(ctx, dbURL); err == nil {
		s.Close()
		t.Fatal("Open succeeded on a database that should not exist yet")
	}
	for i := 0; i < 2; i++ { // the second call finds it and does nothing
		if err := store.EnsureDatabase(ctx, dbURL); err != nil {
			t.Fatalf("EnsureDatabase call %d: %v", i+1, err)
		}
	}
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open after EnsureDatabase: %v", err)
	}
	s.Close()
}

func TestRedact(t *testing.T) {
	got := store.Redact("postgres://bob:secret@db:5432/x")
	if got != "postgres://bob:xxxxx@db:5432/x" {
		t.Fatalf("Redact = %q", got)
	}
}

func tableExists(t *testing.T, s *store.Store, name string) bool {
	t.Helper()
	var ok bool
	err := s.Pool().QueryRow(context.Background(),
		"SELECT to_regclass($1) IS NOT NULL", "public."+name).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestMigrateNewerSchema: a database a newer flowguard migrated (its goose
// version beyond this build's newest migration) makes every migration
// entry point fail with an error that says so, and touches nothing.
func TestMigrateNewerSchema(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	known := st[len(st)-1].Version
	newer := known + 1
	if _, err := s.Pool().Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied)
		VALUES ($1, true)`, newer); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("store: database schema is at version %d, newer than this "+
		"flowguard knows (%d): run a newer flowguard", newer, known)
	check := func(what string, err error) {
		t.Helper()
		var ne *store.SchemaNewerError
		if !errors.As(err, &ne) || ne.Database != newer || ne.Known != known {
			t.Errorf("%s: %v, want a SchemaNewerError %d > %d", what, err, newer, known)
		}
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v, want it to start %q", what, err, want)
		}
	}
	_, err = s.Migrate(ctx)
	check("Migrate", err)
	_, _, err = s.MigrateDown(ctx)
	check("MigrateDown", err)
	check("MigrateDownTo 0", s.MigrateDownTo(ctx, 0))
	_, err = s.MigrationStatus(ctx)
	check("MigrationStatus", err)

	// Nothing was rolled back.
	for _, table := range []string{"series", "models", "anomalies", "live_calibration"} {
		if !tableExists(t, s, table) {
			t.Errorf("table %s dropped although the schema is newer", table)
		}
	}
	var max int64
	if err := s.Pool().QueryRow(ctx, "SELECT max(version_id) FROM goose_db_version").
		Scan(&max); err != nil || max != newer {
		t.Errorf("goose version after the refusals: %d, %v; want %d", max, err, newer)
	}
}

// TestCheckSchema: a schema behind this build's is named with its pending
// migrations; a current one passes.
func TestCheckSchema(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("migrated schema: %v", err)
	}
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.MigrateDown(ctx); err != nil {
		t.Fatal(err)
	}
	newest := path.Base(st[len(st)-1].Name)
	err = s.CheckSchema(ctx)
	if err == nil || !strings.Contains(err.Error(), "lacks 1 migration(s) ("+newest+")") ||
		!strings.Contains(err.Error(), "detector migrate up") {
		t.Fatalf("schema one behind: %v, want the pending %s named", err, newest)
	}
}
