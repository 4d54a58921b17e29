package config

import "time"

// Trainer holds every setting of the trainer.
type Trainer struct {
	Database Database      `yaml:"database"`
	Kafka    Kafka         `yaml:"kafka"`
	Log      Log           `yaml:"log"`
	ID       string        `yaml:"id" help:"name recorded on the jobs this trainer claims; empty: host and pid"`
	Poll     time.Duration `yaml:"poll" range:"(0,)" help:"how often to look for jobs when no notification came; more than 0"`
	// RequeueAfter hands a job back to the queue when the trainer that
	// claimed it has not finished it in this long (it probably died).
	RequeueAfter time.Duration `yaml:"requeue_after" range:"(0,)" help:"running jobs older than this go back to the queue (their trainer died); more than 0"`
	MetricsAddr  string        `yaml:"metrics_addr" help:"trainer run: listen address for /metrics; empty: no listener"`
	Training     TrainerPolicy `yaml:"training"`
	Model        TrainerModel  `yaml:"model"`

	// The offline "trainer train" command's inputs and outputs. Without
	// CSV files it replays From..To of the samples topic.
	Group   string   `yaml:"group" help:"trainer train: model group of the model"`
	CSV     []string `yaml:"csv" help:"trainer train: NAB-format CSV files, one series each (repeat the flag or separate with commas)"`
	From    string   `yaml:"from" help:"trainer train without --csv: replay samples from this event time (RFC 3339); empty: the topic's start"`
	To      string   `yaml:"to" help:"trainer train without --csv: replay samples before this event time (RFC 3339); empty: up to now"`
	Series  []string `yaml:"series" help:"trainer train without --csv: metric names of the series to replay; empty: every series"`
	Out     string   `yaml:"out" help:"trainer train: write the model file here"`
	Publish bool     `yaml:"publish" help:"trainer train: save the model in the registry, as champion if the group has none"`
}

// TrainerPolicy sets what retrain jobs train on and when a candidate
// replaces the champion.
type TrainerPolicy struct {
	// PromoteMargin is in nats per point, raw units: a candidate replaces
	// the champion only if its mean point score on the newest held-out data
	// is lower by at least this much.
	// A negative margin is allowed: it lets a fresher candidate win that
	// scores that much worse.
	PromoteMargin float64 `yaml:"promote_margin" range:"any" help:"a candidate is promoted only if its mean point score on new held-out data beats the champion's by this many nats; negative: it may be that much worse"`
	KSTolerance   float64 `yaml:"ks_tolerance" range:"[0,1]" help:"a candidate is promoted only if the KS statistic of its held-out p-values exceeds the champion's by at most this; from 0 to 1"`
	Holdout       float64 `yaml:"holdout" range:"(0,0.9)" help:"share of each series' newest samples kept out of the candidate's fit to compare it with the champion; more than 0 and less than 0.9"`
	// The lookback applies to drift jobs: after a change only recent data
	// describes the stream.
	Lookback        time.Duration `yaml:"lookback" range:"[0,)" help:"drift jobs train on this much event time before the end of their range; 0: no bound by time"`
	LookbackSteps   int           `yaml:"lookback_steps" range:"[0,)" help:"drift jobs train on at most this many newest samples per series; 0: no bound by count"`
	MaxFlaggedShare float64       `yaml:"max_flagged_share" range:"[0,1]" help:"flagged points are left out of training unless they are more than this share of a series' samples (then they are the new normal); from 0 (always kept) to 1 (always left out)"`
}

// TrainerModel sets the shape and training of the models the trainer
// builds. Zero values let the trainer choose from the amount of data.
type TrainerModel struct {
	Window    int    `yaml:"window" range:"[0,)" help:"steps per window; 0: 16, or 8 for short data"`
	LayerType string `yaml:"layer_type" help:"flow layer: spline (rational-quadratic) or affine; empty: spline"`
	// Step and MaxFill must match the detector's grid for the detector to
	// load the model; jobs filed by a detector carry its grid and override
	// them.
	Step     time.Duration `yaml:"step" range:"[0,)" help:"grid step; 0: the median spacing of the data (jobs carry the detector's)"`
	MaxFill  int           `yaml:"max_fill" range:"[-1,)" help:"longest gap filled, in steps; 0: 3, -1: none (jobs carry the detector's)"`
	Hidden   int           `yaml:"hidden" range:"[0,)" help:"width of the flow's hidden layers; 0: 64, or 32 for short data"`
	Layers   int           `yaml:"layers" range:"[0,)" help:"flow layers; 0: 5, or 3 for short data"`
	Epochs   int           `yaml:"epochs" range:"[0,)" help:"most training epochs; 0: 60, or 200 for short data (early stopping ends most runs)"`
	Calendar string        `yaml:"calendar" help:"hour-of-day and day-of-week context: auto (when data spans two weeks), on or off"`
	TimeZone string        `yaml:"time_zone" help:"IANA time zone of the calendar context; empty: UTC"`
	Seed     int64         `yaml:"seed" range:"any" help:"seed of the weights and minibatch order; one seed gives one model"`
}

// DefaultTrainer returns the trainer's defaults.
func DefaultTrainer() *Trainer {
	d := DefaultDetector()
	return &Trainer{
		Database:     d.Database,
		Kafka:        d.Kafka,
		Log:          d.Log,
		Poll:         30 * time.Second,
		RequeueAfter: time.Hour,
		Training: TrainerPolicy{PromoteMargin: 0.02, KSTolerance: 0.1, Holdout: 0.2,
			LookbackSteps: 4000, MaxFlaggedShare: 0.1},
		Model: TrainerModel{Calendar: "auto", Seed: 1},
		Group: "default",
	}
}
