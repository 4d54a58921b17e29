package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AlertName is the alertname label of every alert flowguard sends to
// Alertmanager.
const AlertName = "FlowguardAnomaly"

// Alertmanager sends alerts to every configured Alertmanager through its
// API v2 (POST /api/v2/alerts).
//
// Alertmanager resolves a firing alert by itself at its endsAt, so a firing
// alert carries endsAt = now + 4 x resend and must be sent again every
// resend interval while its incident is open (the Service does that); a
// resolved alert carries endsAt = the resolve time. This follows
// Prometheus' notifier.
type Alertmanager struct {
	urls   []string
	client *http.Client
	resend time.Duration
	now    func() time.Time
}

var _ Sink = (*Alertmanager)(nil)

// NewAlertmanager returns a sink posting to each base URL in urls (such as
// http://am:9093), each request bounded by timeout. resend is the interval
// at which firing alerts are sent again.
func NewAlertmanager(urls []string, timeout, resend time.Duration) *Alertmanager {
	return &Alertmanager{
		urls:   urls,
		client: &http.Client{Timeout: timeout},
		resend: resend,
		now:    time.Now,
	}
}

// Name returns "alertmanager".
func (a *Alertmanager) Name() string { return SinkAlertmanager }

// Close closes idle connections.
func (a *Alertmanager) Close() error {
	a.client.CloseIdleConnections()
	return nil
}

// amAlert is an alert in Alertmanager's API v2 (postableAlert).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Labels returns the label set that identifies the incident of m in
// Alertmanager.
func Labels(m *Message, severity string) map[string]string {
	return map[string]string{
		"alertname":   AlertName,
		"series":      m.Series,
		"model_group": m.Group,
		"incident_id": strconv.FormatInt(m.IncidentID, 10),
		"severity":    severity,
	}
}

func (a *Alertmanager) alerts(m *Message) []amAlert {
	now := a.now().UTC()
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	values := make([]string, len(m.Value))
	for i, v := range m.Value {
		values[i] = f(v)
	}
	cur := amAlert{
		Labels: Labels(m, m.Severity),
		Annotations: map[string]string{
			"summary": fmt.Sprintf("anomaly in %s: %d points, p-value %s",
				m.Series, m.Points, f(m.PValue)),
			"value":         strings.Join(values, ","),
			"score":         f(m.Score),
			"p_value":       f(m.PValue),
			"model_version": strconv.Itoa(m.ModelVersion),
			"first_ts":      m.FirstTS.Format(time.RFC3339),
			"last_ts":       m.LastTS.Format(time.RFC3339),
			"message_id":    m.ID,
		},
		StartsAt:     m.OpenedAt,
		EndsAt:       now.Add(4 * a.resend),
		GeneratorURL: m.DashboardURL,
	}
	if m.DashboardURL != "" {
		cur.Annotations["dashboard"] = m.DashboardURL
	}
	if m.ResolvedAt != nil {
		cur.EndsAt = *m.ResolvedAt
	}
	if !cur.EndsAt.After(cur.StartsAt) {
		// Alertmanager rejects endsAt before startsAt; an incident opened
		// and resolved within one clock tick still resolves.
		cur.EndsAt = cur.StartsAt.Add(time.Millisecond)
	}
	out := []amAlert{cur}
	if m.PreviousSeverity != "" && m.PreviousSeverity != m.Severity {
		// The severity is a label, so the alert under the old label set
		// is resolved now rather than left to expire.
		old := cur
		old.Labels = Labels(m, m.PreviousSeverity)
		old.EndsAt = now
		if !old.EndsAt.After(old.StartsAt) {
			old.EndsAt = old.StartsAt.Add(time.Millisecond)
		}
		out = append(out, old)
	}
	return out
}

// Send posts m to every Alertmanager at once. Like Prometheus, it counts
// the delivery done when at least one of them accepted it: Alertmanagers
// of one cluster share alerts, and firing alerts are resent anyway. It
// fails with every error when none did.
func (a *Alertmanager) Send(ctx context.Context, m *Message) error {
	return a.SendAll(ctx, []*Message{m})
}

// SendAll posts ms in one request to every Alertmanager, as Send does for
// one message; the resend of all firing alerts uses it.
func (a *Alertmanager) SendAll(ctx context.Context, ms []*Message) error {
	var alerts []amAlert
	for _, m := range ms {
		alerts = append(alerts, a.alerts(m)...)
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("%w: alertmanager: encode: %v", ErrPermanent, err)
	}
	errs := make([]error, len(a.urls))
	var wg sync.WaitGroup
	for i, u := range a.urls {
		wg.Go(func() { errs[i] = a.post(ctx, u, body) })
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("%w: alertmanager: no URLs configured", ErrPermanent)
	}
	return errors.Join(errs...)
}

func (a *Alertmanager) post(ctx context.Context, base string, body []byte) error {
	target := strings.TrimRight(base, "/") + "/api/v2/alerts"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target,
		bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: alertmanager: %v", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("alerts: alertmanager: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return checkStatus(resp, "alertmanager "+base)
}
