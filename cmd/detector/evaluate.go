package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	case cfg.Parallel < 0:
		return fmt.Errorf("evaluate: --parallel %d: want 0 (one per core) or more",
			cfg.Parallel)
	}
	if cfg.SaveThresholds != "" {
		// Found out before the replay, not after it.
		if err := writable(cfg.SaveThresholds); err != nil {
			return fmt.Errorf("evaluate: --save_thresholds: %w", err)
		}
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
			strings.Join(res.Unlabelled, ", "))
	}
	if err != nil || res.Report == nil {
		return err
	}
	if cfg.Table {
		if err := res.Report.WriteTable(stdout); err != nil {
			return err
		}
	}
	if cfg.SaveThresholds != "" {
		if err := nab.SaveThresholds(cfg.SaveThresholds, res.Report.Thresholds()); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "the alarms alone, no threshold tuned: %s\n", res.Alarms.Summary())
	_, err = fmt.Fprintln(stdout, res.Report.Summary())
	return err
}

// writable checks that path can be created as a file: its folder exists
// and it is not a folder itself.
func writable(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a folder", path)
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", filepath.Dir(path))
	}
	return nil
}
