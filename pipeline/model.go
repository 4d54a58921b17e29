package pipeline

import (
	"context"
	"errors"
	"time"
)

// Model scores windows of one model group. The detector calls it from one
// goroutine at a time; a Model is swapped for a new champion between
// batches, never during one.
type Model interface {
	// Version is the model's version within its group, as in the registry.
	Version() int
	// Window is W, the steps of a window. It must equal the detector's
	// scoring.window setting.
	Window() int
	// Channels is C, the values per step.
	Channels() int
	// ContextWidth is the length of one context vector; it must equal the
	// grid's timeseries Config.ContextWidth(C).
	ContextWidth() int
	// Score scores b.N windows and writes N point scores, N p-values and
	// N*W explanation terms into out, whose slices it may grow. It fails
	// only on a broken model or input of the wrong shape, not on an
	// improbable window.
	Score(ctx context.Context, b *Batch, out *Scores) error
}

// Batch is a set of windows, from any series of one group, scored in one
// call.
type Batch struct {
	// N is the number of windows.
	N int
	// W and C are the window shape.
	W, C int
	// Windows holds N windows of W steps of C raw (not normalised) values,
	// oldest step first: window i is Windows[i*W*C:(i+1)*W*C]. The model
	// applies its own normaliser.
	Windows []float64
	// CtxWidth is the width of one context vector (timeseries
	// Config.ContextWidth), 0 when there is no context.
	CtxWidth int
	// Context holds N context vectors of the newest step of each window:
	// calendar terms, then raw seasonal-lag values.
	Context []float64
	// Times holds the time of the newest step of each window.
	Times []time.Time
	// Series holds the series key of each window.
	Series []string
	// Replayed, when not nil, marks the windows whose results an earlier
	// detector already made durable: a restart scores them again to
	// rebuild its state, and a Learner must not learn them twice.
	Replayed []bool
}

// Reset empties b for reuse, keeping its storage.
func (b *Batch) Reset(w, c, ctxWidth int) {
	b.N, b.W, b.C, b.CtxWidth = 0, w, c, ctxWidth
	b.Windows, b.Context = b.Windows[:0], b.Context[:0]
	b.Times, b.Series, b.Replayed = b.Times[:0], b.Series[:0], nil
}

// Scores is what Model.Score returns for a Batch.
type Scores struct {
	// Score[i] is the point score of window i, -log p(x_t | history) of
	// its newest step in nats.
	Score []float64
	// PValue[i] is the p-value of window i that flagging uses: the
	// model's calibration of Score[i], with whatever else the model tests
	// (scorer's level test) combined in.
	PValue []float64
	// Surprise[i] is -ln PValue[i], which keeps points far in the tail
	// apart where the p-value underflows. A model may leave it empty; the
	// detector then takes -ln PValue.
	Surprise []float64
	// PointPValue[i] is the p-value of Score[i] alone, what the drift
	// watch tests for uniformity. A model may leave it empty; the detector
	// then takes PValue.
	PointPValue []float64
	// Explain[i*W+j] is the score term of step j of window i, oldest
	// first; the last term of a window equals its Score.
	Explain []float64
}

// ErrNoModel is returned (wrapped) by a ModelSource when a group has no
// champion yet.
var ErrNoModel = errors.New("pipeline: no model")

// ModelSource loads the current champion of a model group.
type ModelSource interface {
	// Champion returns the group's champion, or an error wrapping
	// ErrNoModel when it has none. Other errors are retried later.
	Champion(ctx context.Context, group string) (Model, error)
}

// JobFiler files a training job for a model group, as store.FileJob does;
// a group that already has an unfinished job keeps that one.
type JobFiler interface {
	FileBootstrap(ctx context.Context, group string, from, to time.Time,
		series []string) error
}

// Learner is a Model whose calibration can learn from the scores it
// computes; the detector sets the limit when it loads the model.
type Learner interface {
	Model
	// Learn sets how many live scores the calibration keeps; 0 learns
	// none.
	Learn(limit int)
	// Live returns the number of live scores learned so far.
	Live() int
	// LiveScores returns the live scores learned so far, oldest first.
	LiveScores() []float64
	// Resume learns scores saved from another process's LiveScores for
	// the same model version, before any score of its own.
	Resume(scores []float64)
}

// CalibrationSource reads the live calibration a detector saved for a
// group's model version (nil when there is none), so that a restarted
// detector resumes learning; *store.Store is one. A ResultWriter that is
// also a CalibrationSource has the detector save each group's live scores
// with its results (DetectorConfig.CalibrationSave).
type CalibrationSource interface {
	LiveCalibration(ctx context.Context, group string, version int) ([]float64, error)
}

// DurableSource tells a starting detector how far each series' results
// are already durable (store.Store.SeriesLastSteps): points up to there
// that it reads again, from the rebuild point its predecessor committed,
// are replays. A ResultWriter that is one has the detector score them
// (to rebuild each series' state) without learning them into the live
// calibration or counting them as new.
type DurableSource interface {
	SeriesLastSteps(ctx context.Context, keys []string) (map[string]time.Time, error)
}
