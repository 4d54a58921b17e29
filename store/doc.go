// Package store owns every SQL statement of flowguard: the pgx connection
// pool, the migrations runner and the typed reads and writes of series,
// models, anomalies, incidents, the alert outbox, retrain jobs and drift
// events. No other package builds SQL.
package store
