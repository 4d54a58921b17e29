package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
	Alpha   float64       `yaml:"alpha" help:"false alarm rate"`
	Timeout time.Duration `yaml:"timeout" help:"timeout"`
	Migrate bool          `yaml:"migrate" help:"apply migrations"`
	Groups  []testGroup   `yaml:"groups" help:"model groups"`
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
