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
	// Score judges the newest step of a raw window given its raw context
	// vector, as timeseries.Series.WindowAt and ContextAt write them, and
	// then learns its score into the live calibration (see Learn).
	Score(window, context []float64) (Verdict, error)
	// Learn sets how many live scores the calibration keeps; 0, the
	// default, learns none.
	Learn(limit int)
}

// Verdict is a Model's judgement of one point.
type Verdict struct {
	// Surprise is -ln p of the point's p-value, the level test included
	// (scorer.Scores.Surprise).
	Surprise float64
	// PointP is the model's own p-value of the point (scorer.Scores.PointP),
	// which the drift monitor watches.
	PointP float64
}
