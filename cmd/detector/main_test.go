package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/migrations"
	"github.com/flowguard/flowguard/store"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHelpListsSettings(t *testing.T) {
	var out strings.Builder
	_ = Run(context.Background(), []string{"--help"}, &out, &out, envOf(nil))
	for _, want := range []string{"migrate", "--database.url", "--kafka.brokers",
		"FLOWGUARD_KAFKA_GROUP", "flowguard-detector", "--http.addr", "127.0.0.1:9464"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestMigrateFlagAfterAction: a flag written after the action names the
// database acted on; it once went unnoticed, and "migrate down" then acted
// on the default database.
func TestMigrateFlagAfterAction(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	var out strings.Builder
	if err := Run(ctx, []string{"migrate", "status", "--database.url", db}, &out, &out,
		envOf(nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "pending") || strings.Contains(out.String(), "applied") {
		t.Fatalf("status of a fresh database named after the action: %q", out.String())
	}
}

func TestMigrateCommand(t *testing.T) {
	env := envOf(map[string]string{"FLOWGUARD_DATABASE_URL": pgtest.NewDatabase(t)})
	ctx := context.Background()
	var out strings.Builder
	if err := Run(ctx, []string{"migrate"}, &out, &out, env); err != nil {
		t.Fatal(err)
	}
	// The newest migration's number is the version reached.
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v %v", files, err)
	}
	latest, _ := strconv.Atoi(strings.SplitN(files[len(files)-1], "_", 2)[0])
	if want := fmt.Sprintf("schema at version %d\n", latest); out.String() != want {
		t.Fatalf("migrate printed %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := Run(ctx, []string{"migrate", "status"}, &out, &out, env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied") || strings.Contains(out.String(), "pending") {
		t.Fatalf("status after up: %q", out.String())
	}
}

// TestMigrateDownAndReset: "migrate down" once dropped the whole schema with
// its data, and took a stray word. It now rolls back one migration; the
// whole schema goes only with "migrate reset --yes" (or a down of the first
// migration with --yes), and every refusal leaves schema and data alone.
func TestMigrateDownAndReset(t *testing.T) {
	db := pgtest.NewDatabase(t)
	env := envOf(map[string]string{"FLOWGUARD_DATABASE_URL": db})
	ctx := context.Background()
	if err := Run(ctx, []string{"migrate"}, io.Discard, io.Discard, env); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []string{
		`INSERT INTO models (model_group, version, spec, artifact) VALUES ('g', 1, '{}', '\x00')`,
		`INSERT INTO anomalies (series_key, model_group, ts, value, score, p_value, model_version)
			VALUES ('cpu{}', 'g', '2024-01-01T00:00:00Z', '{1.5}', 9.1, 0.001, 1)`,
	} {
		if _, err := s.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	versions := migrationVersions(t)
	latest := versions[len(versions)-1]

	type step struct {
		args    []string
		wantErr string              // empty: must succeed
		wantOut []string            // printed, each of them
		version int64               // schema version afterwards
		kept    bool                // the model and anomaly rows are still there
		env     func(string) string // nil: env
	}
	steps := []step{
		{args: []string{"down", "extra"}, wantErr: `unexpected argument "extra"`,
			version: latest, kept: true},
		{args: []string{"reset"}, wantErr: "add --yes to confirm", version: latest, kept: true},
		{args: []string{"reset", "--yes=false"}, wantErr: "add --yes to confirm",
			version: latest, kept: true},
		// Only the command line confirms, never a variable left behind.
		{args: []string{"reset"}, wantErr: "add --yes to confirm", version: latest, kept: true,
			env: envOf(map[string]string{"FLOWGUARD_DATABASE_URL": db, "FLOWGUARD_YES": "true"})},
	}
	// downToFirst steps down from the newest migration to the first.
	downToFirst := func(kept bool) []step {
		var out []step
		for i := len(versions) - 1; i > 0; i-- {
			out = append(out, step{args: []string{"down"},
				wantOut: []string{fmt.Sprintf("rolled back %d (", versions[i]),
					fmt.Sprintf("); schema at version %d\n", versions[i-1])},
				version: versions[i-1], kept: kept})
		}
		return out
	}
	steps = append(steps, downToFirst(true)...)
	steps = append(steps,
		// Rolling back the first migration would drop every table.
		step{args: []string{"down"}, wantErr: "add --yes to confirm", version: versions[0],
			kept: true},
		step{args: []string{"reset", "extra", "--yes"}, wantErr: `unexpected argument "extra"`,
			version: versions[0], kept: true},
		step{args: []string{"reset", "--yes"}, wantOut: []string{"schema at version 0\n"},
			version: 0},
		step{args: []string{"down"}, wantErr: "no migration is applied", version: 0},
		step{args: []string{"up"},
			wantOut: []string{fmt.Sprintf("schema at version %d\n", latest)}, version: latest},
	)
	steps = append(steps, downToFirst(false)...)
	steps = append(steps, step{args: []string{"down", "--yes"},
		wantOut: []string{fmt.Sprintf("rolled back %d (", versions[0]),
			"); schema at version 0\n"}, version: 0})
	for _, st := range steps {
		var out strings.Builder
		args := append([]string{"migrate"}, st.args...)
		stepEnv := env
		if st.env != nil {
			stepEnv = st.env
		}
		err := Run(ctx, args, &out, &out, stepEnv)
		switch {
		case st.wantErr == "" && err != nil:
			t.Fatalf("%v: %v", args, err)
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Fatalf("%v: error %v, want one with %q (printed %q)", args, err, st.wantErr,
				out.String())
		}
		for _, want := range st.wantOut {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("%v printed %q, want %q in it", args, out.String(), want)
			}
		}
		if v := schemaVersion(t, s); v != st.version {
			t.Fatalf("after %v the schema is at version %d, want %d", args, v, st.version)
		}
		if got := rowsKept(t, s); got != st.kept {
			t.Fatalf("after %v the model and anomaly rows kept = %v, want %v", args, got, st.kept)
		}
	}
}

// migrationVersions returns the version of every migration file, ascending.
func migrationVersions(t *testing.T) []int64 {
	t.Helper()
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("migration files: %v %v", files, err)
	}
	var out []int64
	for _, f := range files {
		v, err := strconv.ParseInt(strings.SplitN(f, "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("migration file %s: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

// schemaVersion is the newest applied migration, 0 for none.
func schemaVersion(t *testing.T, s *store.Store) int64 {
	t.Helper()
	st, err := s.MigrationStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var v int64
	for _, m := range st {
		if m.Applied {
			v = max(v, m.Version)
		}
	}
	return v
}

// rowsKept reports whether the model and anomaly rows the test wrote are
// still there; a dropped table holds none.
func rowsKept(t *testing.T, s *store.Store) bool {
	t.Helper()
	ctx := context.Background()
	for _, table := range []string{"models", "anomalies"} {
		var exists bool
		err := s.Pool().QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL",
			"public."+table).Scan(&exists)
		if err != nil {
			t.Fatal(err)
		}
		if !exists {
			return false
		}
		var n int
		if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// TestBrokenConfigExits runs the real binary: a typo'd field and a value of
// the wrong type must each end it with a non-zero status and a message that
// names the file, line and field.
func TestBrokenConfigExits(t *testing.T) {
	bin := detectorBinary(t)
	cases := []struct{ name, body, want string }{
		{"typo", "kafka:\n  brokres: [localhost:9092]\n", `:2: field "kafka.brokres": unknown field`},
		{"wrong type", "kafka:\n  partitions: many\n", `:2: field "kafka.partitions": invalid value "many"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(file, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "run", "--config", file)
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() == 0 {
				t.Fatalf("exit status 0 (err %v), output %s", err, out)
			}
			if !strings.Contains(string(out), file+tc.want) {
				t.Fatalf("output %q lacks %q", out, file+tc.want)
			}
		})
	}
}
