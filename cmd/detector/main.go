// Command detector reads time-series events from Kafka, scores every point
// with a normalizing-flow model, stores improbable points in PostgreSQL and
// raises alerts. Run "detector --help" for its sub-commands and settings.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowguard/flowguard/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	switch {
	case err == nil, errors.Is(err, config.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "detector:", err)
		os.Exit(1)
	}
}

const usage = `Usage: detector [command] [flags]

Commands:
  run       consume, score and store anomalies (the default)
  demo      the whole system in one process on a replay of CSV files or a generated series
  migrate   apply the database schema and exit (migrate down|reset|status: see --help)
  evaluate  replay labelled series (NAB layout) through the detector and score it
  forecast  sample futures of a CSV series as JSON quantiles (forecast backtest: evaluate)

Run "detector <command> --help" for the settings of a command.
`

// Run executes the sub-command named by args[0] (default "run").
func Run(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, usage+"\n")
	}
	switch cmd {
	case "demo", "migrate", "evaluate", "forecast":
		// "detector run" logs this with the logger its settings choose.
		config.WarnUnknownEnv(slog.New(slog.NewTextHandler(stderr, nil)), environ())
	}
	switch cmd {
	case "run":
		return runDetector(ctx, args, stdout, stderr, getenv)
	case "demo":
		return runDemo(ctx, args, stdout, stderr, getenv)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr, getenv)
	case "evaluate":
		return runEvaluate(ctx, args, stdout, stderr, getenv)
	case "forecast":
		return runForecast(ctx, args, stdout, stderr, getenv)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// environ lists the process's environment; tests replace it.
var environ = os.Environ
