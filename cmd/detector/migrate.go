package main

import (
	"context"
	"fmt"
	"io"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

// runMigrate applies, rolls back ("migrate down") or lists ("migrate status")
// the schema migrations.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	cfg := config.DefaultDetector()
	rest, err := config.Load("detector migrate [up|down|status]", cfg, args, getenv, stdout)
	if err != nil {
		return err
	}
	action := "up"
	if len(rest) > 0 {
		action = rest[0]
	}
	s, err := store.Connect(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer s.Close()

	switch action {
	case "up":
		v, err := s.Migrate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "schema at version %d\n", v)
	case "down":
		if err := s.MigrateDownTo(ctx, 0); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "schema removed")
	case "status":
		st, err := s.MigrationStatus(ctx)
		if err != nil {
			return err
		}
		for _, m := range st {
			state := "pending"
			if m.Applied {
				state = "applied"
			}
			fmt.Fprintf(stdout, "%5d  %-8s %s\n", m.Version, state, m.Name)
		}
	default:
		return fmt.Errorf("migrate: unknown action %q (want up, down or status)", action)
	}
	return nil
}
