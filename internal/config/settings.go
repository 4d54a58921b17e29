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
}

// Log sets the command's structured logging.
type Log struct {
	Level  string `yaml:"level" help:"debug, info, warn or error"`
	Format string `yaml:"format" help:"text or json"`
}

// HTTP is the detector's listener for metrics, health and the dashboard.
type HTTP struct {
	Addr  string `yaml:"addr" help:"listen address for /metrics, /healthz, /readyz"`
	Token string `yaml:"token" help:"bearer token required by the dashboard; empty: none"`
}

// Detector holds every setting of the detector.
type Detector struct {
	Database        Database      `yaml:"database"`
	Kafka           Kafka         `yaml:"kafka"`
	HTTP            HTTP          `yaml:"http"`
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
		},
		HTTP:            HTTP{Addr: "127.0.0.1:9464"},
		Log:             Log{Level: "info", Format: "text"},
		ShutdownTimeout: 15 * time.Second,
	}
}
