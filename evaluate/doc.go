// Package evaluate replays labelled series through the detector's online
// path and scores the result: the answer to "how good is it on data like
// mine?".
//
// Every series is fed one row at a time, in order, into a timeseries.Series
// (windows, calendar and seasonal-lag context). The first rows (NAB's
// probationary period by default) fit a robust normaliser and a model
// (Trainer); every later row is scored by the model, turned into a
// conformal p-value against held-out calibration scores (Calibration), fed
// to the drift monitor (package drift) and to the alarm policy (Policy),
// which turns a run of improbable points into one early alarm and gives the
// row its anomaly score in [0, 1]. When the drift monitor fires, the model
// is refitted on recent rows, leaving out the rows the policy flagged, as
// the service's trainer would. Nothing a row's score depends on comes from
// a later row.
//
// Run does this for a folder laid out as NAB's data, writes one result CSV
// per input file and, given labels, scores the whole folder with package
// nab.
package evaluate
