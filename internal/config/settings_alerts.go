package config

import (
	"fmt"
	"time"
)

// Alerts holds the settings of the alerts component that runs inside the
// detector: how anomalies group into incidents, how the outbox is delivered
// and where each model group's alerts go.
type Alerts struct {
	// Enabled says whether the detector runs the alerts component at all.
	Enabled bool `yaml:"enabled" help:"turn anomalies into incidents and deliver alerts"`

	// Gap is measured in series time: a point further than Gap after the
	// incident's last point starts a new incident.
	Gap           time.Duration `yaml:"gap" range:"(0,)" help:"most series time between points of one incident; more than 0"`
	SilentResolve time.Duration `yaml:"silent_resolve" range:"[0,)" help:"wall time without points that resolves an incident; 0: only series time resolves"`
	Cooldown      time.Duration `yaml:"cooldown" range:"[0,)" help:"series time after a resolve with no new incident; 0: none"`

	// The p-value settings are in (0,1]; none has to be below another. A
	// critical_p_value at or above open_p_value makes every incident that
	// one anomaly opens critical, which leaves warnings to incidents that
	// runs open: a choice, not a mistake.
	CriticalPValue float64 `yaml:"critical_p_value" range:"(0,1]" help:"smallest p-value at most this: critical, else warning; more than 0, at most 1 (at or above open_p_value, every incident one anomaly opens is critical)"`
	OpenPValue     float64 `yaml:"open_p_value" range:"(0,1]" help:"one anomaly opens an incident if its p-value is at most this; more than 0, at most 1 (1: every anomaly)"`
	RunLength      int     `yaml:"run_length" range:"0|[2,)" help:"length of runs whose Fisher p-value may open one, 2 or more; 0: off"`
	RunPValue      float64 `yaml:"run_p_value" range:"(0,1]" help:"a run opens an incident if its Fisher p-value is at most this; more than 0, at most 1"`

	SeriesRateLimit  int           `yaml:"series_rate_limit" range:"[0,)" help:"most incidents per series and window; 0: no limit"`
	SeriesRateWindow time.Duration `yaml:"series_rate_window" range:"(0,)" help:"series-time window of series_rate_limit; more than 0"`
	GlobalRateLimit  int           `yaml:"global_rate_limit" range:"[0,)" help:"most incidents of all series per window; 0: no limit"`
	GlobalRateWindow time.Duration `yaml:"global_rate_window" range:"(0,)" help:"wall-time window of global_rate_limit; more than 0"`

	Poll        time.Duration `yaml:"poll" range:"(0,)" help:"how often to look for anomalies and due alerts; more than 0"`
	Batch       int           `yaml:"batch" range:"[1,)" help:"most anomalies or alerts per transaction"`
	MaxAttempts int           `yaml:"max_attempts" range:"[1,)" help:"delivery attempts before an alert is dead"`
	BackoffBase time.Duration `yaml:"backoff_base" range:"(0,)" help:"first retry wait; doubles per attempt, jittered; more than 0"`
	BackoffMax  time.Duration `yaml:"backoff_max" range:"(0,)" help:"longest wait between retries; at least backoff_base"`
	Retention   time.Duration `yaml:"retention" range:"[0,)" help:"how long delivered alerts stay in the outbox; 0: forever"`

	DashboardURL string `yaml:"dashboard_url" help:"dashboard base URL for links; empty: none"`

	// Routes maps a model group to the sinks its alerts go to; the key "*"
	// serves every group without its own entry. A group with neither gets
	// incidents but no alerts. File only.
	Routes map[string][]string `yaml:"routes" help:"model group to sinks; * is the default"`

	Alertmanager AlertmanagerSink `yaml:"alertmanager"`
	Webhook      WebhookSink      `yaml:"webhook"`
	Kafka        KafkaSink        `yaml:"kafka"`
}

// AlertmanagerSink says which Alertmanagers receive alerts.
type AlertmanagerSink struct {
	URLs    []string      `yaml:"urls" help:"Alertmanager base URLs, each gets every alert"`
	Timeout time.Duration `yaml:"timeout" range:"(0,)" help:"longest one POST to an Alertmanager may take; more than 0"`
	Resend  time.Duration `yaml:"resend" range:"(0,)" help:"resend interval of firing alerts; endsAt is 4x ahead; more than 0"`
}

// WebhookSink is a generic HTTP receiver of JSON alerts.
type WebhookSink struct {
	URL     string        `yaml:"url" help:"URL that receives each alert as a JSON POST"`
	Secret  string        `yaml:"secret" help:"HMAC-SHA256 key signing each body; empty: unsigned"`
	Timeout time.Duration `yaml:"timeout" range:"(0,)" help:"longest one POST to the webhook may take; more than 0"`
}

// KafkaSink is a Kafka topic of alerts, keyed by series.
type KafkaSink struct {
	Brokers []string      `yaml:"brokers" help:"brokers; empty: the detector's kafka.brokers"`
	Topic   string        `yaml:"topic" help:"topic that receives alerts, keyed by series"`
	Timeout time.Duration `yaml:"timeout" range:"(0,)" help:"longest one write to Kafka may take; more than 0"`
}

// DefaultAlerts returns the alerts defaults: incidents grouped over 5
// minutes of series time, delivered to the log only.
func DefaultAlerts() Alerts {
	return Alerts{
		Enabled:          true,
		Gap:              5 * time.Minute,
		SilentResolve:    15 * time.Minute,
		Cooldown:         0,
		CriticalPValue:   1e-4,
		OpenPValue:       1,
		RunLength:        0,
		RunPValue:        1e-4,
		SeriesRateLimit:  6,
		SeriesRateWindow: time.Hour,
		GlobalRateLimit:  100,
		GlobalRateWindow: time.Minute,
		Poll:             time.Second,
		Batch:            500,
		MaxAttempts:      12,
		BackoffBase:      time.Second,
		BackoffMax:       5 * time.Minute,
		Retention:        7 * 24 * time.Hour,
		Routes:           map[string][]string{"*": {"log"}},
		Alertmanager:     AlertmanagerSink{Timeout: 10 * time.Second, Resend: time.Minute},
		Webhook:          WebhookSink{Timeout: 10 * time.Second},
		Kafka:            KafkaSink{Topic: "flowguard.alerts", Timeout: 10 * time.Second},
	}
}

func (a *Alerts) validate(name func(string) string) *fieldError {
	if a.BackoffMax < a.BackoffBase {
		return &fieldError{Key: "backoff_max", Index: -1, Msg: fmt.Sprintf(
			"%v is out of range: want at least %s (%v)", a.BackoffMax, name("backoff_base"),
			a.BackoffBase)}
	}
	return nil
}
