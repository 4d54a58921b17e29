// Package training runs retrain jobs: claim, replay, fit, compare with the
// champion, promote or reject, notify.
//
// A Worker takes jobs from the queue in PostgreSQL (store.ClaimJob; any
// number of workers share it), replays the job's range of the samples topic,
// and fits a candidate with scorer. A group without a champion gets the
// candidate as champion (bootstrap). Otherwise the newest Holdout share of
// every series is kept out of the candidate's fit, both models score the
// same held-out windows, and the candidate is promoted only if its mean
// point score in raw units is lower than the champion's by Policy.Margin
// nats and its p-values are not markedly worse calibrated (KS statistic,
// Policy.KSTolerance). Either way the version stays in the registry with
// the evaluation in its metrics (see Metrics), the reason in its note, and
// the outcome in the job's details. Promotion notifies
// store.ModelsChannel, on which detectors reload.
//
// Jobs with reason drift train on the most recent data only: the last
// Lookback of the range, or its last LookbackSteps samples per series.
// Points the detectors flagged are left out of training, unless they are
// so many in a series (MaxFlaggedShare) that they are the new behaviour
// the job is meant to learn rather than anomalies.
//
// A Worker registers these metrics (namespace flowguard, subsystem
// trainer):
//
//	flowguard_trainer_jobs{state}                gauge: jobs in the queue
//	flowguard_trainer_jobs_finished_total{reason,outcome}
//	                                             counter: outcome promoted,
//	                                             rejected or stored
//	flowguard_trainer_jobs_failed_total{reason}  counter
//	flowguard_trainer_job_seconds{reason}        histogram: claim to outcome
//	flowguard_trainer_champion_version{group}    gauge: each group's champion
package training
