-- Alerts: a cursor over anomalies that survives restarts and is shared by
-- every detector, and what incidents need to rebuild their alerts.

-- +goose Up

-- The transaction that wrote each anomaly. bigserial ids are handed out
-- before commit, so a reader following ids alone can pass a row that
-- commits later and never see it. Rows whose xid is below the oldest
-- running transaction (pg_snapshot_xmin) can no longer appear, so the
-- alerts cursor follows (xid, id) and stops at that horizon.
ALTER TABLE anomalies ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX anomalies_xid_id_idx ON anomalies (xid, id);

-- One row per consumer of the anomaly stream. The row is locked while a
-- batch is turned into incidents, and advanced in that same transaction.
CREATE TABLE alert_cursor (
    name       text PRIMARY KEY,
    xid        xid8 NOT NULL DEFAULT '0',
    anomaly_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Anomalies already stored (all stamped with this transaction's id above)
-- are history: the cursor starts after them rather than paging for them.
INSERT INTO alert_cursor (name, xid, anomaly_id)
SELECT 'incidents', pg_current_xact_id(), coalesce(max(id), 0) FROM anomalies;

-- revision counts state changes and makes the message id stable; value and
-- model_version belong to the point with the smallest p-value.
ALTER TABLE incidents
    ADD COLUMN revision      integer NOT NULL DEFAULT 0,
    ADD COLUMN value         double precision[] NOT NULL DEFAULT '{}',
    ADD COLUMN model_version integer NOT NULL DEFAULT 0;
CREATE INDEX incidents_series_idx ON incidents (series_key, first_ts DESC);
CREATE INDEX incidents_opened_at_idx ON incidents (opened_at);

-- A message waits for earlier messages of its incident on the same sink,
-- so a receiver never sees a resolve before its open.
CREATE INDEX alert_outbox_order_idx ON alert_outbox (sink, incident_id, id)
    WHERE state = 'pending';

-- +goose Down
DROP INDEX alert_outbox_order_idx;
DROP INDEX incidents_opened_at_idx;
DROP INDEX incidents_series_idx;
ALTER TABLE incidents
    DROP COLUMN model_version,
    DROP COLUMN value,
    DROP COLUMN revision;
DROP TABLE alert_cursor;
DROP INDEX anomalies_xid_id_idx;
ALTER TABLE anomalies DROP COLUMN xid;
