// Package evaluate replays labelled series through the detector's online
// path and scores the result: the answer to "how good is it on data like
// mine?".
//
// # The online path
//
// Replay feeds a series one row at a time, in order, into a
// timeseries.Series configured by the model's scorer.Features (grid step
// inferred from the first rows, short gaps filled, longer ones restarting
// the window, seasonal-lag context). Every stage is the service's own
// code, with the settings named after the service's (Settings):
//
//   - The first rows (NAB's probationary period by default) train the
//     first model with scorer.Fit, as the trainer's bootstrap job does.
//   - Every later step is scored by the scorer.Model: the flow's point
//     score, its p-value against the model's scorer.Calibration (which
//     learns the live scores, as the detector makes it), and the level
//     test joined in.
//   - scorer.Policy flags a point below alpha, or the end of a run of
//     improbable points; alerts.Incidents groups the flags into incidents
//     with the alerts service's rules, and an incident's opening flag is
//     the alarm.
//   - drift.Monitor tests the model's own p-values and the share of values
//     out of range; a settled verdict, or the refresh schedule, runs a
//     retrain job as the trainer would (training.Recent, training.Exclusion
//     and training.Challenge: the candidate is fitted without the newest
//     holdout share and replaces the model only if it beats it there).
//
// Nothing a row's score depends on comes from a later row. Where the
// replay differs from a live service: jobs run at once, where the service
// swaps the new model in when the trainer is done; and time is the series'
// own, also for the cooldowns the service counts in wall time.
//
// The output score of a row is s/(s + Scale) for the surprise s = -ln p of
// its decision, damped inside an incident but at the alarm: NAB rewards
// one early detection per anomaly window.
//
// # Running a folder
//
// Run does this for every file of a folder laid out as NAB's data
// (<category>/<file>.csv), files in parallel, writes one result CSV per
// input file (timestamp,value,anomaly_score) and, given labels, scores the
// folder with package nab, tuning the thresholds or applying saved ones.
package evaluate
