package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/internal/pgtest"
)

func TestMain(m *testing.M) {
	// Tests see no FLOWGUARD_ variable of the machine they run on; those
	// that need some set environ themselves.
	environ = func() []string { return nil }
	os.Exit(m.Run())
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_ = Run(context.Background(), []string{"--help"}, &out, &out, func(string) string { return "" })
	for _, want := range []string{"models", "--database.url", "--poll", "30s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestModelsOnEmptyRegistry(t *testing.T) {
	var out strings.Builder
	err := Run(context.Background(), []string{"models"}, &out, &out,
		dbEnv(pgtest.NewDatabase(t)))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "GROUP") {
		t.Fatalf("models on an empty registry printed %q", out.String())
	}
}

// TestUnknownEnvWarned: a FLOWGUARD_ variable that names no setting of the
// trainer or the detector is named in one warning at start; the
// detector's own variables are not.
func TestUnknownEnvWarned(t *testing.T) {
	environ = func() []string {
		return []string{"FLOWGUARD_KAFKA_BROKER=a:9092", "FLOWGUARD_DRIFT_ALPHA=1e-6",
			"FLOWGUARD_POL=1m", "HOME=/root"}
	}
	defer func() { environ = func() []string { return nil } }()
	var stdout, stderr strings.Builder
	// promote refuses its arguments before it connects anywhere.
	err := Run(context.Background(), []string{"promote", "g"}, &stdout, &stderr,
		func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "want GROUP VERSION") {
		t.Fatalf("promote g: %v", err)
	}
	want := "level=WARN msg=\"ignoring environment variables that name no setting of the " +
		"detector or the trainer\" variables=FLOWGUARD_KAFKA_BROKER,FLOWGUARD_POL\n"
	if got := stderr.String(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("stderr %q, want one line ending %q", got, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q", stdout.String())
	}
}
