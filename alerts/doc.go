// Package alerts turns anomalies into incidents and delivers their state
// changes through a PostgreSQL outbox to sinks (Alertmanager, webhooks,
// Kafka, logs) without ever blocking the scoring loop.
//
// # Incidents
//
// A Service reads the anomaly rows the detector writes, in batches, and
// groups each series' anomalies into incidents. Grouping runs in series
// time (the anomalies' timestamps), so a replay groups as the live stream
// did:
//
//   - an anomaly within gap of an open incident's span joins it;
//   - one further away resolves the incident and may open a new one;
//   - an incident resolves when its series' time (series.last_ts) passes
//     its last point by more than gap and no anomaly waiting to be read
//     could still join it, or, for a series that went quiet, after
//     silent_resolve of wall time without a new point;
//   - the severity is critical when the smallest p-value is at most
//     critical_p_value, warning otherwise; an update is sent when it rises;
//   - an anomaly opens an incident alone when its p-value is at most
//     open_p_value, or with the run_length-1 anomalies before it (each
//     within gap of the next) when their Fisher-combined p-value is at most
//     run_p_value, so a sustained shift pages although no point is extreme;
//   - after a resolve, the series opens nothing for cooldown of series
//     time; a series opens at most series_rate_limit incidents per
//     series_rate_window of series time, all series together at most
//     global_rate_limit per global_rate_window of wall time. Anomalies
//     that open nothing stay in the anomalies table and are counted.
//
// # Exactly once, across restarts and detectors
//
// One transaction locks the cursor row (alert_cursor, SKIP LOCKED: a
// second detector skips its turn instead of waiting), reads the anomalies
// after the cursor, writes the incident changes and one outbox row per
// routed sink for each change, and moves the cursor. The cursor follows
// (transaction id, row id) and stops below the oldest running transaction,
// so an anomaly whose id was handed out before a later one's but committed
// after it is never skipped. Transaction ids are server-wide, so a
// long-running write transaction in any database of the PostgreSQL server
// delays incidents (not scoring) until it ends.
//
// # Delivery
//
// One goroutine per sink claims due outbox rows in id order (SKIP LOCKED,
// with a lease so that a crashed worker's rows come back), holding back a
// row while an earlier row of its incident for that sink is pending, so a
// receiver never sees a resolve before its open. A failed send is retried
// after base*2^(attempts-1), capped at backoff_max, with equal jitter; the
// rest of the batch waits with it, uncounted. After max_attempts, or at
// once when the sink wraps ErrPermanent, the row is marked dead and kept.
// Delivery is at least once; Message.ID ("flowguard-<incident>-<revision>")
// is stable across retries and sinks, so receivers can de-duplicate.
//
// While a sink fails, its worker probes it with one message per backoff
// instead of claiming batches, so an outage costs the database almost
// nothing however long the backlog grows.
//
// Scoring and alerts share only the database: the Service runs in its own
// goroutines and transactions, and a sink that is slow or down only makes
// its outbox rows wait. Give it a Store of its own (a second, small pool)
// to keep it off the scoring loop's connections too.
//
// # Sinks
//
// A Sink delivers one Message. The package has four:
//
//   - Alertmanager posts to /api/v2/alerts of every configured URL, with
//     labels alertname, series, model_group, incident_id and severity, and
//     annotations summary, value, score, p_value, model_version, first_ts,
//     last_ts, message_id and dashboard. Firing alerts carry endsAt = now +
//     4 x resend and are resent every resend interval while open, as
//     Prometheus does; a resolve carries endsAt = the resolve time.
//   - Webhook posts the Message as JSON. With a secret it adds the headers
//     Flowguard-Timestamp (Unix seconds) and Flowguard-Signature
//     ("sha256=" + hex HMAC-SHA256 of timestamp + "." + body); see Sign.
//   - Kafka writes the Message as JSON, key = series, through kafka-go.
//   - Log writes it to a slog.Logger.
//
// Routes map a model group to sink names; "*" serves the other groups.
//
// # Metrics
//
// With a Registerer, New registers (namespace flowguard, subsystem alerts):
//
//	flowguard_alerts_sent_total{sink}               messages delivered
//	flowguard_alerts_failed_total{sink}             failed attempts
//	flowguard_alerts_retried_total{sink}            failures scheduled again
//	flowguard_alerts_dead_total{sink}               messages given up on
//	flowguard_alerts_delivery_latency_seconds{sink} queueing to delivery
//	flowguard_alerts_outbox_depth{sink}             messages pending
//	flowguard_alerts_incident_changes_total{kind}   open, update, resolve
//	flowguard_alerts_suppressed_total{reason}       weak, late, cooldown,
//	                                                series_rate, global_rate
package alerts
