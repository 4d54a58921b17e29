package config

import "time"

// Trainer holds every setting of the trainer.
type Trainer struct {
	Database Database      `yaml:"database"`
	Kafka    Kafka         `yaml:"kafka"`
	Log      Log           `yaml:"log"`
	ID       string        `yaml:"id" help:"name recorded on the jobs this trainer claims; empty: host and pid"`
	Poll     time.Duration `yaml:"poll" help:"how often to look for jobs when no notification came"`
}

// DefaultTrainer returns the trainer's defaults.
func DefaultTrainer() *Trainer {
	d := DefaultDetector()
	return &Trainer{
		Database: d.Database,
		Kafka:    d.Kafka,
		Log:      d.Log,
		Poll:     30 * time.Second,
	}
}
