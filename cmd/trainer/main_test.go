package main

import (
	"context"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/internal/pgtest"
)

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
