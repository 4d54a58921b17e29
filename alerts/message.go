package alerts

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/flowguard/flowguard/store"
)

// Message is one alert: a state change of an incident as every sink
// receives it. Webhooks and Kafka get it as JSON in this shape.
type Message struct {
	// ID is stable across retries and the same for every sink: receivers
	// de-duplicate on it. It is "flowguard-<incident>-<revision>".
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Status is "firing" until the incident resolves, then "resolved".
	Status     string `json:"status"`
	IncidentID int64  `json:"incident_id"`
	// Revision counts the incident's state changes, starting at 1.
	Revision int    `json:"revision"`
	Series   string `json:"series"`
	Group    string `json:"model_group"`
	Severity string `json:"severity"`
	// PreviousSeverity is set on updates that changed the severity.
	PreviousSeverity string `json:"previous_severity,omitempty"`
	// FirstTS and LastTS bound the incident's anomalies in series time.
	FirstTS time.Time `json:"first_ts"`
	LastTS  time.Time `json:"last_ts"`
	Points  int       `json:"points"`
	// Value, PValue and ModelVersion belong to the incident's most
	// improbable point; Score is the largest score (nats) of its points.
	Value        []float64 `json:"value"`
	Score        float64   `json:"score"`
	PValue       float64   `json:"p_value"`
	ModelVersion int       `json:"model_version"`
	// OpenedAt and ResolvedAt are wall times.
	OpenedAt   time.Time  `json:"opened_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// DashboardURL links to the series' dashboard page; empty when no
	// dashboard is configured.
	DashboardURL string `json:"dashboard_url,omitempty"`
}

// MessageID is the stable id of revision rev of incident id.
func MessageID(id int64, rev int) string {
	return fmt.Sprintf("flowguard-%d-%d", id, rev)
}

// newMessage describes the incident inc after a change of kind.
func newMessage(kind Kind, inc *store.Incident, prevSeverity, dashboard string) *Message {
	m := &Message{
		ID:           MessageID(inc.ID, inc.Revision),
		Kind:         kind,
		Status:       "firing",
		IncidentID:   inc.ID,
		Revision:     inc.Revision,
		Series:       inc.SeriesKey,
		Group:        inc.ModelGroup,
		Severity:     inc.Severity,
		FirstTS:      inc.FirstTS.UTC(),
		LastTS:       inc.LastTS.UTC(),
		Points:       inc.Points,
		Value:        inc.Value,
		Score:        inc.MaxScore,
		PValue:       inc.MinPValue,
		ModelVersion: inc.ModelVersion,
		OpenedAt:     inc.OpenedAt.UTC(),
		DashboardURL: dashboardLink(dashboard, inc.SeriesKey),
	}
	if prevSeverity != inc.Severity {
		m.PreviousSeverity = prevSeverity
	}
	if inc.ResolvedAt != nil {
		t := inc.ResolvedAt.UTC()
		m.Status, m.ResolvedAt = "resolved", &t
	}
	return m
}

func dashboardLink(base, series string) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/series?key=" + url.QueryEscape(series)
}
