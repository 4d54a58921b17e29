package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestKafkaFormat: kafka.format is checked when the settings load, before
// any broker or database is touched, and the error names its source.
func TestKafkaFormat(t *testing.T) {
	for _, tc := range []struct {
		cfg                func() any
		source, key, value string
		want               string
	}{
		{func() any { return DefaultDetector() }, "flag", "kafka.format", "xml",
			`config: flag --kafka.format: "xml" is not an input format: want json, influx or csv`},
		{func() any { return DefaultDetector() }, "env", "kafka.format", "JSON",
			`config: environment FLOWGUARD_KAFKA_FORMAT: "JSON" is not an input format`},
		{func() any { return DefaultTrainer() }, "file", "", "kafka:\n  brokers: [a:1]\n  format: ''\n",
			`:3: field "kafka.format": "" is not an input format: want json, influx or csv`},
	} {
		err := loadSource(t, tc.cfg(), tc.source, tc.key, tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s %q: error %v, want %s", tc.source, tc.key, tc.value, err, tc.want)
		}
		var fe *FileError
		if errors.As(err, &fe) != (tc.source == "file") {
			t.Errorf("%s: error %v is a *FileError: %v", tc.source, err, !(tc.source == "file"))
		}
	}
	for _, f := range []string{"json", "influx", "csv"} {
		d := DefaultDetector()
		if err := loadSource(t, d, "flag", "kafka.format", f); err != nil || d.Kafka.Format != f {
			t.Errorf("kafka.format %s: %v (format %q)", f, err, d.Kafka.Format)
		}
	}
}

// TestScoringMaxFuture: an hour by default, 0 turns the bound off, and a
// negative bound is refused.
func TestScoringMaxFuture(t *testing.T) {
	if got := DefaultDetector().Scoring.MaxFuture; got != time.Hour {
		t.Errorf("default scoring.max_future = %v, want 1h", got)
	}
	d := DefaultDetector()
	if err := loadSource(t, d, "env", "scoring.max_future", "0s"); err != nil ||
		d.Scoring.MaxFuture != 0 {
		t.Errorf("scoring.max_future 0s: %v (%v)", err, d.Scoring.MaxFuture)
	}
	err := loadSource(t, DefaultDetector(), "flag", "scoring.max_future", "-1m")
	want := "config: flag --scoring.max_future: -1m0s is out of range: want 0s or more"
	if err == nil || err.Error() != want {
		t.Errorf("scoring.max_future -1m: %v, want %s", err, want)
	}
}
