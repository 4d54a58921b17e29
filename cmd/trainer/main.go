// Command trainer trains, validates and publishes the flow models the
// detector scores with. Run "trainer --help" for its sub-commands and
// settings.
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
		fmt.Fprintln(os.Stderr, "trainer:", err)
		os.Exit(1)
	}
}

const usage = `Usage: trainer <command> [flags]

Commands:
  run       claim retrain jobs, replay their data from Kafka, train, store and
            promote models (long-running; stops cleanly on SIGINT or SIGTERM)
  train     train one model from NAB-format CSV files, or from a range of the
            samples topic (--kafka.brokers, --from, --to, --series):
            --csv FILE [--csv FILE...] [--out model.fgm] [--group NAME --publish]
  models    list every model version in the registry with its state and metrics
  promote   make a version the champion of its group: promote GROUP VERSION
  rollback  reject the champion and restore the previous one: rollback GROUP [REASON]

Run "trainer <command> --help" for the settings of a command.
`

// Run executes the sub-command named by args[0].
func Run(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" ||
		args[0] == "-help" {
		fmt.Fprint(stdout, usage)
		if len(args) > 0 {
			fmt.Fprintln(stdout)
			_, err := config.Load("trainer <command>", config.DefaultTrainer(),
				[]string{"--help"}, getenv, stdout)
			return err
		}
		return nil
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "train", "models", "promote", "rollback":
		// "trainer run" logs this with the logger its settings choose.
		config.WarnUnknownEnv(slog.New(slog.NewTextHandler(stderr, nil)), environ())
	}
	switch cmd {
	case "run":
		return runWorker(ctx, args, stdout, stderr, getenv)
	case "train":
		return runTrain(ctx, args, stdout, getenv)
	case "models":
		return runModels(ctx, args, stdout, getenv)
	case "promote":
		return runPromote(ctx, args, stdout, getenv)
	case "rollback":
		return runRollback(ctx, args, stdout, getenv)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// environ lists the process's environment; tests replace it.
var environ = os.Environ
