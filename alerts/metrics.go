package alerts

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	namespace = "flowguard"
	subsystem = "alerts"
)

// metrics are the series listed in the package comment.
type metrics struct {
	sent       *prometheus.CounterVec
	failed     *prometheus.CounterVec
	retried    *prometheus.CounterVec
	dead       *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	depth      *prometheus.GaugeVec
	incidents  *prometheus.CounterVec
	suppressed *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: name, Help: help,
		}, []string{label})
	}
	m := &metrics{
		sent:    counter("sent_total", "Alert messages delivered.", "sink"),
		failed:  counter("failed_total", "Delivery attempts that failed.", "sink"),
		retried: counter("retried_total", "Failed messages scheduled for another attempt.", "sink"),
		dead:    counter("dead_total", "Messages given up on after failing.", "sink"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "delivery_latency_seconds",
			Help:    "Time from queueing a message to its delivery.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"sink"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "outbox_depth",
			Help: "Messages waiting for delivery.",
		}, []string{"sink"}),
		incidents:  counter("incident_changes_total", "Incident state changes.", "kind"),
		suppressed: counter("suppressed_total", "Anomalies that opened no incident.", "reason"),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.sent, m.failed, m.retried, m.dead, m.latency,
		m.depth, m.incidents, m.suppressed} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("alerts: register metrics: %w", err)
	}
	return m, nil
}

// forget drops the per-sink series of a sink that stops.
func (m *metrics) forget(sink string) {
	m.depth.DeleteLabelValues(sink)
}
