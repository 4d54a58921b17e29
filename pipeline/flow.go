package pipeline

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// flowModel adapts a scorer.Model, a trained flow with its normaliser and
// calibration scores, to Model.
type flowModel struct {
	m       *scorer.Model
	version int
	s       scorer.Scores
	norm    timeseries.Normaliser // of the metadata, for Deviation
	ncal    int
}

var _ Model = (*flowModel)(nil)

// FlowModel wraps m as version of its group after checking that its
// features produce the same windows as grid: window, step, gap filling,
// calendar and lags must agree, or scores would be computed on windows
// the model was not trained on.
func FlowModel(m *scorer.Model, version int, grid timeseries.Config) (Model, error) {
	f := m.Meta().Features
	fill := timeseries.FillLinear // scorer's Features.SeriesConfig fills linearly
	switch {
	case f.Window != grid.Window || f.Step != grid.Step || f.MaxFill != grid.MaxFill:
		return nil, fmt.Errorf("pipeline: model grid window %d step %v fill %d, detector "+
			"grid window %d step %v fill %d", f.Window, f.Step, f.MaxFill, grid.Window,
			grid.Step, grid.MaxFill)
	case f.MaxFill > 0 && grid.Fill != fill:
		return nil, fmt.Errorf("pipeline: model fills gaps linearly, the detector does not")
	case f.Calendar != grid.Calendar || !slices.Equal(f.Lags, grid.Lags):
		return nil, fmt.Errorf("pipeline: model context (calendar %t, lags %v) differs from "+
			"the detector's (calendar %t, lags %v)", f.Calendar, f.Lags, grid.Calendar,
			grid.Lags)
	}
	meta := m.Meta()
	return &flowModel{m: m, version: version, norm: meta.Norm,
		ncal: len(meta.Calibration)}, nil
}

// FlowDecoder returns a Registry.Decode for model files written by
// scorer.Model.Encode, checked against grid.
func FlowDecoder(grid timeseries.Config) func(artifact []byte, version int) (Model, error) {
	return func(artifact []byte, version int) (Model, error) {
		m, err := scorer.Decode(artifact)
		if err != nil {
			return nil, err
		}
		return FlowModel(m, version, grid)
	}
}

func (f *flowModel) Version() int      { return f.version }
func (f *flowModel) Window() int       { return f.m.Meta().Features.Window }
func (f *flowModel) Channels() int     { return f.m.Meta().Features.Channels }
func (f *flowModel) ContextWidth() int { return f.m.Meta().Features.ContextWidth() }

// Score implements Model. The result slices alias the adapter's buffers
// until the next call.
func (f *flowModel) Score(_ context.Context, b *Batch, out *Scores) error {
	n := b.N * b.W * b.C
	err := f.m.Score(&f.s, b.Windows[:n], b.Context[:b.N*b.CtxWidth])
	out.Score, out.PValue, out.Explain = f.s.Score, f.s.P, f.s.Steps
	out.Surprise, out.PointPValue = f.s.Surprise, f.s.PointP
	// Learning after scoring: a window is judged against what came
	// before it, never against itself.
	f.m.Calibration().Add(f.s.Score...)
	return err
}

var _ Learner = (*flowModel)(nil)

// Learn implements Learner.
func (f *flowModel) Learn(limit int) { f.m.Calibration().Learn(limit) }

var _ DriftModel = (*flowModel)(nil)

// Deviation implements DriftModel with the model's normaliser: the robust
// location and scale (median, 1.4826 MAD) of its training data.
//
// TODO(flowguard): scorer.Meta records no range of the training values;
// with one, out-of-range could mean outside [min, max] instead of a
// z-score beyond DriftConfig.MaxDeviation.
func (f *flowModel) Deviation(value []float64) float64 {
	n := f.norm
	var dev float64
	for c, x := range value[:min(len(value), len(n.Loc))] {
		dev = max(dev, math.Abs(x-n.Loc[c])/n.Scale[c])
	}
	return dev
}

// CalibrationSize implements DriftModel.
func (f *flowModel) CalibrationSize() int { return f.ncal }
