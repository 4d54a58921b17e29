// Package nab scores anomaly detections against labelled windows by the
// rules of the Numenta Anomaly Benchmark (NAB v1.1), as restated in the
// project's NAB.md: three cost profiles, a probationary period per file, a
// position-dependent weight per row, one threshold per profile tuned over
// all files together, and normalisation to 0..100 between the null detector
// (nothing fires) and the perfect one (every window hit at its left edge).
//
// # Data
//
// Labels map "category/file.csv" to windows of inclusive [first, last]
// timestamps (LoadLabels). A detector's results are one CSV per data file
// with the columns timestamp and anomaly_score, laid out as
// <dir>/<category>/<file>.csv or, as NAB writes them,
// <dir>/<category>/<detector>_<file>.csv with <detector> the base name of
// dir (LoadResults). Timestamps are NAB's "2006-01-02 15:04:05", read as
// UTC, with optional fractional seconds.
//
// # Scoring
//
// NewCorpus checks and prepares the files once. Corpus.Tune picks the best
// threshold of a profile by one sorted sweep over every candidate (1.1 and
// each distinct score after the probationary periods; ties go to the higher
// threshold), and Corpus.ScoreAt scores a fixed threshold, so that a
// threshold tuned on one corpus (saved with SaveThresholds) can be applied
// unchanged to another (LoadThresholds, Corpus.ScoreWith).
//
// # Event-level metrics
//
// Besides the NAB score, every Result carries event counts. A window is hit
// when at least one row inside it is a detection. A false-positive event is
// a maximal run of consecutive detected rows (by row index, after the
// probationary period) that lie outside every window; a run that starts in
// a window and goes on past its right edge counts once as a hit and once as
// a false-positive event. Precision is hits / (hits + false-positive
// events), recall is hits / windows, and F1 their harmonic mean; each is 0
// when its denominator is. The delay of a hit is measured from the window's
// first row to its first detection, in rows and in time.
//
// Corpus values are immutable after NewCorpus and safe for concurrent use.
package nab
