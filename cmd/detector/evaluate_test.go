package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestEvaluateCommand(t *testing.T) {
	const nab = "../../../shared/datasets/nab"
	data := t.TempDir()
	name := "realKnownCause/ec2_request_latency_system_failure.csv"
	src, err := filepath.Abs(filepath.Join(nab, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(data, "realKnownCause"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(data, name)); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	th := filepath.Join(t.TempDir(), "thresholds.json")
	var stdout, stderr bytes.Buffer
	err = Run(context.Background(), []string{"evaluate", "--data", data, "--out", out,
		"--labels", filepath.Join(nab, "combined_windows_dev.json"),
		"--save_thresholds", th},
		&stdout, &stderr, func(string) string { return "" })
	if err != nil {
		t.Fatalf("evaluate: %v\n%s", err, stderr.String())
	}
	line := regexp.MustCompile(`(?m)^standard=\d+\.\d\d reward_low_FP=-?\d+\.\d\d ` +
		`reward_low_FN=\d+\.\d\d$`)
	if !line.Match(stdout.Bytes()) {
		t.Errorf("output lacks the score line:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(out, name)); err != nil {
		t.Errorf("result file: %v", err)
	}
	if _, err := os.Stat(th); err != nil {
		t.Fatalf("thresholds file: %v", err)
	}
	// The saved thresholds applied unchanged to the same data give the
	// same scores: the tuned ones are what was saved.
	var again bytes.Buffer
	err = Run(context.Background(), []string{"evaluate", "--data", data, "--out",
		t.TempDir(), "--labels", filepath.Join(nab, "combined_windows_dev.json"),
		"--thresholds", th}, &again, &stderr, func(string) string { return "" })
	if err != nil {
		t.Fatalf("evaluate --thresholds: %v\n%s", err, stderr.String())
	}
	if a, b := line.Find(stdout.Bytes()), line.Find(again.Bytes()); !bytes.Equal(a, b) {
		t.Errorf("tuned %q, with the saved thresholds %q", a, b)
	}
}
