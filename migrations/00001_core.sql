-- Core tables of flowguard. Unique keys make every write from the stream
-- idempotent, so a replay after a crash adds nothing twice.

-- +goose Up
CREATE TABLE series (
    key         text PRIMARY KEY,
    name        text NOT NULL,
    labels      jsonb NOT NULL DEFAULT '{}',
    model_group text NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    last_ts     timestamptz,
    last_score  double precision,
    last_p_value double precision
);
CREATE INDEX series_model_group_idx ON series (model_group);

-- Every model version ever trained is kept; at most one champion per group.
CREATE TABLE models (
    id          bigserial PRIMARY KEY,
    model_group text NOT NULL,
    version     integer NOT NULL,
    state       text NOT NULL DEFAULT 'candidate'
                CHECK (state IN ('candidate', 'champion', 'retired', 'rejected')),
    spec        jsonb NOT NULL,
    artifact    bytea NOT NULL,
    metrics     jsonb NOT NULL DEFAULT '{}',
    train_from  timestamptz,
    train_to    timestamptz,
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    promoted_at timestamptz,
    UNIQUE (model_group, version)
);
CREATE UNIQUE INDEX models_one_champion_idx ON models (model_group)
    WHERE state = 'champion';

-- One row per flagged point; (series_key, ts) is the idempotency key.
CREATE TABLE anomalies (
    id              bigserial PRIMARY KEY,
    series_key      text NOT NULL,
    model_group     text NOT NULL,
    ts              timestamptz NOT NULL,
    value           double precision[] NOT NULL,
    score           double precision NOT NULL,
    p_value         double precision NOT NULL,
    model_version   integer NOT NULL,
    explanation     double precision[] NOT NULL DEFAULT '{}',
    kafka_topic     text NOT NULL DEFAULT '',
    kafka_partition integer NOT NULL DEFAULT -1,
    kafka_offset    bigint NOT NULL DEFAULT -1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (series_key, ts)
);
CREATE INDEX anomalies_ts_idx ON anomalies (ts);

CREATE TABLE incidents (
    id          bigserial PRIMARY KEY,
    series_key  text NOT NULL,
    model_group text NOT NULL,
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    severity    text NOT NULL DEFAULT 'warning',
    first_ts    timestamptz NOT NULL,
    last_ts     timestamptz NOT NULL,
    points      integer NOT NULL DEFAULT 1,
    min_p_value double precision NOT NULL,
    max_score   double precision NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (series_key, first_ts)
);
CREATE UNIQUE INDEX incidents_one_open_idx ON incidents (series_key)
    WHERE state = 'open';

-- Alert state changes, written in the incident's transaction and delivered
-- at least once by a worker; message_id is stable so receivers can dedupe.
CREATE TABLE alert_outbox (
    id              bigserial PRIMARY KEY,
    message_id      text NOT NULL,
    incident_id     bigint NOT NULL REFERENCES incidents (id),
    sink            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('open', 'update', 'resolve')),
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (message_id, sink)
);
CREATE INDEX alert_outbox_due_idx ON alert_outbox (next_attempt_at)
    WHERE state = 'pending';

-- Training work for trainers, claimed with FOR UPDATE SKIP LOCKED. At most
-- one unfinished job per group, so drift cannot file a second one.
CREATE TABLE retrain_jobs (
    id          bigserial PRIMARY KEY,
    model_group text NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('bootstrap', 'drift', 'manual')),
    state       text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'running', 'done', 'failed')),
    range_from  timestamptz,
    range_to    timestamptz,
    details     jsonb NOT NULL DEFAULT '{}',
    attempts    integer NOT NULL DEFAULT 0,
    claimed_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at  timestamptz,
    finished_at timestamptz,
    error       text NOT NULL DEFAULT '',
    model_id    bigint REFERENCES models (id)
);
CREATE UNIQUE INDEX retrain_jobs_one_open_idx ON retrain_jobs (model_group)
    WHERE state IN ('pending', 'running');

CREATE TABLE drift_events (
    id                 bigserial PRIMARY KEY,
    model_group        text NOT NULL,
    model_version      integer NOT NULL,
    detected_at        timestamptz NOT NULL DEFAULT now(),
    statistic          double precision NOT NULL,
    threshold          double precision NOT NULL,
    window_size        integer NOT NULL,
    out_of_range_share double precision NOT NULL DEFAULT 0,
    reason             text NOT NULL,
    job_id             bigint REFERENCES retrain_jobs (id)
);

-- +goose Down
DROP TABLE drift_events;
DROP TABLE retrain_jobs;
DROP TABLE alert_outbox;
DROP TABLE incidents;
DROP TABLE anomalies;
DROP TABLE models;
DROP TABLE series;
