package config

import "time"

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
	Partitions      int      `yaml:"partitions" help:"partitions of topics flowguard creates"`
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
	Step      time.Duration   `yaml:"step" help:"grid step of every series; 0: samples as they come"`
	Window    int             `yaml:"window" help:"steps in a model window (W)"`
	Lateness  time.Duration   `yaml:"lateness" help:"how late a sample may arrive and still count"`
	MaxFill   int             `yaml:"max_fill" help:"longest gap filled, in steps; longer gaps restart"`
	Calendar  bool            `yaml:"calendar" help:"give models hour-of-day and day-of-week context"`
	Lags      []time.Duration `yaml:"lags" help:"seasonal lags, such as 24h,168h, offered to models as context; a model keeps those its training data span twice"`
	IdleAfter time.Duration   `yaml:"idle_after" help:"event-time silence after which a series is forgotten"`
	Alpha     float64         `yaml:"alpha" help:"flag a point when its p-value is below this"`
	Run       int             `yaml:"run" help:"recent points of a series pooled into a run p-value; 0: no run test"`
	Live      int             `yaml:"live_calibration" help:"live scores each group's model learns into its calibration; 0: none"`
	LiveSave  time.Duration   `yaml:"live_calibration_save" help:"how often the live calibration is saved to PostgreSQL, so that a restarted detector resumes it; 0: never"`
	Groups    []string        `yaml:"groups" help:"model groups as name=regexp on the series key; first match wins, others go to default"`
	PerSeries []string        `yaml:"per_series" help:"groups that train one model per series"`
	Alphas    []string        `yaml:"alphas" help:"alpha of single groups, as group=value"`
	BatchSize int             `yaml:"batch_size" help:"most messages in one scoring batch"`
	BatchWait time.Duration   `yaml:"batch_wait" help:"longest a batch waits to fill up"`
	Bootstrap int             `yaml:"bootstrap" help:"ready windows (and 2*window per series) a group without a model collects before a training job is filed"`
}

// Drift sets how the detector watches each model group for drift: a KS
// test of the live p-values against uniform, and the share of values
// outside the training range. A drift event files a retrain job.
type Drift struct {
	Enabled       bool          `yaml:"enabled" help:"watch each model group for drift and file retrain jobs"`
	Window        int           `yaml:"window" help:"p-values per group in each test of uniformity"`
	Every         int           `yaml:"every" help:"points between two tests"`
	Alpha         float64       `yaml:"alpha" help:"level of each test, before the correction for the model's calibration size"`
	MaxOutOfRange float64       `yaml:"max_out_of_range" help:"share of the window outside the training range that is drift on its own"`
	MaxDeviation  float64       `yaml:"max_deviation" help:"robust z-score beyond which a value is outside the training range"`
	Cooldown      time.Duration `yaml:"cooldown" help:"least time between two drift events of a group, and from a group's newest retrain job to a refresh job"`
	SettleSteps   int           `yaml:"settle_steps" help:"grid steps after a drift alarm before its retrain job is filed, so the job's data hold the new behaviour"`
	LookbackSteps int           `yaml:"lookback_steps" help:"grid steps before the alarm's end that a drift job asks to train on"`
	RefreshSteps  int           `yaml:"refresh_steps" help:"grid steps a model group scores after its model's training data end before a refresh retrain job is filed, drift or not; 0: never"`
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
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" help:"longest a clean stop may take"`
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
