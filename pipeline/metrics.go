package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowguard/flowguard/store"
)

const namespace = "flowguard"

// Metrics holds the Prometheus series of the ingest and scoring stages.
// Build it once with NewMetrics and hand it to both.
//
// TODO(flowguard): a per-series model group gives every series its own
// group label value; label by rule name instead once such groups are used
// at scale.
type Metrics struct {
	ingestMessages *prometheus.CounterVec
	ingestSamples  prometheus.Counter
	decodeFailures *prometheus.CounterVec
	deadLetters    prometheus.Counter

	messages        prometheus.Counter
	rejected        *prometheus.CounterVec
	scored          *prometheus.CounterVec
	unscored        *prometheus.CounterVec
	replayed        *prometheus.CounterVec
	anomalies       *prometheus.CounterVec
	score           prometheus.Histogram
	pValue          prometheus.Histogram
	batchSeconds    prometheus.Histogram
	lag             *prometheus.GaugeVec
	modelVersion    *prometheus.GaugeVec
	liveCalibration *prometheus.GaugeVec
	series          prometheus.Gauge
	pgSeconds       prometheus.Histogram
	pgErrors        prometheus.Counter
	commitErrors    prometheus.Counter

	driftStatistic *prometheus.GaugeVec
	driftEvents    *prometheus.CounterVec
	driftJobs      *prometheus.CounterVec
	refreshJobs    *prometheus.CounterVec
	retrainJobs    *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg; a nil reg
// registers nothing, for tests.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(sub, name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace,
			Subsystem: sub, Name: name, Help: help})
	}
	counterVec := func(sub, name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Subsystem: sub, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace,
			Subsystem: "detector", Name: name, Help: help, Buckets: buckets})
	}
	m := &Metrics{
		ingestMessages: counterVec("ingest", "messages_total",
			"Messages read from the input topics.", "topic"),
		ingestSamples: counter("ingest", "samples_total",
			"Samples decoded and written to the samples topic."),
		decodeFailures: counterVec("ingest", "decode_failures_total",
			"Samples or payloads that could not be decoded, by reason.", "reason"),
		deadLetters: counter("ingest", "dead_letters_total",
			"Messages written to the dead-letter topic."),

		messages: counter("detector", "messages_total",
			"Messages read from the samples topic."),
		rejected: counterVec("detector", "samples_rejected_total",
			"Samples the series grid refused, by reason.", "reason"),
		scored: counterVec("detector", "points_scored_total",
			"Points scored by a model, by model group.", "group"),
		unscored: counterVec("detector", "points_unscored_total",
			"Ready points not scored because their group has no model yet.", "group"),
		replayed: counterVec("detector", "points_replayed_total",
			"Points scored again after a restart whose results were already durable; "+
				"not learned, nor counted as anomalies or in the histograms.", "group"),
		anomalies: counterVec("detector", "anomalies_total",
			"Points flagged (p-value below alpha), by model group.", "group"),
		score: histogram("score_nats", "Point scores, -log p of the newest step, in nats.",
			prometheus.LinearBuckets(-4, 2, 16)),
		pValue: histogram("p_value", "Conformal p-values of scored points.",
			[]float64{1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1}),
		batchSeconds: histogram("batch_seconds",
			"Time from the first message of a batch to its committed offsets.",
			prometheus.ExponentialBuckets(0.001, 2, 14)),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace,
			Subsystem: "detector", Name: "consumer_lag_messages",
			Help: "End offset minus committed offset of the samples topic, per partition."},
			[]string{"topic", "partition"}),
		modelVersion: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace,
			Subsystem: "detector", Name: "model_version",
			Help: "Version of the model in use, per model group."}, []string{"group"}),
		liveCalibration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace,
			Subsystem: "detector", Name: "live_calibration_scores",
			Help: "Live scores learned into the model's calibration, per model group."},
			[]string{"group"}),
		series: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace,
			Subsystem: "detector", Name: "series", Help: "Series held in memory."}),
		pgSeconds: histogram("postgres_write_seconds",
			"Duration of successful result writes to PostgreSQL.",
			prometheus.ExponentialBuckets(0.0005, 2, 14)),
		pgErrors: counter("detector", "postgres_write_errors_total",
			"Failed result writes to PostgreSQL; each is retried."),
		commitErrors: counter("detector", "commit_errors_total",
			"Failed Kafka offset commits; each is retried with the next batch."),
		driftStatistic: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace,
			Subsystem: "detector", Name: "drift_statistic",
			Help: "KS distance from uniform of the last window of p-values, per model group."},
			[]string{"group"}),
		driftEvents: counterVec("detector", "drift_events_total",
			"Drift events recorded, per model group.", "group"),
		driftJobs: counterVec("detector", "drift_jobs_filed_total",
			"Retrain jobs filed for drift, per model group.", "group"),
		refreshJobs: counterVec("detector", "refresh_jobs_filed_total",
			"Retrain jobs filed for a scheduled refresh, per model group.", "group"),
		retrainJobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace,
			Subsystem: "detector", Name: "retrain_jobs",
			Help: "Retrain jobs in the queue by state, as WatchModels last read them."},
			[]string{"state"}),
	}
	if reg != nil {
		reg.MustRegister(m.ingestMessages, m.ingestSamples, m.decodeFailures, m.deadLetters,
			m.messages, m.rejected, m.scored, m.unscored, m.replayed, m.anomalies, m.score,
			m.pValue, m.batchSeconds, m.lag, m.modelVersion, m.liveCalibration, m.series,
			m.pgSeconds, m.pgErrors, m.commitErrors, m.driftStatistic, m.driftEvents,
			m.driftJobs, m.refreshJobs, m.retrainJobs)
	}
	return m
}

// jobStates are the states the retrain jobs gauge always shows.
var jobStates = []string{store.JobPending, store.JobRunning, store.JobDone, store.JobFailed}

// setJobCounts sets the retrain jobs gauge from the queue's counts.
func (m *Metrics) setJobCounts(counts map[string]int) {
	for _, st := range jobStates {
		m.retrainJobs.WithLabelValues(st).Set(float64(counts[st]))
	}
}
