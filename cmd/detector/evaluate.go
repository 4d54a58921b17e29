package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flowguard/flowguard/evaluate"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/nab"
)

// evaluateSettings are the flags of "detector evaluate".
type evaluateSettings struct {
	Data           string `yaml:"data" help:"folder of NAB-layout series: <category>/<file>.csv"`
	Labels         string `yaml:"labels" help:"NAB labels file (JSON); empty: no NAB score"`
	Out            string `yaml:"out" help:"folder for the <category>/<file>.csv results"`
	Thresholds     string `yaml:"thresholds" help:"saved thresholds to apply instead of tuning"`
	SaveThresholds string `yaml:"save_thresholds" help:"file to save the tuned thresholds to"`
	Table          bool   `yaml:"table" help:"print the per-file table of every profile"`
	Seed           int    `yaml:"seed" help:"seed of the flow's weights and minibatches"`
	Parallel       int    `yaml:"parallel" help:"files replayed at once; 0: GOMAXPROCS"`
}

// runEvaluate replays labelled series through the online path and, with
// labels, prints their NAB scores.
func runEvaluate(ctx context.Context, args []string, stdout, _ io.Writer,
	getenv func(string) string) error {
	cfg := evaluateSettings{Seed: 1}
	if err := config.LoadNoArgs("detector evaluate", &cfg, args, getenv, stdout); err != nil {
		return err
	}
	switch {
	case cfg.Data == "" || cfg.Out == "":
		return errors.New("evaluate: --data and --out are required")
	case cfg.Thresholds != "" && cfg.Labels == "":
		return errors.New("evaluate: --thresholds needs --labels to score with")
	case cfg.SaveThresholds != "" && cfg.Labels == "":
		return errors.New("evaluate: --save_thresholds needs --labels to tune with")
	case cfg.Table && cfg.Labels == "":
		return errors.New("evaluate: --table needs --labels: the table is of NAB scores")
	case cfg.Parallel < 0:
		return fmt.Errorf("evaluate: --parallel %d: want 0 (one per core) or more",
			cfg.Parallel)
	}
	set := evaluate.DefaultSettings()
	set.Fit.Seed = uint64(cfg.Seed)
	start := time.Now()
	res, err := evaluate.Run(ctx, evaluate.Options{Data: cfg.Data, Out: cfg.Out,
		Labels: cfg.Labels, Thresholds: cfg.Thresholds, SaveThresholds: cfg.SaveThresholds,
		Settings: set, Parallel: cfg.Parallel})
	if res.Files == nil {
		return err
	}
	var sum evaluate.ReplayStats
	for _, f := range res.Files {
		s := f.Stats
		if s.NoModel != "" {
			fmt.Fprintf(stdout, "%s: not scored, no model: %s\n", f.Name, s.NoModel)
		}
		if s.Rejected > 0 {
			fmt.Fprintf(stdout, "%s: %d rows refused by the grid (out of order), not scored\n",
				f.Name, s.Rejected)
		}
		if s.Repeated > 0 {
			fmt.Fprintf(stdout, "%s: %d rows repeat the timestamp before them; each "+
				"step's rows are averaged, as the service does\n", f.Name, s.Repeated)
		}
		if s.FailedRetrains > 0 {
			fmt.Fprintf(stdout, "%s: %d retrain jobs failed, the model stayed; the last: %s\n",
				f.Name, s.FailedRetrains, s.LastError)
		}
		sum.Add(s)
	}
	fmt.Fprintf(stdout, "%d files, %d rows in %s; %d alarms; %d retrain jobs (%d on drift): "+
		"%d promoted, %d rejected, %d failed\n", len(res.Files), sum.Rows,
		time.Since(start).Round(time.Millisecond), sum.Alarms, sum.Jobs, sum.Drift,
		sum.Retrains, sum.RejectedCandidates, sum.FailedRetrains)
	if n := len(res.Unlabelled); n > 0 {
		fmt.Fprintf(stdout, "%d files not in the labels, written but not scored: %s\n", n,
			list(res.Unlabelled))
	}
	if n := len(res.NotInData); n > 0 {
		fmt.Fprintf(stdout, "%d labelled files not in the data, their windows not scored: %s\n",
			n, list(res.NotInData))
	}
	if n := len(res.Stale); n > 0 {
		fmt.Fprintf(stdout, "%d files in %s are not this run's results (left by an earlier "+
			"run?), kept as they are: %s\n", n, cfg.Out, list(res.Stale))
	}
	if err != nil || res.Report == nil {
		return err
	}
	if cfg.Table {
		if err := res.Report.WriteTable(stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "the alarms alone, no threshold tuned: %s\n", res.Alarms.Summary())
	if _, err := fmt.Fprintln(stdout, res.Report.Summary()); err != nil {
		return err
	}
	// After the scores: the run's result is printed whatever happens here.
	if cfg.SaveThresholds != "" {
		if err := saveThresholds(cfg.SaveThresholds, res.Report.Thresholds()); err != nil {
			return fmt.Errorf("evaluate: the scores above stand, but the thresholds were not saved: %w", err)
		}
	}
	return nil
}

// saveThresholds saves the tuned thresholds; a test makes it fail.
var saveThresholds = nab.SaveThresholds

// list joins names for one line, the first ten and a count of the rest.
func list(names []string) string {
	const most = 10
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
}
