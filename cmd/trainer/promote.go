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

// openStore loads the settings of a registry command, checks its
// positional arguments with argsOK before touching the database, and
// connects.
func openStore(ctx context.Context, name string, args []string, stdout io.Writer,
	getenv func(string) string, argsOK func(rest []string) error) (*store.Store, []string,
	error) {
	cfg := config.DefaultTrainer()
	rest, err := config.Load(name, cfg, args, getenv, stdout)
	if err != nil {
		return nil, nil, err
	}
	if err := argsOK(rest); err != nil {
		return nil, nil, err
	}
	s, err := store.Connect(ctx, cfg.Database.URL)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.EnsureSchema(ctx, cfg.Database.Migrate); err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, rest, nil
}

// runPromote makes a version the champion of its group.
func runPromote(ctx context.Context, args []string, stdout io.Writer,
	getenv func(string) string) error {
	var v int
	s, rest, err := openStore(ctx, "trainer promote [flags] GROUP VERSION", args, stdout,
		getenv, func(rest []string) error {
			if len(rest) != 2 {
				return errors.New("promote: want GROUP VERSION")
			}
			var err error
			if v, err = strconv.Atoi(strings.TrimPrefix(rest[1], "v")); err != nil {
				return fmt.Errorf("promote: version %q: want a number", rest[1])
			}
			return nil
		})
	if err != nil {
		return err
	}
	defer s.Close()
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
		getenv, func(rest []string) error {
			if len(rest) < 1 || len(rest) > 2 {
				return errors.New("rollback: want GROUP [REASON]")
			}
			return nil
		})
	if err != nil {
		return err
	}
	defer s.Close()
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
