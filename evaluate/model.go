package evaluate

import (
	"context"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// Fitter fits a model to the recent samples of one series, as the trainer
// does for the service. Implementations must be safe for concurrent use by
// several series.
type Fitter interface {
	// Fit trains on samples (one series, in time order) with the grid and
	// context of f, leaving out every window that holds a step for which
	// exclude reports true. It fails when the data is too short.
	Fit(ctx context.Context, samples []timeseries.Sample, f scorer.Features,
		exclude func(time.Time) bool) (Model, error)
}

// Model scores windows of one series. A Model is used by one goroutine at
// a time.
type Model interface {
	// Score returns the point score of the newest step of a raw window
	// given its raw context vector, as timeseries.Series.WindowAt and
	// ContextAt write them: -log p(x_t | x_<t, context) in normalised
	// units, up to a constant that is the same for every window.
	Score(window, context []float64) (float64, error)
	// Calibration returns the scores of held-out windows the model did not
	// fit, from which p-values are computed. The caller must not modify it.
	Calibration() []float64
}
