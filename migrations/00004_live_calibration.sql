-- Live calibration: the scores each model group's champion has learned
-- into its calibration while scoring (scorer.Calibration.Add), saved with
-- the detector's results so that a restarted detector resumes learning
-- instead of starting from the held-out scores alone. One row per group;
-- it belongs to the champion version that learned it.

-- +goose Up
CREATE TABLE live_calibration (
    model_group   text PRIMARY KEY,
    model_version integer NOT NULL,
    scores        float8[] NOT NULL,
    saved_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE live_calibration;
