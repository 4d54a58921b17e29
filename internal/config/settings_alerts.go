package config

import "time"

// Alerts holds the settings of the alerts component that runs inside the
// detector: how anomalies group into incidents, how the outbox is delivered
// and where each model group's alerts go.
type Alerts struct {
	Enabled bool `yaml:"enabled" help:"turn anomalies into incidents and deliver alerts"`

	// Gap is measured in series time: a point further than Gap after the
	// incident's last point starts a new incident.
	Gap           time.Duration `yaml:"gap" help:"largest series-time gap between points of one incident"`
	SilentResolve time.Duration `yaml:"silent_resolve" help:"wall time without new points after which an incident resolves"`
	Cooldown      time.Duration `yaml:"cooldown" help:"series time after a resolve during which the series opens no incident"`

	CriticalPValue float64 `yaml:"critical_p_value" help:"an incident whose smallest p-value is at most this is critical, else warning"`
	OpenPValue     float64 `yaml:"open_p_value" help:"a single anomaly opens an incident only if its p-value is at most this"`
	RunLength      int     `yaml:"run_length" help:"anomalies in a run whose combined (Fisher) p-value can open an incident; 0: off"`
	RunPValue      float64 `yaml:"run_p_value" help:"a run of run_length anomalies opens an incident if its combined p-value is at most this"`

	SeriesRateLimit  int           `yaml:"series_rate_limit" help:"most incidents one series may open per series_rate_window; 0: no limit"`
	SeriesRateWindow time.Duration `yaml:"series_rate_window" help:"series-time window of series_rate_limit"`
	GlobalRateLimit  int           `yaml:"global_rate_limit" help:"most incidents all series together may open per global_rate_window; 0: no limit"`
	GlobalRateWindow time.Duration `yaml:"global_rate_window" help:"wall-time window of global_rate_limit"`

	Poll        time.Duration `yaml:"poll" help:"how often to look for new anomalies and due alerts"`
	Batch       int           `yaml:"batch" help:"most anomalies or outbox rows handled per transaction"`
	MaxAttempts int           `yaml:"max_attempts" help:"delivery attempts before an alert is marked dead"`
	BackoffBase time.Duration `yaml:"backoff_base" help:"wait before the first retry; doubles per attempt, with jitter"`
	BackoffMax  time.Duration `yaml:"backoff_max" help:"longest wait between retries"`
	Retention   time.Duration `yaml:"retention" help:"how long delivered alerts stay in the outbox"`

	DashboardURL string `yaml:"dashboard_url" help:"base URL of the dashboard linked from alerts; empty: no link"`

	// Routes maps a model group to the sinks its alerts go to; the key "*"
	// serves every group without its own entry. File only.
	Routes map[string][]string `yaml:"routes" help:"model group to sink names (alertmanager, webhook, kafka, log); * is the default"`

	Alertmanager AlertmanagerSink `yaml:"alertmanager"`
	Webhook      WebhookSink      `yaml:"webhook"`
	Kafka        KafkaSink        `yaml:"kafka"`
}

// AlertmanagerSink says which Alertmanagers receive alerts.
type AlertmanagerSink struct {
	URLs    []string      `yaml:"urls" help:"Alertmanager base URLs; every one receives every alert"`
	Timeout time.Duration `yaml:"timeout" help:"longest one POST to an Alertmanager may take"`
	Resend  time.Duration `yaml:"resend" help:"how often firing alerts are sent again; endsAt is 4 times this ahead"`
}

// WebhookSink is a generic HTTP receiver of JSON alerts.
type WebhookSink struct {
	URL     string        `yaml:"url" help:"URL that receives each alert as a JSON POST"`
	Secret  string        `yaml:"secret" help:"HMAC-SHA256 key signing each body; empty: unsigned"`
	Timeout time.Duration `yaml:"timeout" help:"longest one POST to the webhook may take"`
}

// KafkaSink is a Kafka topic of alerts, keyed by series.
type KafkaSink struct {
	Brokers []string      `yaml:"brokers" help:"broker addresses; empty: the detector's kafka.brokers"`
	Topic   string        `yaml:"topic" help:"topic that receives alerts, keyed by series"`
	Timeout time.Duration `yaml:"timeout" help:"longest one write to Kafka may take"`
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
