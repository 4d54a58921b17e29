package alerts

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/config"
)

// TestSettingsFromFile loads the alerts settings the way the detector
// will: routes come from the file, scalars also from the environment.
func TestSettingsFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "detector.yaml")
	const yml = `alerts:
  gap: 10m
  routes:
    "*": [log]
    payments: [alertmanager, webhook]
  alertmanager:
    urls: [http://am-1:9093, http://am-2:9093]
  webhook:
    url: https://hooks.example/flowguard
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := struct {
		Alerts config.Alerts `yaml:"alerts"`
	}{config.DefaultAlerts()}
	env := map[string]string{"FLOWGUARD_ALERTS_WEBHOOK_SECRET": "s"}
	_, err := config.Load("detector", &cfg, []string{"--config", path, "--alerts.max_attempts=5"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Alerts
	if a.Gap != 10*time.Minute || a.MaxAttempts != 5 || a.Webhook.Secret != "s" ||
		len(a.Alertmanager.URLs) != 2 || a.Cooldown != config.DefaultAlerts().Cooldown {
		t.Errorf("settings = %+v", a)
	}
	svc, err := New(nil, a, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.route("payments"); !slices.Equal(got, []string{"alertmanager", "webhook"}) {
		t.Errorf("route(payments) = %v", got)
	}
	if got := svc.route("other"); !slices.Equal(got, []string{"log"}) {
		t.Errorf("route(other) = %v", got)
	}
	if got := svc.sinkNames(); !slices.Equal(got, []string{"log", "alertmanager", "webhook"}) {
		t.Errorf("sinks = %v", got)
	}
}
