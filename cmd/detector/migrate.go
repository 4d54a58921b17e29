package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

const migrateUsage = "detector migrate [up|down|reset|status] [--yes]"

const migrateHelp = `
Actions:
  up      apply every pending migration (the default)
  down    roll back the newest applied migration, one only
  reset   roll back every migration: drops all flowguard tables and their data
  status  list the migrations and whether each is applied

reset, and a down that would roll back the first migration (which also drops
every table), run only with --yes. --yes is read from the command line only.
`

// dropsEverything is what rolling back the first migration costs.
const dropsEverything = "would drop every flowguard table and all their data (models, " +
	"anomalies, incidents, alerts)"

// runMigrate applies ("migrate" or "migrate up"), rolls back one migration
// ("migrate down"), removes ("migrate reset --yes") or lists ("migrate
// status") the schema migrations.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	args, yes, err := takeYes(args)
	if err != nil {
		return err
	}
	cfg := config.DefaultDetector()
	rest, err := config.Load(migrateUsage, cfg, args, getenv, stdout)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stdout, migrateHelp)
	}
	if err != nil {
		return err
	}
	action := "up"
	if len(rest) > 0 {
		action = rest[0]
	}
	switch {
	case action != "up" && action != "down" && action != "reset" && action != "status":
		return fmt.Errorf("migrate: unknown action %q (want up, down, reset or status)", action)
	case len(rest) > 1:
		return fmt.Errorf("migrate %s: unexpected argument %q (settings are flags: --key value)",
			action, rest[1])
	case action == "reset" && !yes:
		// Refused before connecting: nothing is touched.
		return fmt.Errorf("migrate reset: not run: it %s in %s; add --yes to confirm",
			dropsEverything, store.Redact(databaseURL(cfg)))
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
		return migrateDown(ctx, s, yes, databaseURL(cfg), stdout)
	case "reset":
		if err := s.MigrateDownTo(ctx, 0); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "every flowguard table dropped; schema at version 0")
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
	}
	return nil
}

// migrateDown rolls back the newest migration. The first one created every
// table, so rolling it back is a reset and needs the same confirmation.
func migrateDown(ctx context.Context, s *store.Store, yes bool, url string,
	stdout io.Writer) error {
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	var applied []store.MigrationStatus
	for _, m := range st {
		if m.Applied {
			applied = append(applied, m)
		}
	}
	if len(applied) == 0 {
		return errors.New("migrate down: no migration is applied (schema at version 0)")
	}
	if len(applied) == 1 && !yes {
		return fmt.Errorf("migrate down: not run: rolling back %s, the first migration, %s "+
			"in %s; add --yes to confirm", applied[0].Name, dropsEverything, store.Redact(url))
	}

	done, v, err := s.MigrateDown(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rolled back %d (%s); schema at version %d\n", done.Version,
		done.Name, v)
	return nil
}

// databaseURL is the database migrate acts on, for messages.
func databaseURL(cfg *config.Detector) string {
	if cfg.Database.URL == "" {
		return store.DefaultURL
	}
	return cfg.Database.URL
}

// takeYes removes the confirmation flag (--yes, -yes, --yes=BOOL) from args
// and reports whether it confirmed. It is a flag apart from the settings so
// that no environment variable or configuration file left behind can
// confirm a reset for the user.
func takeYes(args []string) ([]string, bool, error) {
	var rest []string
	yes := false
	for _, a := range args {
		name, value, hasValue := strings.Cut(a, "=")
		if name != "--yes" && name != "-yes" {
			rest = append(rest, a)
			continue
		}
		yes = true
		if hasValue {
			var err error
			if yes, err = strconv.ParseBool(value); err != nil {
				return nil, false, fmt.Errorf("migrate: flag %s: want true or false", a)
			}
		}
	}
	return rest, yes, nil
}
