package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/training"
)

// runModels prints the model registry: every version with its state, the
// data it was trained on and how it compared with the champion of the time.
func runModels(ctx context.Context, args []string, stdout io.Writer,
	getenv func(string) string) error {
	s, _, err := openStore(ctx, "trainer models", args, stdout, getenv, func(rest []string) error {
		return config.NoArgs("trainer models", rest)
	})
	if err != nil {
		return err
	}
	defer s.Close()
	models, err := s.ListModels(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tVERSION\tSTATE\tCREATED\tDATA\tSAMPLES\tEXCLUDED\t"+
		"CALIB_SCORE\tHELD_OUT\tNOTE")
	for _, m := range models {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Group, m.Version, m.State,
			m.CreatedAt.UTC().Format("2006-01-02 15:04:05"), describe(m))
	}
	return tw.Flush()
}

// describe renders the metrics columns and the note of a version.
func describe(m store.ModelInfo) string {
	met, err := training.DecodeMetrics(m.Metrics)
	if err != nil {
		return fmt.Sprintf("-\t-\t-\t-\t-\t%s (metrics: %v)", m.Note, err)
	}
	data := "-"
	if !met.Data.From.IsZero() {
		data = met.Data.From.UTC().Format("2006-01-02T15:04") + ".." +
			met.Data.To.UTC().Format("2006-01-02T15:04")
	}
	// The held-out comparison: candidate and champion mean scores in raw
	// units, and the KS statistics of their p-values.
	held := "-"
	if ev := met.Evaluation; ev != nil {
		held = fmt.Sprintf("%.3f/KS %.2f vs v%d %.3f/KS %.2f", ev.Candidate.MeanScore,
			ev.Candidate.KS, ev.ChampionVersion, ev.Champion.MeanScore, ev.Champion.KS)
	}
	return fmt.Sprintf("%s\t%d\t%d\t%.4f\t%s\t%s", data, met.Data.Samples,
		met.Data.Excluded, met.Report.CalibScore, held, m.Note)
}
