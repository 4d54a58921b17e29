package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/migrations"
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
	out.Reset()
	if err := Run(ctx, []string{"migrate", "down"}, &out, &out, env); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Run(ctx, []string{"migrate", "status"}, &out, &out, env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "pending") {
		t.Fatalf("status after down: %q", out.String())
	}
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
