-- Refresh jobs: a detector files one when a group's model has scored long
-- enough past the end of its training data, drift or not.

-- +goose Up
ALTER TABLE retrain_jobs DROP CONSTRAINT retrain_jobs_reason_check;
ALTER TABLE retrain_jobs ADD CONSTRAINT retrain_jobs_reason_check
    CHECK (reason IN ('bootstrap', 'drift', 'manual', 'refresh'));

-- +goose Down
-- The narrower check has no word for them; trainers of that schema treat
-- drift jobs as this one treats refresh jobs (lookback, challenge).
UPDATE retrain_jobs SET reason = 'drift' WHERE reason = 'refresh';
ALTER TABLE retrain_jobs DROP CONSTRAINT retrain_jobs_reason_check;
ALTER TABLE retrain_jobs ADD CONSTRAINT retrain_jobs_reason_check
    CHECK (reason IN ('bootstrap', 'drift', 'manual'));
