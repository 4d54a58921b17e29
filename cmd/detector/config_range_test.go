package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/internal/config"
)

// deadDB is a database address nothing listens on: a command that got as
// far as connecting fails on it with an error of its own.
const deadDB = "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"

// binaryEnv is the test's environment without FLOWGUARD_ variables, plus
// extra ones.
func binaryEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestOutOfRangeExits runs the real binary: a setting out of its range,
// from a flag, a variable or a file, ends it at start with a non-zero
// status and a message naming the setting's source and its range.
func TestOutOfRangeExits(t *testing.T) {
	bin := detectorBinary(t)
	file := filepath.Join(t.TempDir(), "flowguard.yaml")
	if err := os.WriteFile(file, []byte("scoring:\n  window: 16\n  live_calibration: -5\n"),
		0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"flag", []string{"run", "--drift.alpha", "5"}, nil,
			"detector: config: flag --drift.alpha: 5 is out of range: " +
				"want more than 0 and less than 1\n"},
		{"zero window", []string{"--drift.window", "0"}, nil,
			"detector: config: flag --drift.window: 0 is out of range: want 1 or more\n"},
		{"env", []string{"run"}, []string{"FLOWGUARD_ALERTS_CRITICAL_P_VALUE=2"},
			"detector: config: environment FLOWGUARD_ALERTS_CRITICAL_P_VALUE: 2 is out of " +
				"range: want more than 0 and at most 1\n"},
		{"file", []string{"run"}, []string{"FLOWGUARD_CONFIG=" + file},
			"detector: config: " + file + `:3: field "scoring.live_calibration": -5 is out ` +
				"of range: want 0 or more\n"},
		{"migrate", []string{"migrate", "status", "--scoring.batch_size", "0"}, nil,
			"detector: config: flag --scoring.batch_size: 0 is out of range: want 1 or more\n"},
		{"across fields", []string{"run", "--alerts.backoff_max", "10ms"}, nil,
			"detector: config: flag --alerts.backoff_max: 10ms is out of range: want at " +
				"least alerts.backoff_base (1s)\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = binaryEnv(append(tc.env, "FLOWGUARD_DATABASE_URL="+deadDB)...)
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
				t.Fatalf("exit status not 1 (err %v), output %s", err, out)
			}
			if string(out) != tc.want {
				t.Fatalf("output\n%q\nwant\n%q", out, tc.want)
			}
		})
	}
}

// TestUnknownEnvWarnedByBinary: a misspelt FLOWGUARD_ variable is named in
// one warning on stderr; the trainer's variables and those of the
// detector's other commands are not.
func TestUnknownEnvWarnedByBinary(t *testing.T) {
	bin := detectorBinary(t)
	cmd := exec.Command(bin, "migrate", "sideways")
	cmd.Env = binaryEnv("FLOWGUARD_DATABASE_URL="+deadDB, "FLOWGUARD_KAFKA_BROKER=a:9092",
		"FLOWGUARD_TRAINING_HOLDOUT=0.3", "FLOWGUARD_HORIZON=24", "FLOWGUARD_DRIFT_APLHA=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit status not 1 (err %v), stderr %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	want := []string{
		`level=WARN msg="ignoring environment variables that name no setting of the ` +
			`detector or the trainer" variables=FLOWGUARD_DRIFT_APLHA,FLOWGUARD_KAFKA_BROKER`,
		`detector: migrate: unknown action "sideways" (want up, down, reset or status)`,
	}
	if len(lines) != 2 || !strings.HasSuffix(lines[0], want[0]) || lines[1] != want[1] {
		t.Fatalf("stderr\n%s\nwant lines ending\n%s", stderr.String(), strings.Join(want, "\n"))
	}
}

// TestRunWarnsAndChecksGroupsFirst: detector run warns about unknown
// variables through its own logger, and refuses a malformed group before
// it connects to anything.
func TestRunWarnsAndChecksGroupsFirst(t *testing.T) {
	environ = func() []string { return []string{"FLOWGUARD_SCORING_WINDOWS=8"} }
	defer func() { environ = func() []string { return nil } }()
	var stdout, stderr strings.Builder
	err := Run(context.Background(), []string{"run", "--log.format", "json",
		"--database.url", deadDB, "--scoring.groups", "cpu"}, &stdout, &stderr,
		func(string) string { return "" })
	if err == nil || err.Error() != `pipeline: group "cpu": want name=regexp` {
		t.Fatalf("err %v", err)
	}
	want := `"level":"WARN","msg":"ignoring environment variables that name no setting of ` +
		`the detector or the trainer","variables":"FLOWGUARD_SCORING_WINDOWS"}` + "\n"
	if got := stderr.String(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
		t.Fatalf("stderr %q, want one line ending %q", got, want)
	}
}

// TestToolSettingsAreKnownEnv keeps config's list of the demo, evaluate
// and forecast settings complete, so that neither command warns about
// their variables.
func TestToolSettingsAreKnownEnv(t *testing.T) {
	var environ []string
	for _, cfg := range []any{defaultDemo(), &evaluateSettings{}, &forecastSettings{}} {
		for _, row := range config.Table(cfg) {
			// | `key` | `FLOWGUARD_KEY` | default | meaning |
			cols := strings.Split(row, "|")
			environ = append(environ, strings.Trim(cols[2], " `")+"=1")
		}
	}
	if len(environ) < 30 {
		t.Fatalf("only %d settings found: %v", len(environ), environ)
	}
	if unknown := config.UnknownEnv(environ); len(unknown) > 0 {
		t.Errorf("config.UnknownEnv does not know %v: add their keys to its toolKeys", unknown)
	}
}
