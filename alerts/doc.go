// Package alerts turns anomalies into incidents and delivers their state
// changes through a PostgreSQL outbox to sinks (Alertmanager, webhooks,
// Kafka, logs) without ever blocking the scoring loop.
package alerts
