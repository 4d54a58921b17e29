package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

type testGroup struct {
	Name  string  `yaml:"name"`
	Alpha float64 `yaml:"alpha"`
}

type testCfg struct {
	Kafka struct {
		Brokers []string `yaml:"brokers" help:"broker addresses"`
		Batch   int      `yaml:"batch" help:"batch size"`
	} `yaml:"kafka"`
	Alpha   float64         `yaml:"alpha" help:"false alarm rate"`
	Timeout time.Duration   `yaml:"timeout" help:"timeout"`
	Migrate bool            `yaml:"migrate" help:"apply migrations"`
	Groups  []testGroup     `yaml:"groups" help:"model groups"`
	Lags    []time.Duration `yaml:"lags" help:"seasonal lags"`
}

func defaults() *testCfg {
	c := &testCfg{Alpha: 0.001, Timeout: 5 * time.Second, Migrate: true}
	c.Kafka.Batch = 64
	return c
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flowguard.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "kafka:\n  brokers: [a:9092, b:9092]\n  batch: 10\nalpha: 0.01\n"+
		"groups:\n  - name: cpu\n    alpha: 0.002\n")
	env := map[string]string{"FLOWGUARD_KAFKA_BATCH": "20", "FLOWGUARD_TIMEOUT": "1m"}
	c := defaults()
	rest, err := Load("x", c, []string{"--config", file, "--timeout", "2s", "extra"},
		func(k string) string { return env[k] }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rest, []string{"extra"}) {
		t.Errorf("rest = %v", rest)
	}
	if !reflect.DeepEqual(c.Kafka.Brokers, []string{"a:9092", "b:9092"}) {
		t.Errorf("brokers from file = %v", c.Kafka.Brokers)
	}
	if c.Kafka.Batch != 20 {
		t.Errorf("batch = %d, want 20 (env beats file)", c.Kafka.Batch)
	}
	if c.Timeout != 2*time.Second {
		t.Errorf("timeout = %v, want 2s (flag beats env)", c.Timeout)
	}
	if c.Alpha != 0.01 {
		t.Errorf("alpha = %v, want 0.01 from file", c.Alpha)
	}
	if !c.Migrate {
		t.Error("migrate lost its default")
	}
	if len(c.Groups) != 1 || c.Groups[0] != (testGroup{"cpu", 0.002}) {
		t.Errorf("groups = %+v", c.Groups)
	}
}

func TestFileErrorsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, body, line, field string
	}{
		{"typo", "kafka:\n  brokrs: [a]\n", ":2:", `"kafka.brokrs"`},
		{"wrong type", "alpha: 0.1\nkafka:\n  batch: lots\n", ":3:", `"kafka.batch"`},
		{"bad duration", "timeout: 5\n", ":1:", `"timeout"`},
		{"scalar for struct", "kafka: 3\n", ":1:", `"kafka"`},
		{"typo in list item", "groups:\n  - name: a\n    alpah: 1\n", ":3:", `"groups[0].alpah"`},
		{"bad bool", "migrate: sometimes\n", ":1:", `"migrate"`},
		{"syntax", "kafka:\n  batch: [1,\n", ":", ""},
		{"duplicate key", "alpha: 0.1\nkafka:\n  batch: 1\nalpha: 0.2\n", ":4:", `"alpha"`},
		{"flat dotted key", "kafka.batch: 3\n", ":1:", `"kafka.batch"`},
		{"second document", "alpha: 0.1\n---\nkafka:\n  batch: 3\n", ":2:", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, tc.body)
			_, err := Load("x", defaults(), []string{"--config", file}, noEnv, &strings.Builder{})
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FileError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, file+tc.line) || !strings.Contains(msg, tc.field) {
				t.Fatalf("error %q does not name %s%s and %s", msg, file, tc.line, tc.field)
			}
		})
	}
}

func TestBadFlagAndEnv(t *testing.T) {
	_, err := Load("x", defaults(), []string{"--alpha", "high"}, noEnv, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "--alpha") {
		t.Fatalf("bad flag: %v", err)
	}
	env := func(k string) string {
		if k == "FLOWGUARD_KAFKA_BATCH" {
			return "x"
		}
		return ""
	}
	_, err = Load("x", defaults(), nil, env, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "FLOWGUARD_KAFKA_BATCH") {
		t.Fatalf("bad env: %v", err)
	}
	_, err = Load("x", defaults(), []string{"--config", "/nonexistent.yaml"}, noEnv,
		&strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out strings.Builder
	_, err := Load("x", defaults(), []string{"--help"}, noEnv, &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
	for _, want := range []string{"--kafka.brokers", "FLOWGUARD_KAFKA_BATCH", "64",
		"--alpha", "0.001", "--timeout", "5s", "--migrate", "true", "--config"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBoolFlagAloneAndRepeatedLists(t *testing.T) {
	c := defaults()
	c.Migrate = false
	_, err := Load("x", c, []string{"--migrate", "--kafka.brokers", "a:1",
		"--kafka.brokers", "b:2,c:3"}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Migrate {
		t.Error("--migrate alone did not set true")
	}
	if !reflect.DeepEqual(c.Kafka.Brokers, []string{"a:1", "b:2", "c:3"}) {
		t.Errorf("repeated list flag = %v", c.Kafka.Brokers)
	}
	c = defaults()
	if _, err := Load("x", c, []string{"--migrate=false"}, noEnv, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if c.Migrate {
		t.Error("--migrate=false left it true")
	}
}

func TestFlagsAfterPositionalArguments(t *testing.T) {
	c := defaults()
	rest, err := Load("x", c, []string{"down", "--alpha", "0.5", "more", "--migrate=false"},
		noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rest, []string{"down", "more"}) {
		t.Errorf("positional = %v", rest)
	}
	if c.Alpha != 0.5 || c.Migrate {
		t.Errorf("flags after arguments ignored: alpha %v migrate %v", c.Alpha, c.Migrate)
	}
}

func TestLoadNoArgsRejectsStrayWords(t *testing.T) {
	err := LoadNoArgs("x run", defaults(), []string{"--alpha", "0.1", "extra"}, noEnv,
		&strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Fatalf("err = %v", err)
	}
	if err := LoadNoArgs("x run", defaults(), []string{"--alpha", "0.1"}, noEnv,
		&strings.Builder{}); err != nil {
		t.Fatal(err)
	}
}

// TestDurationLists sets a list of durations from a flag (repeated and
// comma-separated), the environment, and a file as a list or one string,
// and checks that a bad element is an error naming it.
func TestDurationLists(t *testing.T) {
	want := []time.Duration{24 * time.Hour, 168 * time.Hour}
	day := func(k string) string {
		if k == "FLOWGUARD_LAGS" {
			return "24h, 168h"
		}
		return ""
	}
	for name, load := range map[string]func(c *testCfg) error{
		"flag": func(c *testCfg) error {
			_, err := Load("x", c, []string{"--lags", "24h", "--lags", "168h"}, noEnv,
				&strings.Builder{})
			return err
		},
		"env": func(c *testCfg) error {
			_, err := Load("x", c, nil, day, &strings.Builder{})
			return err
		},
		"file list": func(c *testCfg) error {
			_, err := Load("x", c, []string{"--config", writeFile(t, "lags: [24h, 1w]\n")},
				noEnv, &strings.Builder{})
			return err
		},
		"file string": func(c *testCfg) error {
			_, err := Load("x", c, []string{"--config", writeFile(t, "lags: 24h,168h\n")},
				noEnv, &strings.Builder{})
			return err
		},
	} {
		c := defaults()
		err := load(c)
		if name == "file list" {
			// Go durations have no week unit.
			if err == nil || !strings.Contains(err.Error(), `:1: field "lags[1]"`) {
				t.Errorf("%s: error %v, want one naming lags[1] on line 1", name, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(c.Lags, want) {
			t.Errorf("%s: lags %v, err %v; want %v", name, c.Lags, err, want)
		}
	}
	_, err := Load("x", defaults(), []string{"--lags", "1d"}, noEnv, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "--lags") {
		t.Errorf("bad lag flag: %v", err)
	}
	c := defaults()
	c.Lags = want
	if got := Table(c); !slices.Contains(got,
		"| `lags` | `FLOWGUARD_LAGS` | `24h0m0s,168h0m0s` | seasonal lags |") {
		t.Errorf("table rows %q lack the lags' default", got)
	}
}

// TestOneFileForBothCommands: a file may hold the detector's and the
// trainer's settings; each command takes its own and leaves the other's,
// and a key neither knows is still an error.
func TestOneFileForBothCommands(t *testing.T) {
	file := writeFile(t, "database:\n  url: postgres://db/x\nscoring:\n  alpha: 0.01\n"+
		"training:\n  holdout: 0.3\n")
	det := DefaultDetector()
	if _, err := Load("detector", det, []string{"--config", file}, noEnv,
		&strings.Builder{}); err != nil {
		t.Fatalf("detector: %v", err)
	}
	tr := DefaultTrainer()
	if _, err := Load("trainer", tr, []string{"--config", file}, noEnv,
		&strings.Builder{}); err != nil {
		t.Fatalf("trainer: %v", err)
	}
	if det.Scoring.Alpha != 0.01 || tr.Training.Holdout != 0.3 ||
		det.Database.URL != "postgres://db/x" || tr.Database.URL != "postgres://db/x" {
		t.Fatalf("detector alpha %v url %q, trainer holdout %v url %q", det.Scoring.Alpha,
			det.Database.URL, tr.Training.Holdout, tr.Database.URL)
	}
	// A flat dotted key is an error even when it names a real setting:
	// in a file, keys nest.
	flat := writeFile(t, "kafka.embedded_addr: 127.0.0.1:1\n")
	_, err := Load("detector", DefaultDetector(), []string{"--config", flat}, noEnv,
		&strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "in a file a dotted key is nested") {
		t.Fatalf("a flat dotted key of a real setting: %v", err)
	}
	// The other command's sections are checked too, by either command.
	for _, c := range []struct{ body, want string }{
		{"training:\n  holdoutt: 0.3\n", `:2: field "training.holdoutt": unknown field`},
		{"training:\n  holdout: 0.95\n", `:2: field "training.holdout": 0.95 is out of range`},
	} {
		f := writeFile(t, c.body)
		_, err := Load("detector", DefaultDetector(), []string{"--config", f}, noEnv,
			&strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("detector with %q: %v, want %q", c.body, err, c.want)
		}
	}
	f := writeFile(t, "drift:\n  alpha: 5\n")
	if _, err := Load("trainer", DefaultTrainer(), []string{"--config", f}, noEnv,
		&strings.Builder{}); err == nil || !strings.Contains(err.Error(), `"drift.alpha"`) {
		t.Errorf("trainer with the detector's drift.alpha 5: %v", err)
	}
	typo := writeFile(t, "trainng:\n  holdout: 0.3\n")
	_, err = Load("detector", DefaultDetector(), []string{"--config", typo}, noEnv,
		&strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), `"trainng": unknown field`) {
		t.Fatalf("a key neither command knows: %v", err)
	}
}
