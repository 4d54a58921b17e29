package evaluate

import (
	"context"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// FlowFitter fits the service's model: a time-ordered normalizing flow
// with its calibration, by scorer.Fit.
type FlowFitter struct {
	// Spec overrides the flow's shape. Zero Hidden and Layers take 32
	// and 3, scorer's choice for short data, whatever the data length:
	// evaluation retrains often and on a few thousand rows at most. An
	// empty LayerType takes affine layers, not scorer's splines: on NAB's
	// development subset the splines, identity beyond their tail bound,
	// hardly notice the level shifts of the artificial files (see
	// BENCHMARKS.md).
	Spec flowmodel.Spec
	// Train overrides the training options; zero Epochs, Patience and
	// BatchSize take 100, 15 and 64.
	Train flowmodel.TrainOptions
	// Seed fixes the weights and the minibatch order.
	Seed uint64
}

var _ Fitter = FlowFitter{}

type flowModel struct {
	m  *scorer.Model
	sc scorer.Scores
}

// Fit implements Fitter.
func (f FlowFitter) Fit(ctx context.Context, samples []timeseries.Sample,
	feat scorer.Features, exclude func(time.Time) bool) (Model, error) {
	f = f.withDefaults()
	cal := scorer.Off
	if feat.Calendar {
		cal = scorer.On
	}
	opt := scorer.Options{Step: feat.Step, Window: feat.Window, MaxFill: feat.MaxFill,
		Calendar: cal, TimeZone: feat.TimeZone, Lags: feat.Lags, Spec: f.Spec,
		Train: f.Train, Seed: f.Seed}
	if exclude != nil {
		opt.Exclude = func(_ timeseries.SeriesID, t time.Time) bool { return exclude(t) }
	}
	m, err := scorer.Fit(ctx, [][]timeseries.Sample{samples}, opt)
	if err != nil {
		return nil, err
	}
	return &flowModel{m: m}, nil
}

func (m *flowModel) Score(window, ctx []float64) (Verdict, error) {
	err := m.m.Score(&m.sc, window, ctx)
	m.m.Calibration().Add(m.sc.Score[0])
	return Verdict{Surprise: m.sc.Surprise[0], PointP: m.sc.PointP[0]}, err
}

func (m *flowModel) Learn(limit int) { m.m.Calibration().Learn(limit) }

func (f FlowFitter) withDefaults() FlowFitter {
	if f.Spec.Hidden == 0 {
		f.Spec.Hidden = 32
	}
	if f.Spec.Layers == 0 {
		f.Spec.Layers = 3
	}
	if f.Spec.LayerType == "" {
		f.Spec.LayerType = flowmodel.LayerAffine
	}
	if f.Train.Epochs == 0 {
		f.Train.Epochs = 100
	}
	if f.Train.Patience == 0 {
		f.Train.Patience = 15
	}
	if f.Train.BatchSize == 0 {
		f.Train.BatchSize = 64
	}
	return f
}
