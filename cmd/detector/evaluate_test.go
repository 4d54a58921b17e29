package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/flowguard/flowguard/nab"
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
	// A file the labels do not name is replayed and listed; 100 rows are
	// too few for a model, which keeps it quick.
	full, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(full), "\n")
	if err := os.MkdirAll(filepath.Join(data, "mine"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "mine", "short.csv"),
		[]byte(strings.Join(lines[:101], "")), 0o644); err != nil {
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
	if !strings.Contains(stdout.String(), "the alarms alone, no threshold tuned: standard=") {
		t.Errorf("output lacks the alarms' score line:\n%s", stdout.String())
	}
	for _, w := range []string{"1 files not in the labels, written but not scored: " +
		"mine/short.csv", "mine/short.csv: not scored, no model",
		"17 labelled files not in the data, their windows not scored: " +
			"artificialNoAnomaly/art_daily_no_noise.csv, ", " and 7 more\n"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, stdout.String())
		}
	}
	if _, err := os.Stat(filepath.Join(out, name)); err != nil {
		t.Errorf("result file: %v", err)
	}
	if _, err := os.Stat(th); err != nil {
		t.Fatalf("thresholds file: %v", err)
	}
	// The saved thresholds applied unchanged to the same data give the
	// same scores: the tuned ones are what was saved.
	// Into the same out, which also holds a result this run does not
	// write: it is listed and kept.
	old := filepath.Join(out, "gone", "x.csv")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	err = Run(context.Background(), []string{"evaluate", "--data", data, "--out",
		out, "--labels", filepath.Join(nab, "combined_windows_dev.json"),
		"--thresholds", th}, &again, &stderr, func(string) string { return "" })
	if err != nil {
		t.Fatalf("evaluate --thresholds: %v\n%s", err, stderr.String())
	}
	if w := fmt.Sprintf("1 files in %s are not this run's results (left by an earlier "+
		"run?), kept as they are: gone/x.csv\n", out); !strings.Contains(again.String(), w) {
		t.Errorf("output lacks %q:\n%s", w, again.String())
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("the old result: %v", err)
	}
	if a, b := line.Find(stdout.Bytes()), line.Find(again.Bytes()); !bytes.Equal(a, b) {
		t.Errorf("tuned %q, with the saved thresholds %q", a, b)
	}
}

// TestEvaluateChecksFirst: mistakes in paths and input files are reported
// before any replay, naming what is wrong, and nothing is written; a
// folder whose labelled files hold no anomaly window is an error, not a
// NaN score; files the labels do not name are listed.
func TestEvaluateChecksFirst(t *testing.T) {
	const nabData = "../../../shared/datasets/nab"
	labels, err := filepath.Abs(filepath.Join(nabData, "combined_windows_dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, text string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,2\n"
	data := t.TempDir()
	write(filepath.Join(data, "c", "f.csv"), good)
	write(filepath.Join(data, "c", ".f.csv"), "not read")
	var many strings.Builder
	many.WriteString("timestamp,value\n")
	for i := range 40 {
		fmt.Fprintf(&many, "2014-04-01 %02d:%02d:00,NaN\n", i/12, i%12*5)
	}
	badData := t.TempDir()
	write(filepath.Join(badData, "c", "f.csv"), good)
	write(filepath.Join(badData, "c", "nan.csv"), many.String())
	write(filepath.Join(badData, "d", "g.csv"), good+"2014-04-01 00:10:00,x\n")
	flat := t.TempDir()
	write(filepath.Join(flat, "f.csv"), good)
	corrupt := write(filepath.Join(t.TempDir(), "th.json"), `{"standard": 0.4`)
	out := t.TempDir()
	offGrid := write(filepath.Join(t.TempDir(), "l.json"),
		`{"c/f.csv": [["2014-04-01 00:01:00", "2014-04-01 00:02:00"]]}`)
	dotted := write(filepath.Join(t.TempDir(), "l.json"),
		`{"./c/f.csv": [["2014-04-01 00:00:00", "2014-04-01 00:05:00"]]}`)
	noWindow := write(filepath.Join(t.TempDir(), "l.json"), `{"c/f.csv": []}`)
	above := t.TempDir()
	empty := write(filepath.Join(t.TempDir(), "l.json"), `{}`)
	twice := write(filepath.Join(t.TempDir(), "l.json"), `{"c/f.csv": [], "c/f.csv": []}`)
	// A data file that is a link to a file in the out folder.
	victim := write(filepath.Join(t.TempDir(), "c", "f.csv"), good)
	linked := t.TempDir()
	if err := os.MkdirAll(filepath.Join(linked, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(linked, "c", "f.csv")); err != nil {
		t.Fatal(err)
	}
	// Out folders holding links to the data: to its category folder, and
	// to one data file.
	linkOut := func(target, name string) string {
		dir := t.TempDir()
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, dst); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	outCatLink := linkOut(filepath.Join(data, "c"), "c")
	outFileLink := linkOut(filepath.Join(data, "c", "f.csv"), filepath.Join("c", "f.csv"))
	outHardLink := t.TempDir()
	if err := os.MkdirAll(filepath.Join(outHardLink, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(data, "c", "f.csv"),
		filepath.Join(outHardLink, "c", "f.csv")); err != nil {
		t.Fatal(err)
	}
	// A named pipe would be read forever.
	piped := t.TempDir()
	write(filepath.Join(piped, "c", "f.csv"), good)
	if err := syscall.Mkfifo(filepath.Join(piped, "c", "p.csv"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"out is data", []string{"--data", data, "--out", data}, []string{"overlap"}},
		{"out in data", []string{"--data", data, "--out", filepath.Join(data, "res")},
			[]string{"overlap"}},
		{"data is a file", []string{"--data", labels, "--out", out}, []string{"not a folder"}},
		{"flat data", []string{"--data", flat, "--out", out},
			[]string{"not in category folders"}},
		{"thresholds without labels", []string{"--data", data, "--out", out,
			"--thresholds", corrupt}, []string{"--thresholds needs --labels"}},
		{"save without labels", []string{"--data", data, "--out", out,
			"--save_thresholds", filepath.Join(out, "th.json")},
			[]string{"--save_thresholds needs --labels"}},
		{"negative parallel", []string{"--data", data, "--out", out, "--parallel", "-1"},
			[]string{"--parallel -1"}},
		{"missing labels", []string{"--data", data, "--out", out, "--labels",
			filepath.Join(out, "none.json")}, []string{"open labels"}},
		{"corrupt thresholds", []string{"--data", data, "--out", out, "--labels", labels,
			"--thresholds", corrupt}, []string{"decode thresholds"}},
		{"save into no folder", []string{"--data", data, "--out", out, "--labels", labels,
			"--save_thresholds", filepath.Join(out, "no", "th.json")},
			[]string{"saved thresholds", "does not exist"}},
		{"save as a category folder of out", []string{"--data", data, "--out", out,
			"--labels", labels, "--save_thresholds", filepath.Join(out, "c")},
			[]string{"where the results of category c go"}},
		{"save in a category folder of out", []string{"--data", data, "--out", out,
			"--labels", labels, "--save_thresholds", filepath.Join(out, "c", "th.json")},
			[]string{"where the results of category c go"}},
		{"save as a folder", []string{"--data", data, "--out", out, "--labels", labels,
			"--save_thresholds", t.TempDir()}, []string{"is a folder"}},
		{"save above the out folder", []string{"--data", data, "--out",
			filepath.Join(above, "x", "out"), "--labels", labels, "--save_thresholds",
			filepath.Join(above, "x")}, []string{"out folder"}},
		{"table without labels", []string{"--data", data, "--out", out, "--table"},
			[]string{"--table needs --labels"}},
		{"empty labels", []string{"--data", data, "--out", out, "--labels", empty},
			[]string{empty, "name no file"}},
		{"a file twice in the labels", []string{"--data", data, "--out", out, "--labels",
			twice}, []string{`"c/f.csv" twice`}},
		{"out is a file", []string{"--data", data, "--out", empty},
			[]string{empty, "not a folder"}},
		{"bad rows", []string{"--data", badData, "--out", out},
			[]string{"c/nan.csv", "and 35 more", "d/g.csv", "line 4"}},
		{"window off the rows", []string{"--data", data, "--out", out, "--labels", offGrid},
			[]string{"c/f.csv", "do not match row timestamps"}},
		{"labels name no data file", []string{"--data", data, "--out", out, "--labels",
			dotted}, []string{"no data file is in the labels", `"./c/f.csv"`, `"c/f.csv"`}},
		{"no window", []string{"--data", data, "--out", out, "--labels", noWindow},
			[]string{"no anomaly window"}},
		{"data file linked into out", []string{"--data", linked, "--out",
			filepath.Dir(filepath.Dir(victim))}, []string{"c/f.csv", "onto the data file"}},
		{"named pipe", []string{"--data", piped, "--out", out}, []string{"c/p.csv", "not a file"}},
		{"out links to a data folder", []string{"--data", data, "--out", outCatLink},
			[]string{"c/f.csv", "onto the data file"}},
		{"out links to a data file", []string{"--data", data, "--out", outFileLink},
			[]string{"c/f.csv", "onto the data file"}},
		{"out holds a hard link to a data file", []string{"--data", data, "--out",
			outHardLink}, []string{"the result of c/f.csv would be written over data file c/f.csv"}},
		{"save over a data file", []string{"--data", data, "--out", out, "--labels", labels,
			"--save_thresholds", filepath.Join(data, "c", "f.csv")},
			[]string{"saved thresholds would be written over data file c/f.csv"}},
		{"save over the labels", []string{"--data", data, "--out", out, "--labels", labels,
			"--save_thresholds", labels}, []string{"saved thresholds would be written over the labels"}},
	} {
		var stdout bytes.Buffer
		err := Run(context.Background(), append([]string{"evaluate"}, tc.args...), &stdout,
			&bytes.Buffer{}, func(string) string { return "" })
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
		if n := strings.Count(err.Error(), "\n"); n > 12 {
			t.Errorf("%s: error of %d lines", tc.name, n+1)
		}
		if ents, _ := os.ReadDir(out); len(ents) > 0 {
			t.Fatalf("%s: wrote %d entries into out before failing", tc.name, len(ents))
		}
		if ents, _ := os.ReadDir(filepath.Join(data, "c")); len(ents) != 2 {
			t.Fatalf("%s: the data folder holds %d files, want its two", tc.name, len(ents))
		}
	}

	if b, err := os.ReadFile(victim); err != nil || string(b) != good {
		t.Errorf("the linked data file now holds %q (%v)", b, err)
	}
}

// TestEvaluateRelativePathsProtectInput: the checks that keep results and
// saved thresholds off the input hold when --data is a relative path.
func TestEvaluateRelativePathsProtectInput(t *testing.T) {
	labels, err := filepath.Abs("../../../shared/datasets/nab/combined_windows_dev.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,2\n"
	if err := os.MkdirAll(filepath.Join(dir, "data", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "c", "f.csv"), []byte(good),
		0o644); err != nil {
		t.Fatal(err)
	}
	// out/c is a link to the data's category folder.
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "data", "c"), filepath.Join(dir, "out", "c")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "data", "--out", "out"}, "onto the data file"},
		{[]string{"--data", "data", "--out", "res", "--labels", labels, "--save_thresholds",
			"data/c/f.csv"}, "saved thresholds would be written over data file c/f.csv"},
	} {
		err := Run(context.Background(), append([]string{"evaluate"}, tc.args...), io.Discard,
			io.Discard, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "data", "c", "f.csv")); err != nil ||
		string(b) != good {
		t.Errorf("the data file now holds %q (%v)", b, err)
	}
}

// TestEvaluateSaveFailsAfterScores: when saving the thresholds still fails
// once the run is done, the scores are printed first, then the error.
func TestEvaluateSaveFailsAfterScores(t *testing.T) {
	var in strings.Builder
	in.WriteString("timestamp,value\n")
	for i := range 40 {
		fmt.Fprintf(&in, "2014-04-01 %02d:%02d:00,%d\n", i/12, i%12*5, i%7)
	}
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "c", "f.csv"), []byte(in.String()),
		0o644); err != nil {
		t.Fatal(err)
	}
	labels := filepath.Join(t.TempDir(), "l.json")
	if err := os.WriteFile(labels, []byte(`{"c/f.csv": [["2014-04-01 02:00:00", `+
		`"2014-04-01 02:10:00"]]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := saveThresholds
	defer func() { saveThresholds = saved }()
	saveThresholds = func(string, nab.Thresholds) error { return errors.New("disk full") }
	var stdout bytes.Buffer
	err := Run(context.Background(), []string{"evaluate", "--data", data, "--out",
		t.TempDir(), "--labels", labels, "--save_thresholds",
		filepath.Join(t.TempDir(), "th.json")}, &stdout, io.Discard,
		func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err %v, want the save's", err)
	}
	// Nothing is found in a file without a model: the null detector's 0.
	if !strings.HasSuffix(stdout.String(),
		"standard=0.00 reward_low_FP=0.00 reward_low_FN=0.00\n") {
		t.Errorf("output does not end with the scores:\n%s", stdout.String())
	}
}
