package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Database says where flowguard's PostgreSQL database is.
type Database struct {
	URL     string `yaml:"url" help:"PostgreSQL URL; empty: the local server's flowguard database"`
	Migrate bool   `yaml:"migrate" help:"apply schema migrations on start"`
}

// Kafka says which cluster and topics to use.
type Kafka struct {
	Brokers         []string `yaml:"brokers" help:"broker addresses; empty: start an in-process broker"`
	InputTopics     []string `yaml:"input_topics" help:"topics producers write to"`
	Format          string   `yaml:"format" help:"input format: json, influx or csv"`
	SamplesTopic    string   `yaml:"samples_topic" help:"internal topic of samples keyed by series"`
	DeadLetterTopic string   `yaml:"dead_letter_topic" help:"topic for messages that cannot be decoded"`
	Group           string   `yaml:"group" help:"consumer group of the detectors"`
	Partitions      int      `yaml:"partitions" range:"[1,)" help:"partitions of topics flowguard creates"`
	EmbeddedAddr    string   `yaml:"embedded_addr" help:"listen address of the in-process broker (no brokers set); port 0: any free port"`
	EmbeddedDir     string   `yaml:"embedded_dir" help:"directory keeping the in-process broker's data across restarts; empty: memory only"`
}

// Log sets the command's structured logging.
type Log struct {
	Level  string `yaml:"level" help:"debug, info, warn or error"`
	Format string `yaml:"format" help:"text or json"`
}

// HTTP is the detector's listener for metrics, health and the dashboard.
type HTTP struct {
	Addr  string `yaml:"addr" help:"listen address for /metrics, /healthz, /readyz and the dashboard (/)"`
	Token string `yaml:"token" help:"bearer token required by the dashboard; empty: none"`
}

// Scoring sets the per-series grid of the detector and how points are
// scored and flagged. The grid settings must match those the group's model
// was trained with.
type Scoring struct {
	Step      time.Duration   `yaml:"step" range:"[0,)" help:"grid step of every series; 0: samples as they come (then max_fill and lateness must be 0 and lags empty)"`
	Window    int             `yaml:"window" range:"[1,)" help:"steps in a model window (W)"`
	Lateness  time.Duration   `yaml:"lateness" range:"[0,)" help:"how late a sample may arrive and still count; 0: a step is final once a later one starts"`
	MaxFuture time.Duration   `yaml:"max_future" range:"[0,)" help:"how far a sample's timestamp may lie ahead of the detector's clock; a later one goes to the dead-letter topic (future_timestamp) instead of stalling its series; 0: no bound"`
	MaxFill   int             `yaml:"max_fill" range:"[0,)" help:"longest gap filled, in steps; longer gaps restart; 0: none filled"`
	Calendar  bool            `yaml:"calendar" help:"give models hour-of-day and day-of-week context"`
	Lags      []time.Duration `yaml:"lags" range:"(0,)" help:"seasonal lags, such as 24h,168h, offered to models as context; a model keeps those its training data span twice; each a multiple of step"`
	IdleAfter time.Duration   `yaml:"idle_after" range:"[0,)" help:"event-time silence after which a series is forgotten; 0: never"`
	Alpha     float64         `yaml:"alpha" range:"(0,1)" help:"flag a point when its p-value is below this; between 0 and 1, exclusive"`
	Run       int             `yaml:"run" range:"0|[2,)" help:"recent points of a series pooled into a run p-value, 2 or more; 0: no run test"`
	Live      int             `yaml:"live_calibration" range:"[0,)" help:"live scores each group's model learns into its calibration; 0: none"`
	LiveSave  time.Duration   `yaml:"live_calibration_save" range:"[0,)" help:"how often the live calibration is saved to PostgreSQL, so that a restarted detector resumes it; 0: never"`
	Groups    []string        `yaml:"groups" help:"model groups as name=regexp on the series key; first match wins, others go to default"`
	PerSeries []string        `yaml:"per_series" help:"groups that train one model per series"`
	Alphas    []string        `yaml:"alphas" help:"alpha of single groups, as group=value with value between 0 and 1, exclusive"`
	BatchSize int             `yaml:"batch_size" range:"[1,)" help:"most messages in one scoring batch"`
	BatchWait time.Duration   `yaml:"batch_wait" range:"(0,)" help:"longest a batch waits to fill up; more than 0"`
	Bootstrap int             `yaml:"bootstrap" range:"[0,)" help:"ready windows (and 2*window per series) a group without a model collects before a training job is filed; 0: none is filed"`
}

// Drift sets how the detector watches each model group for drift: a KS
// test of the live p-values against uniform, and the share of values
// outside the training range. A drift event files a retrain job.
type Drift struct {
	Enabled       bool          `yaml:"enabled" help:"watch each model group for drift and file retrain jobs"`
	Window        int           `yaml:"window" range:"[1,)" help:"p-values per group in each test of uniformity"`
	Every         int           `yaml:"every" range:"[1,)" help:"points between two tests"`
	Alpha         float64       `yaml:"alpha" range:"(0,1)" help:"level of each test, before the correction for the model's calibration size; between 0 and 1, exclusive"`
	MaxOutOfRange float64       `yaml:"max_out_of_range" range:"(0,1]" help:"share of the window outside the training range that is drift on its own; more than 0, at most 1 (1: never on its own)"`
	MaxDeviation  float64       `yaml:"max_deviation" range:"(0,)" help:"robust scales (1.4826 MAD) beyond the range of the training values at which a value counts as out of range (models saved before format 2: from the median)"`
	Cooldown      time.Duration `yaml:"cooldown" range:"(0,)" help:"least time between two drift events of a group, and from a group's newest retrain job to a refresh job; more than 0"`
	SettleSteps   int           `yaml:"settle_steps" range:"[0,)" help:"grid steps after a drift alarm before its retrain job is filed, so the job's data hold the new behaviour; 0: at once"`
	LookbackSteps int           `yaml:"lookback_steps" range:"[1,)" help:"grid steps before the alarm's end that a drift job asks to train on"`
	RefreshSteps  int           `yaml:"refresh_steps" range:"[0,)" help:"grid steps a model group scores after its model's training data end before a refresh retrain job is filed, drift or not; 0: never"`
}

// Detector holds every setting of the detector.
type Detector struct {
	Database        Database      `yaml:"database"`
	Kafka           Kafka         `yaml:"kafka"`
	Scoring         Scoring       `yaml:"scoring"`
	Drift           Drift         `yaml:"drift"`
	HTTP            HTTP          `yaml:"http"`
	Alerts          Alerts        `yaml:"alerts"`
	Log             Log           `yaml:"log"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" range:"(0,)" help:"longest a clean stop may take; more than 0"`
}

// DefaultDetector returns the detector's defaults: everything on this
// machine, embedded broker, local PostgreSQL.
func DefaultDetector() *Detector {
	return &Detector{
		Database: Database{Migrate: true},
		Kafka: Kafka{
			InputTopics:     []string{"flowguard.input"},
			Format:          "json",
			SamplesTopic:    "flowguard.samples",
			DeadLetterTopic: "flowguard.dead-letter",
			Group:           "flowguard-detector",
			Partitions:      8,
			EmbeddedAddr:    "127.0.0.1:9092",
		},
		Scoring: Scoring{
			Step:      time.Minute,
			Window:    16,
			MaxFuture: time.Hour,
			MaxFill:   3,
			IdleAfter: 24 * time.Hour,
			Alpha:     0.001,
			Run:       4,
			Live:      10000,
			LiveSave:  time.Minute,
			BatchSize: 2000,
			BatchWait: 50 * time.Millisecond,
			Bootstrap: 2000,
		},
		Drift: Drift{Enabled: true, Window: 1000, Every: 100, Alpha: 1e-6, MaxOutOfRange: 0.2,
			MaxDeviation: 6, Cooldown: time.Hour, SettleSteps: 1000, LookbackSteps: 4000},
		HTTP:            HTTP{Addr: "127.0.0.1:9464"},
		Alerts:          DefaultAlerts(),
		Log:             Log{Level: "info", Format: "text"},
		ShutdownTimeout: 15 * time.Second,
	}
}

// formats are the values of kafka.format, one per input decoder.
var formats = []string{"json", "influx", "csv"}

func (k *Kafka) validate(func(string) string) *fieldError {
	if !slices.Contains(formats, k.Format) {
		return &fieldError{Key: "format", Index: -1, Msg: fmt.Sprintf(
			"%q is not an input format: want json, influx or csv", k.Format)}
	}
	return nil
}

func (s *Scoring) validate(name func(string) string) *fieldError {
	if s.Step == 0 {
		// Without a grid there are no gaps to fill, no steps to wait for
		// and no past steps to look back to.
		for _, f := range []struct {
			key string
			set bool
			val string
		}{{"max_fill", s.MaxFill > 0, fmt.Sprint(s.MaxFill)},
			{"lateness", s.Lateness > 0, s.Lateness.String()},
			{"lags", len(s.Lags) > 0, format(reflect.ValueOf(s.Lags))}} {
			if f.set {
				return &fieldError{Key: "step", Index: -1, Msg: fmt.Sprintf(
					"0s (samples as they come) is out of range with %s %s: want more "+
						"than 0s, or set %s to 0", name(f.key), f.val, name(f.key))}
			}
		}
	}
	for i, l := range s.Lags {
		if s.Step > 0 && l%s.Step != 0 {
			return &fieldError{Key: "lags", Index: i, Msg: fmt.Sprintf(
				"%v is out of range: want a multiple of %s (%v)", l, name("step"), s.Step)}
		}
	}
	for i, a := range s.Alphas {
		group, v, ok := strings.Cut(a, "=")
		x, err := strconv.ParseFloat(v, 64)
		switch {
		case !ok || group == "" || err != nil:
			return &fieldError{Key: "alphas", Index: i, Msg: fmt.Sprintf(
				"%q is not group=value", a)}
		case !(x > 0 && x < 1):
			return &fieldError{Key: "alphas", Index: i, Msg: fmt.Sprintf(
				"%q is out of range: want a value more than 0 and less than 1", a)}
		}
	}
	return nil
}
