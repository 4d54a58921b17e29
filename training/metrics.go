package training

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowguard/flowguard/store"
)

const (
	namespace = "flowguard"
	subsystem = "trainer"
)

// Outcomes of a finished job, as the outcome label.
const (
	outcomePromoted = "promoted"
	outcomeRejected = "rejected"
	// outcomeStored is a candidate kept without a decision: a bootstrap
	// that lost the race for the first champion to another trainer.
	outcomeStored = "stored"
)

// metrics are the series listed in the package comment.
type metrics struct {
	jobs     *prometheus.GaugeVec
	finished *prometheus.CounterVec
	failed   *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	version  *prometheus.GaugeVec
	// groups are the groups the version gauge shows.
	groups map[string]bool
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace,
			Subsystem: subsystem, Name: "jobs", Help: "Retrain jobs in the queue, by state."},
			[]string{"state"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Subsystem: subsystem, Name: "jobs_finished_total",
			Help: "Retrain jobs this trainer finished, by reason and outcome."},
			[]string{"reason", "outcome"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Subsystem: subsystem, Name: "jobs_failed_total",
			Help: "Retrain jobs this trainer gave up on, by reason."}, []string{"reason"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace,
			Subsystem: subsystem, Name: "job_seconds",
			Help:    "Time from claiming a job to its outcome, replay and training included.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}, []string{"reason"}),
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace,
			Subsystem: subsystem, Name: "champion_version",
			Help: "Version of the champion of each model group."}, []string{"group"}),
		groups: map[string]bool{},
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.jobs, m.finished, m.failed, m.seconds,
		m.version} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("training: register metrics: %w", err)
	}
	return m, nil
}

// jobStates are the states the jobs gauge always shows, zero included.
var jobStates = []string{store.JobPending, store.JobRunning, store.JobDone, store.JobFailed}

// setJobs sets the jobs gauge from the queue's counts.
func (m *metrics) setJobs(counts map[string]int) {
	for _, st := range jobStates {
		m.jobs.WithLabelValues(st).Set(float64(counts[st]))
	}
}

// setChampions sets the version gauge from the registry's champions,
// dropping groups that no longer have one.
func (m *metrics) setChampions(versions map[string]int) {
	for g := range m.groups {
		if _, ok := versions[g]; !ok {
			m.version.DeleteLabelValues(g)
			delete(m.groups, g)
		}
	}
	for g, v := range versions {
		m.version.WithLabelValues(g).Set(float64(v))
		m.groups[g] = true
	}
}
