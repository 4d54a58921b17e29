// Package evaluate replays labelled series through the detector's online
// path and scores the result: the answer to "how good is it on data like
// mine?".
//
// # The online path
//
// Replay feeds a series one row at a time, in order, into a
// timeseries.Series configured by scorer.Features (grid step inferred from
// the probationary rows, short gaps filled, longer ones restarting the
// window, seasonal-lag context). The first rows (NAB's probationary period
// by default) train a model through a Fitter: FlowFitter runs scorer.Fit,
// the service's trainer; ARFitter is a linear autoregression, the baseline
// a single affine flow layer computes. Every later step is scored by the
// model and turned into a surprise -ln p by a Calibration: a conformal
// p-value against held-out scores, with an exponential tail beyond them,
// which also learns from the live scores so that a pattern the series
// shows again and again stops looking rare. A level test (how far the
// value is from the training values' median) joins the point test. The
// Policy pools the last few surprises into a run test, flags points below
// its alpha and opens one incident per sustained anomaly: the first flag
// raises the alarm and carries the full anomaly score, later ones are
// damped. The drift monitor (package drift) watches the model's p-values;
// a drift verdict, and by default also a schedule, refits the model on the
// recent rows, leaving out flagged steps, as the service's trainer does. Nothing a row's score depends on comes
// from a later row.
//
// # Running a folder
//
// Run does this for every file of a folder laid out as NAB's data
// (<category>/<file>.csv), files in parallel, writes one result CSV per
// input file (timestamp,value,anomaly_score) and, given labels, scores the
// folder with package nab, tuning the thresholds or applying saved ones.
package evaluate
