// Package pipeline owns the detector's loop: consume samples from Kafka,
// keep per-series windows, score them in batches with a flow model,
// calibrate scores into p-values, persist anomalies, and commit offsets
// only after results are durable.
//
// # Stages
//
// Ingest reads the input topics in a consumer group, decodes payloads with
// a timeseries.Decoder, and writes each sample, in canonical JSON and keyed
// by its series key, to the samples topic; payloads that fail to decode go
// to the dead-letter topic with the reason and source position in headers
// (HeaderErrorKind and the others). Input offsets are committed after both
// writes are acknowledged. Kafka keeps order only within a partition, so a
// series stays in time order only if its producer keys every message by
// series; the samples of one batch are written in time order, which mends
// unkeyed input only as far as one batch reaches.
//
// Detector reads the samples topic in another consumer group, so a series
// lives on one detector and N detectors share the partitions. Per
// partition it keeps a timeseries.Partition; the windows completed by a
// micro-batch are scored per model group in one Model.Score call, points
// with a p-value below the group's alpha are written as anomalies, with the
// series rows, through a ResultWriter, and only then are offsets
// committed. Samples the grid refuses, such as those older than their
// series' newest by more than its lateness, are counted by reason, and
// the first of each reason is logged with what to do about it. Gap-filled
// steps are neither scored nor flagged; a group without a model counts its
// points as unscored and, after DetectorConfig.Bootstrap of them, files a
// training job.
//
// # Delivery
//
// Offsets are committed at each partition's rebuild position: the oldest
// offset whose sample still shapes a live series' window. A detector that
// restarts, or takes a partition over in a rebalance, replays from there,
// rebuilds every window and scores the following points as an
// uninterrupted run would; anomalies are keyed by (series, time), so the
// points scored twice are stored once. A failed PostgreSQL write is retried
// with backoff and holds every commit until it succeeds. Seasonal-lag
// context and self-fitted normalisers reach further back than the window
// and are not rebuilt this way.
//
// # Drift
//
// With DetectorConfig.Drift enabled, each model group's scored points feed
// a drift.Monitor: their p-values, tested against the uniform distribution
// by a KS statistic over a sliding window, and whether each value lies
// more than DriftConfig.MaxDeviation robust scales beyond the range of the
// model's training values (DriftModel). Conformal p-values are uniform
// only on average over calibration sets, so the test's level is corrected
// to a two-sample test against the model's calibration scores. A verdict waits SettleSteps of
// event time, so the retrain job holds data of the new behaviour, then is
// recorded through a DriftFiler (store.RecordDrift via Registry): one
// drift event and one retrain job with reason drift and DriftDetails,
// unless the group is in its cool-down or already has an unfinished job.
// A model swap starts the watch afresh.
//
// # Live state
//
// Detector.RecentValues (a dashboard.RecentValues) and
// Detector.ForecastInput (a forecast.Source) read the detector's live
// state from any goroutine: a copy of each series' newest
// DetectorConfig.RecentSteps grid steps, gap-filled ones included, taken
// once per batch after its results are durable, and a clone of every
// group's champion that the scoring loop never uses. A series costs
// RecentSteps*(8+8*C) bytes, 4.7 KB for one channel at the default 288.
//
// # Metrics
//
// NewMetrics registers, under the flowguard namespace:
//
//	ingest_messages_total{topic}             input messages read
//	ingest_samples_total                     samples written to the samples topic
//	ingest_decode_failures_total{reason}     bad samples or payloads, by timeseries.Kind
//	ingest_dead_letters_total                messages sent to the dead-letter topic
//	detector_messages_total                  samples-topic messages read
//	detector_samples_rejected_total{reason}  samples the grid refused (too_late, ...)
//	detector_points_scored_total{group}      points scored by a model
//	detector_points_unscored_total{group}    ready points without a model
//	detector_anomalies_total{group}          points flagged
//	detector_score_nats                      histogram of point scores
//	detector_p_value                         histogram of p-values
//	detector_batch_seconds                   batch time, first message to commit
//	detector_consumer_lag_messages{topic,partition}  end minus committed offset
//	detector_model_version{group}            version of the model in use
//	detector_series                          series held in memory
//	detector_postgres_write_seconds          successful result writes
//	detector_postgres_write_errors_total     failed result writes (retried)
//	detector_commit_errors_total             failed offset commits (retried)
//	detector_drift_statistic{group}          KS distance of the last window of p-values
//	detector_drift_events_total{group}       drift events recorded
//	detector_drift_jobs_filed_total{group}   retrain jobs filed for drift
//	detector_retrain_jobs{state}             retrain jobs by state, read every WatchModels poll
//
// The trainer exports the same count as flowguard_trainer_jobs{state}
// (package training), from its own process.
package pipeline
