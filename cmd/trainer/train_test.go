package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
)

const (
	nabFile = "../../../shared/datasets/nab/realKnownCause/machine_temperature_system_failure.csv"
	// nabTaxi is sampled every 30 minutes, nabFile every 5.
	nabTaxi = "../../../shared/datasets/nab/realKnownCause/nyc_taxi.csv"
)

// nabHead writes the header and first n rows of the NAB machine
// temperature file to a temporary CSV, the size of a NAB probation period.
func nabHead(t *testing.T, n int) string {
	t.Helper()
	return csvHead(t, nabFile, "machine.csv", n)
}

// csvHead writes the header and first n rows of the CSV file src to a
// temporary file called name.
func csvHead(t *testing.T, src, name string, n int) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(lines[:n+1], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func dbEnv(db string) func(string) string {
	return func(k string) string {
		if k == "FLOWGUARD_DATABASE_URL" {
			return db
		}
		return ""
	}
}

func TestTrainPublishPromoteRollback(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	env := dbEnv(db)
	csv := nabHead(t, 800)
	out := filepath.Join(t.TempDir(), "model.fgm")

	run := func(args ...string) string {
		t.Helper()
		var b strings.Builder
		if err := Run(ctx, args, &b, &b, env); err != nil {
			t.Fatalf("trainer %s: %v\n%s", strings.Join(args, " "), err, b.String())
		}
		return b.String()
	}
	// Fewer epochs keep the test short; the defaults are the scorer's.
	got := run("train", "--csv", csv, "--out", out, "--group", "nab", "--publish",
		"--model.epochs", "40")
	if !strings.Contains(got, "published nab version 1 as champion") {
		t.Fatalf("first train printed:\n%s", got)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := scorer.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Meta().Data; m.Meta().Group != "nab" || d.Samples != 800 || d.Series != 1 {
		t.Fatalf("model file metadata %+v", m.Meta())
	}

	got = run("train", "--csv", csv, "--group", "nab", "--publish", "--model.seed", "2",
		"--model.epochs", "40", "--model.layer_type", "affine")
	if !strings.Contains(got, "published nab version 2 as candidate") {
		t.Fatalf("second train printed:\n%s", got)
	}
	run("promote", "nab", "2")
	s, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := s.Champion(ctx, "nab"); err != nil || c.Version != 2 {
		t.Fatalf("champion after promote: v%d, %v", c.Version, err)
	}
	got = run("rollback", "nab", "too many alerts")
	if !strings.Contains(got, "nab version 1 is champion again") {
		t.Fatalf("rollback printed %q", got)
	}
	// Nothing was champion before v1, and there is no v9.
	for _, args := range [][]string{{"rollback", "nab"}, {"promote", "nab", "9"},
		{"promote", "nab", "x"}, {"promote", "nab"}} {
		var b strings.Builder
		if err := Run(ctx, args, &b, &b, env); err == nil {
			t.Errorf("trainer %v succeeded: %s", args, b.String())
		}
	}
	if c, err := s.Champion(ctx, "nab"); err != nil || c.Version != 1 {
		t.Fatalf("champion after failed commands: v%d, %v", c.Version, err)
	}
	for group, want := range map[string]string{
		"nab":  "group nab has no earlier champion to roll back to",
		"none": "group none has no champion to roll back",
	} {
		err := Run(ctx, []string{"rollback", group}, io.Discard, io.Discard, env)
		if err == nil || !strings.Contains(err.Error(), want) ||
			strings.Contains(err.Error(), "no such model") {
			t.Errorf("rollback %s: %v, want %q", group, err, want)
		}
	}
	got = run("models")
	for _, want := range []string{"nab    2        rejected", "nab    1        champion",
		"rolled back: too many alerts", "2013-12-02T21:50..2013-12-05T15:50  800",
		fmt.Sprintf("%.4f", m.Meta().Report.CalibScore)} {
		if !strings.Contains(got, want) {
			t.Errorf("models output lacks %q:\n%s", want, got)
		}
	}
}

func TestTrainNeedsInputAndOutput(t *testing.T) {
	env := func(string) string { return "" }
	for _, args := range [][]string{
		{"train", "--out", "x.fgm"},
		{"train", "--csv", "x.csv"},
		{"promote", "--database.url", "postgres://nowhere.invalid/x", "g"},
	} {
		var b strings.Builder
		if err := Run(context.Background(), args, &b, &b, env); err == nil {
			t.Errorf("trainer %v succeeded", args)
		}
	}
}

// TestSettingsOutOfRange: zero or negative settings that the libraries
// would read as "the default" or round up are refused by name, and so is
// an --out that would overwrite an input.
func TestSettingsOutOfRange(t *testing.T) {
	env := func(string) string { return "" }
	csv := filepath.Join(t.TempDir(), "x.csv")
	if err := os.WriteFile(csv, []byte("timestamp,value\n2014-04-01 00:00:00,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "m.fgm")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--kafka.brokers", "127.0.0.1:1", "--poll", "0s"},
			"config: flag --poll: 0s is out of range: want more than 0s"},
		{[]string{"run", "--kafka.brokers", "127.0.0.1:1", "--poll", "-5s"},
			"--poll: -5s is out of range"},
		{[]string{"run", "--kafka.brokers", "127.0.0.1:1", "--requeue_after", "0s"},
			"--requeue_after: 0s is out of range: want more than 0s"},
		{[]string{"run", "--kafka.brokers", "127.0.0.1:1", "--training.max_flagged_share", "5"},
			"--training.max_flagged_share: 5 is out of range: want from 0 to 1"},
		{[]string{"train", "--csv", csv, "--out", out, "--model.hidden", "-1"},
			"--model.hidden: -1 is out of range: want 0 or more"},
		{[]string{"train", "--csv", csv, "--out", out, "--model.layers", "-2"},
			"--model.layers: -2 is out of range"},
		{[]string{"train", "--csv", csv, "--out", out, "--model.step", "-5m"},
			"--model.step: -5m0s is out of range: want 0s or more"},
		{[]string{"train", "--csv", csv, "--out", out, "--model.max_fill", "-2"},
			"--model.max_fill: -2 is out of range: want -1 or more"},
		// Stray words are refused before anything connects.
		{[]string{"models", "extra"},
			`trainer models: unexpected argument "extra" (settings are flags: --key value)`},
		{[]string{"run", "--kafka.brokers", "127.0.0.1:1", "extra"},
			`trainer run: unexpected argument "extra"`},
		{[]string{"train", "--csv", csv, "--out", out, "extra"},
			`trainer train: unexpected argument "extra"`},
		{[]string{"promote", "g", "1", "extra"}, "promote: want GROUP VERSION"},
		{[]string{"rollback", "g", "why", "extra"}, "rollback: want GROUP [REASON]"},
	} {
		var b strings.Builder
		// A database that does not exist: a command that got as far as
		// connecting would fail on it instead.
		err := Run(context.Background(), tc.args, &b, &b,
			dbEnv("postgres://postgres@127.0.0.1:1/x?connect_timeout=2"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("trainer %v: err %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a model was written")
	}

	// --out naming an input, directly or through a link, is refused and
	// the input left as it was.
	link := filepath.Join(t.TempDir(), "link.csv")
	if err := os.Symlink(csv, link); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{csv, link} {
		err := Run(context.Background(), []string{"train", "--csv", csv, "--out", o}, io.Discard,
			io.Discard, env)
		if err == nil || !strings.Contains(err.Error(), "would overwrite it") {
			t.Errorf("--out %s: err %v, want a refusal", o, err)
		}
	}
	if b, err := os.ReadFile(csv); err != nil || !strings.HasPrefix(string(b), "timestamp,value") {
		t.Errorf("the input now holds %.20q (%v)", b, err)
	}
}

// TestTrainChecksOutputsFirst gives train an --out in a missing directory
// and a --publish database that does not answer: both must fail before
// any training, which would print its "trained" line first.
func TestTrainChecksOutputsFirst(t *testing.T) {
	ctx := context.Background()
	csv := nabHead(t, 800)
	missing := filepath.Join(t.TempDir(), "no-such-dir", "model.fgm")
	// Port 1 on loopback refuses connections.
	deadDB := dbEnv("postgres://postgres@127.0.0.1:1/x?connect_timeout=2")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"out", []string{"--out", missing}, "is not writable"},
		{"publish", []string{"--publish"}, "--publish"},
	} {
		var b strings.Builder
		args := append([]string{"train", "--csv", csv, "--model.epochs", "40"}, tc.args...)
		err := Run(ctx, args, &b, &b, deadDB)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: train returned %v, want an error with %q", tc.name, err, tc.want)
		}
		if strings.Contains(b.String(), "trained") {
			t.Errorf("%s: train trained before failing:\n%s", tc.name, b.String())
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("the check created %s: %v", filepath.Dir(missing), err)
	}
}

// TestTrainSeriesOfDifferentSteps: a 5-minute and a 30-minute series in
// one run once trained on the grid of whichever came first, and the
// 30-minute one, with no window on a 5-minute grid, vanished in silence.
func TestTrainSeriesOfDifferentSteps(t *testing.T) {
	ctx := context.Background()
	machine, taxi := nabHead(t, 800), csvHead(t, nabTaxi, "taxi.csv", 800)
	out := filepath.Join(t.TempDir(), "model.fgm")
	env := func(string) string { return "" }
	train := func(extra ...string) (string, error) {
		var b strings.Builder
		args := append([]string{"train", "--out", out, "--model.epochs", "5"}, extra...)
		err := Run(ctx, args, &b, &b, env)
		return b.String(), err
	}

	mismatch := taxi + " has a 30m step, " + machine + " 5m: one model needs one step; " +
		"train them apart or set --model.step"
	for _, tc := range []struct{ name, csv, want string }{
		{"5m first", machine + "," + taxi, mismatch},
		{"30m first", taxi + "," + machine,
			machine + " has a 5m step, " + taxi + " 30m: one model needs one step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := train("--csv", tc.csv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("train returned %v, want an error with %q; printed:\n%s",
					err, tc.want, got)
			}
			if strings.Contains(got, "trained") {
				t.Fatalf("train trained before failing:\n%s", got)
			}
		})
	}

	// With the step given, the taxi series has no window on its grid: the
	// run goes on and says so.
	got, err := train("--csv", machine+","+taxi, "--model.step", "5m")
	if err != nil {
		t.Fatalf("train with --model.step: %v\n%s", err, got)
	}
	note := "note: 800 of 800 samples of " + taxi + " (30m apart) are in no window of " +
		"the 5m grid and were not trained on"
	if !strings.Contains(got, note) {
		t.Fatalf("train with --model.step printed:\n%s\nwant a line with %q", got, note)
	}
	if strings.Contains(got, "samples of "+machine) {
		t.Fatalf("train with --model.step reported the machine series:\n%s", got)
	}
}

// TestTrainSaysGlitchesWereLeftOut: a glitch far beyond the rest of the
// data is left out of the fit (scorer), and train says how many windows
// that cost instead of leaving it silent.
func TestTrainSaysGlitchesWereLeftOut(t *testing.T) {
	src := nabHead(t, 800)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	ts, _, _ := strings.Cut(lines[300], ",")
	lines[300] = ts + ",1e155\n"
	glitch := filepath.Join(t.TempDir(), "glitch.csv")
	if err := os.WriteFile(glitch, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = Run(context.Background(), []string{"train", "--csv", glitch, "--out",
		filepath.Join(t.TempDir(), "m.fgm"), "--model.epochs", "3"}, &out, &out,
		func(string) string { return "" })
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out.String())
	}
	var n int
	for _, l := range strings.Split(out.String(), "\n") {
		if _, err := fmt.Sscanf(l, "%d windows left out of the fit", &n); err == nil {
			break
		}
	}
	// The trainer's default window is 8 steps: 8 windows hold row 300.
	if n != 8 {
		t.Fatalf("train printed:\n%s\nwant a line saying the 8 windows holding the "+
			"glitch were left out", out.String())
	}
}
