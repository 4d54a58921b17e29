package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// loadSource loads cfg with one setting given by one source: "flag",
// "env" or "file" (value is then the YAML body).
func loadSource(t *testing.T, cfg any, source, key, value string) error {
	t.Helper()
	var args []string
	env := noEnv
	switch source {
	case "flag":
		args = []string{"--" + key, value}
	case "env":
		env = func(k string) string {
			if k == EnvName(key) {
				return value
			}
			return ""
		}
	case "file":
		args = []string{"--config", writeFile(t, value)}
	default:
		t.Fatalf("unknown source %q", source)
	}
	_, err := Load("x", cfg, args, env, &strings.Builder{})
	return err
}

// TestRangeErrors: each value out of its setting's range fails Load with
// an error naming the source of the value (flag, variable, or file and
// line) and the range.
func TestRangeErrors(t *testing.T) {
	det := func() any { return DefaultDetector() }
	tr := func() any { return DefaultTrainer() }
	cases := []struct {
		cfg                func() any
		source, key, value string
		want               string
	}{
		{det, "flag", "drift.alpha", "5",
			"config: flag --drift.alpha: 5 is out of range: want more than 0 and less than 1"},
		{det, "flag", "drift.window", "0",
			"config: flag --drift.window: 0 is out of range: want 1 or more"},
		{det, "env", "drift.every", "-1",
			"config: environment FLOWGUARD_DRIFT_EVERY: -1 is out of range: want 1 or more"},
		{det, "flag", "alerts.critical_p_value", "2",
			"--alerts.critical_p_value: 2 is out of range: want more than 0 and at most 1"},
		{det, "env", "alerts.open_p_value", "7",
			"FLOWGUARD_ALERTS_OPEN_P_VALUE: 7 is out of range: want more than 0 and at most 1"},
		{det, "flag", "alerts.open_p_value", "0",
			"--alerts.open_p_value: 0 is out of range: want more than 0 and at most 1"},
		{det, "flag", "scoring.live_calibration", "-5",
			"--scoring.live_calibration: -5 is out of range: want 0 or more"},
		{det, "flag", "scoring.run", "-1",
			"--scoring.run: -1 is out of range: want 0, or 2 or more"},
		{det, "flag", "scoring.run", "1",
			"--scoring.run: 1 is out of range: want 0, or 2 or more"},
		{det, "flag", "scoring.batch_size", "0",
			"--scoring.batch_size: 0 is out of range: want 1 or more"},
		{det, "flag", "scoring.bootstrap", "-1",
			"--scoring.bootstrap: -1 is out of range: want 0 or more"},
		{det, "flag", "alerts.series_rate_limit", "-3",
			"--alerts.series_rate_limit: -3 is out of range: want 0 or more"},
		{det, "flag", "alerts.run_length", "1",
			"--alerts.run_length: 1 is out of range: want 0, or 2 or more"},
		{det, "flag", "scoring.batch_wait", "0s",
			"--scoring.batch_wait: 0s is out of range: want more than 0s"},
		{det, "env", "shutdown_timeout", "-1s",
			"FLOWGUARD_SHUTDOWN_TIMEOUT: -1s is out of range: want more than 0s"},
		{det, "flag", "scoring.alpha", "NaN",
			"--scoring.alpha: NaN is not a finite number"},
		{det, "flag", "scoring.lags", "24h,-1h",
			"--scoring.lags: -1h0m0s is out of range: want more than 0s"},
		{tr, "flag", "training.max_flagged_share", "5",
			"--training.max_flagged_share: 5 is out of range: want from 0 to 1"},
		{tr, "env", "training.holdout", "0.95",
			"FLOWGUARD_TRAINING_HOLDOUT: 0.95 is out of range: " +
				"want more than 0 and less than 0.9"},
		{tr, "flag", "model.max_fill", "-2",
			"--model.max_fill: -2 is out of range: want -1 or more"},
		{tr, "flag", "training.promote_margin", "+Inf",
			"--training.promote_margin: +Inf is not a finite number"},
		{tr, "flag", "poll", "0s", "--poll: 0s is out of range: want more than 0s"},
		// File sources name the file, the line of the value and the key.
		{det, "file", "", "drift:\n  enabled: true\n  alpha: 5\n",
			`:3: field "drift.alpha": 5 is out of range: want more than 0 and less than 1`},
		{det, "file", "", "scoring:\n  lags:\n    - 24h\n    - 0s\n",
			`:4: field "scoring.lags[1]": 0s is out of range: want more than 0s`},
		{det, "file", "", "scoring: {lags: '24h,-1h'}\n",
			`:1: field "scoring.lags": -1h0m0s is out of range: want more than 0s`},
		{tr, "file", "", "training:\n  max_flagged_share: 1.5\n",
			`:2: field "training.max_flagged_share": 1.5 is out of range: want from 0 to 1`},
		// Rules across fields.
		{det, "flag", "alerts.backoff_max", "100ms",
			"--alerts.backoff_max: 100ms is out of range: want at least alerts.backoff_base (1s)"},
		{det, "file", "", "alerts:\n  backoff_base: 1m\n  backoff_max: 30s\n",
			`:3: field "alerts.backoff_max": 30s is out of range: ` +
				`want at least alerts.backoff_base (1m0s)`},
		{det, "flag", "scoring.step", "0s",
			"--scoring.step: 0s (samples as they come) is out of range with " +
				"scoring.max_fill 3: want more than 0s, or set scoring.max_fill to 0"},
		{det, "env", "scoring.lags", "90s",
			"FLOWGUARD_SCORING_LAGS: 1m30s is out of range: want a multiple of " +
				"scoring.step (1m0s)"},
		{det, "file", "", "scoring:\n  alphas: [cpu=0.01, mem=2]\n",
			`:2: field "scoring.alphas[1]": "mem=2" is out of range: ` +
				`want a value more than 0 and less than 1`},
		{det, "flag", "scoring.alphas", "cpu",
			`--scoring.alphas: "cpu" is not group=value`},
	}
	for _, tc := range cases {
		name := tc.source + " " + tc.key + " " + tc.value
		t.Run(name, func(t *testing.T) {
			err := loadSource(t, tc.cfg(), tc.source, tc.key, tc.value)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n%s\nlacks\n%s", err, tc.want)
			}
			var fe *FileError
			if isFile := errors.As(err, &fe); isFile != (tc.source == "file") {
				t.Errorf("error %v: a *FileError is %v, want %v", err, isFile, !isFile)
			}
		})
	}
}

// TestRangeBoundsAccepted: the edges of the ranges, and the zeros that
// mean "off", load.
func TestRangeBoundsAccepted(t *testing.T) {
	for _, tc := range []struct {
		cfg   any
		args  []string
		check func(d any) bool
	}{
		{DefaultDetector(), []string{"--scoring.bootstrap", "0", "--scoring.run", "0",
			"--alerts.open_p_value", "1", "--alerts.critical_p_value", "1",
			"--alerts.run_length", "2", "--alerts.series_rate_limit", "0",
			"--drift.max_out_of_range", "1", "--scoring.live_calibration", "0"},
			func(c any) bool {
				d := c.(*Detector)
				return d.Scoring.Bootstrap == 0 && d.Alerts.OpenPValue == 1 &&
					d.Alerts.RunLength == 2 && d.Drift.MaxOutOfRange == 1
			}},
		{DefaultDetector(), []string{"--scoring.step", "0", "--scoring.max_fill", "0"},
			func(c any) bool { return c.(*Detector).Scoring.Step == 0 }},
		{DefaultDetector(), []string{"--scoring.lags", "24h,168h", "--alerts.backoff_max", "1s"},
			func(c any) bool { return len(c.(*Detector).Scoring.Lags) == 2 }},
		{DefaultTrainer(), []string{"--training.max_flagged_share", "0",
			"--training.ks_tolerance", "1", "--model.max_fill", "-1",
			"--training.promote_margin", "-0.5", "--model.seed", "-7"},
			func(c any) bool {
				tr := c.(*Trainer)
				return tr.Training.MaxFlaggedShare == 0 && tr.Model.MaxFill == -1 &&
					tr.Training.PromoteMargin == -0.5 && tr.Model.Seed == -7
			}},
		{DefaultTrainer(), []string{"--training.max_flagged_share", "1"},
			func(c any) bool { return c.(*Trainer).Training.MaxFlaggedShare == 1 }},
	} {
		if _, err := Load("x", tc.cfg, tc.args, noEnv, &strings.Builder{}); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if !tc.check(tc.cfg) {
			t.Errorf("%v: not applied: %+v", tc.args, tc.cfg)
		}
	}
}

// numericSettings returns every int, float or duration setting of cfg
// (lists: by element type).
func numericSettings(cfg any) []setting {
	var out []setting
	for _, s := range collect(reflect.ValueOf(cfg).Elem(), "") {
		t := s.value.Type()
		if t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Int, reflect.Int64, reflect.Float64:
			out = append(out, s)
		}
	}
	return out
}

// TestEveryNumberHasARange walks every numeric and duration setting of
// both commands: each has a range tag, its default is in it, and a value
// just outside each finite end of it fails Load by the setting's flag.
func TestEveryNumberHasARange(t *testing.T) {
	for _, mk := range []func() any{func() any { return DefaultDetector() },
		func() any { return DefaultTrainer() }} {
		if _, err := Load("x", mk(), nil, noEnv, &strings.Builder{}); err != nil {
			t.Fatalf("defaults out of range: %v", err)
		}
		for _, s := range numericSettings(mk()) {
			if s.valid == "" {
				t.Errorf("%s has no range tag", s.key)
				continue
			}
			if s.valid == "any" {
				continue
			}
			dur := s.value.Type() == durationType ||
				(s.value.Kind() == reflect.Slice && s.value.Type().Elem() == durationType)
			r := parseRange(s.valid, dur)
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, iv := range r {
				lo, hi = min(lo, iv.lo), max(hi, iv.hi)
			}
			unit := 1.0
			if dur {
				unit = float64(time.Second)
			}
			var outside []string
			for _, x := range []float64{lo - unit, hi + unit} {
				if math.IsInf(x, 0) {
					continue
				}
				if dur {
					outside = append(outside, time.Duration(x).String())
				} else {
					outside = append(outside, fmt.Sprint(x))
				}
			}
			if len(outside) == 0 {
				t.Errorf("%s: range %q has no finite end", s.key, s.valid)
			}
			for _, v := range outside {
				_, err := Load("x", mk(), []string{"--" + s.key, v}, noEnv, &strings.Builder{})
				want := fmt.Sprintf("config: flag --%s: ", s.key)
				if err == nil || !strings.Contains(err.Error(), want) ||
					!strings.Contains(err.Error(), "is out of range: want ") {
					t.Errorf("--%s %s: err %v, want an out-of-range error", s.key, v, err)
				}
			}
		}
	}
}

func TestDescribeRange(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		dur  bool
		want string
	}{
		{"(0,1)", false, "want more than 0 and less than 1"},
		{"(0,1]", false, "want more than 0 and at most 1"},
		{"[0,0.9)", false, "want at least 0 and less than 0.9"},
		{"[0,1]", false, "want from 0 to 1"},
		{"[1,)", false, "want 1 or more"},
		{"0|[2,)", false, "want 0, or 2 or more"},
		{"(,5]", false, "want at most 5"},
		{"(0,)", true, "want more than 0s"},
		{"[1m,1h]", true, "want from 1m0s to 1h0m0s"},
		{"any", false, "want a finite number"},
	} {
		if got := describeRange(parseRange(tc.tag, tc.dur), tc.dur); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.tag, got, tc.want)
		}
	}
	for _, bad := range []string{"(0,1", "0|", "[a,1]", "(1)"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("range tag %q did not panic", bad)
				}
			}()
			parseRange(bad, false)
		}()
	}
}

// rangedCfg has a rule across fields on a nested struct, to check that
// Load prefixes its keys.
type rangedCfg struct {
	Inner rangedInner `yaml:"inner"`
}

type rangedInner struct {
	Lo int `yaml:"lo" range:"[0,)" help:"low"`
	Hi int `yaml:"hi" range:"[0,)" help:"high"`
}

func (r *rangedInner) validate(name func(string) string) *fieldError {
	if r.Hi < r.Lo {
		return &fieldError{Key: "hi", Index: -1,
			Msg: fmt.Sprintf("%d is out of range: want at least %s", r.Hi, name("lo"))}
	}
	return nil
}

func TestValidateSeesEverySource(t *testing.T) {
	c := &rangedCfg{}
	c.Inner.Hi = 10
	// The default of hi is out of range once lo comes from the file.
	_, err := Load("x", c, []string{"--config", writeFile(t, "inner:\n  lo: 20\n")}, noEnv,
		&strings.Builder{})
	want := "config: inner.hi (its default): 10 is out of range: want at least inner.lo"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %s", err, want)
	}
	c = &rangedCfg{}
	env := func(k string) string {
		if k == "FLOWGUARD_INNER_HI" {
			return "3"
		}
		return ""
	}
	_, err = Load("x", c, []string{"--inner.lo", "4"}, env, &strings.Builder{})
	want = "config: environment FLOWGUARD_INNER_HI: 3 is out of range: want at least inner.lo"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %s", err, want)
	}
	// A flag beats the file: the error names the flag, the later source.
	_, err = Load("x", &rangedCfg{}, []string{"--config", writeFile(t, "inner: {lo: 1}\n"),
		"--inner.lo", "-1"}, noEnv, &strings.Builder{})
	if err == nil || !strings.HasPrefix(err.Error(), "config: flag --inner.lo: -1 is out") {
		t.Fatalf("err %v", err)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"PATH=/bin",
		"FLOWGUARD_KAFKA_BROKERS=a:9092",         // both commands
		"FLOWGUARD_DRIFT_ALPHA=1e-6",             // the detector's
		"FLOWGUARD_TRAINING_MAX_FLAGGED_SHARE=0", // the trainer's
		"FLOWGUARD_HORIZON=24",                   // detector forecast's
		"FLOWGUARD_CONFIG=/etc/flowguard.yaml",
		"FLOWGUARD_KAFKA_BROKER=a:9092", // misspelt
		"FLOWGUARD_YES=true",            // --yes is read from the command line only
		"FLOWGUARD_ALERTS_ROUTES=x",     // file only
		"FLOWGUARD_KAFKA_BROKER=b:9092",
		"flowguard_scoring_alpha=0.1",
	})
	want := []string{"FLOWGUARD_ALERTS_ROUTES", "FLOWGUARD_KAFKA_BROKER", "FLOWGUARD_YES"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UnknownEnv = %v, want %v", got, want)
	}
	if got := UnknownEnv(nil); got != nil {
		t.Fatalf("UnknownEnv(nil) = %v", got)
	}
}
