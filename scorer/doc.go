// Package scorer turns a flow model and the metadata stored with it into
// calibrated point scores.
//
// A Model is a flowmodel.Flow plus its Meta: the window and grid it was
// trained on, the robust normaliser, the context features, and the sorted
// point scores of held-out calibration windows. The point score of the
// newest step x_t of a window is
//
//	s = -log p(x_t | x_<t, c)
//
// in nats, taken from the last column of flowmodel's StepLogProb. Scores
// are in normalised units: they are the density of (x - Loc) / Scale, so
// scores of series with different scales are comparable and the
// calibration scores, computed the same way, give valid p-values. Add
// Meta.LogScale to get the density of the original values.
//
// The p-value of a score is conformal (Vovk, Gammerman and Shafer,
// Algorithmic Learning in a Random World, 2005, ch. 2): with n calibration
// scores,
//
//	p = (1 + #{calibration scores >= s}) / (n + 1)
//
// which is uniform on data like the calibration windows, so flagging when
// p < alpha gives a false alarm rate of at most alpha.
//
// Fit builds windows from series of samples with timeseries' own grid and
// context code, the one the detector runs online, splits them in time into
// training, validation and calibration parts, trains, and calibrates.
package scorer
