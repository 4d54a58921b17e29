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

// openStore loads the settings of a registry command and connects.
func openStore(ctx context.Context, name string, args []string, stdout io.Writer,
	getenv func(string) string) (*store.Store, []string, error) {
	cfg := config.DefaultTrainer()
	rest, err := config.Load(name, cfg, args, getenv, stdout)
	if err != nil {
		return nil, nil, err
	}
	s, err := store.Connect(ctx, cfg.Database.URL)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Database.Migrate {
		if _, err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, nil, err
		}
	}
	return s, rest, nil
}

// runPromote makes a version the champion of its group.
func runPromote(ctx context.Context, args []string, stdout io.Writer,
	getenv func(string) string) error {
	s, rest, err := openStore(ctx, "trainer promote [flags] GROUP VERSION", args, stdout,
		getenv)
	if err != nil {
		return err
	}
	defer s.Close()
	if len(rest) != 2 {
		return errors.New("promote: want GROUP VERSION")
	}
	v, err := strconv.Atoi(strings.TrimPrefix(rest[1], "v"))
	if err != nil {
		return fmt.Errorf("promote: version %q: want a number", rest[1])
	}
	if err := s.Promote(ctx, rest[0], v); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s version %d is champion\n", rest[0], v)
	return nil
}

// runRollback restores the previous champion of a group.
func runRollback(ctx context.Context, args []string, stdout io.Writer,
	getenv func(string) string) error {
	s, rest, err := openStore(ctx, "trainer rollback [flags] GROUP [REASON]", args, stdout,
		getenv)
	if err != nil {
		return err
	}
	defer s.Close()
	if len(rest) < 1 || len(rest) > 2 {
		return errors.New("rollback: want GROUP [REASON]")
	}
	note := "rolled back"
	if len(rest) == 2 {
		note = "rolled back: " + rest[1]
	}
	v, err := s.Rollback(ctx, rest[0], note)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s version %d is champion again\n", rest[0], v)
	return nil
}
