// Package pipeline owns the detector's loop: consume samples from Kafka,
// keep per-series windows, score them in batches with a flow model,
// calibrate scores into p-values, persist anomalies, commit offsets only
// after results are durable, and watch for drift.
package pipeline
