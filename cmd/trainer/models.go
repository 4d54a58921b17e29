package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

// runModels prints the model registry.
func runModels(ctx context.Context, args []string, stdout io.Writer,
	getenv func(string) string) error {
	cfg := config.DefaultTrainer()
	if _, err := config.Load("trainer models", cfg, args, getenv, stdout); err != nil {
		return err
	}
	s, err := store.Connect(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer s.Close()
	if cfg.Database.Migrate {
		if _, err := s.Migrate(ctx); err != nil {
			return err
		}
	}
	models, err := s.ListModels(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tVERSION\tSTATE\tCREATED\tMETRICS\tNOTE")
	for _, m := range models {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", m.Group, m.Version, m.State,
			m.CreatedAt.UTC().Format("2006-01-02 15:04:05"), m.Metrics, m.Note)
	}
	return tw.Flush()
}
