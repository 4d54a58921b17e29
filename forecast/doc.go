// Package forecast samples the futures of a series from the same flow that
// scores it, and evaluates such forecasts.
//
// A forecast of h steps is built by ancestral sampling one step at a time:
// for each of N paths, the newest W-1 steps (observed, then sampled) and
// the context of the next step (its calendar terms and its seasonal-lag
// values, taken from the history or from the path itself) condition one
// draw of the next step from p(x_t | x_<t, c_t), which the time-ordered
// flow gives exactly; the window then slides by one step. Quantiles and
// the mean across paths are reported per step and channel, in the
// series' original units.
//
// The evaluation side holds the sample quantile, the continuous ranked
// probability score (CRPS) estimated from samples, interval coverage, a
// seasonal-naive baseline, and a rolling-origin backtest that compares the
// two on the same origins.
package forecast
