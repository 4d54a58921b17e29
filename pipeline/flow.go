package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// flowModel adapts a scorer.Model, a trained flow with its normaliser and
// calibration scores, to Model.
type flowModel struct {
	m       *scorer.Model
	version int
	s       scorer.Scores
	ncal    int
	// pick maps the model's context columns to the grid's: column j of the
	// model's vector is column pick[j] of the grid's. Nil when they are the
	// same columns.
	pick  []int
	width int       // the grid's context width
	ctx   []float64 // the batch's context vectors, the model's columns
	learn []float64 // the batch's scores that are not replays
}

var _ Model = (*flowModel)(nil)

// FlowModel wraps m as version of its group after checking that its
// features produce the same windows as grid: window, step, gap filling
// and calendar must agree, or scores would be computed on windows the
// model was not trained on. The grid's lags are offered ones (scorer.Fit
// keeps those its data support): the model's lags must be among them, in
// the grid's order and at the grid's lag resolution, and the adapter then
// hands the model its own columns of the grid's context vectors.
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
	}
	pick, err := contextColumns(f, grid)
	if err != nil {
		return nil, err
	}
	meta := m.Meta()
	return &flowModel{m: m, version: version, ncal: len(meta.Calibration), pick: pick,
		width: grid.ContextWidth(f.Channels)}, nil
}

// contextColumns returns, for each column of f's context vectors, its
// column in grid's, or nil when the two are the same: calendar terms
// first, then C values per lag (timeseries Series.ContextAt).
func contextColumns(f scorer.Features, grid timeseries.Config) ([]int, error) {
	refuse := func(why string) error {
		return fmt.Errorf("pipeline: model context (calendar %t, lags %v) does not fit "+
			"the detector's (calendar %t, lags %v): %s", f.Calendar, f.Lags, grid.Calendar,
			grid.Lags, why)
	}
	if f.Calendar != grid.Calendar {
		return nil, refuse("calendars differ")
	}
	// A lag value is the mean of a bucket of the lag history: another
	// bucket width gives other values.
	if len(f.Lags) > 0 &&
		lagResolution(f.LagResolution, f.Step) != lagResolution(grid.LagResolution, grid.Step) {
		return nil, refuse("lag resolutions differ")
	}
	if slices.Equal(f.Lags, grid.Lags) {
		return nil, nil
	}
	c, cal := f.Channels, 0
	pick := make([]int, 0, f.ContextWidth())
	if f.Calendar {
		cal = timeseries.CalendarWidth
		for j := range cal {
			pick = append(pick, j)
		}
	}
	next := 0 // the grid's lags before next are used or passed over
	for _, l := range f.Lags {
		k := slices.Index(grid.Lags[next:], l)
		if k < 0 {
			return nil, refuse(fmt.Sprintf("the detector does not offer lag %v in this order",
				l))
		}
		next += k + 1
		for ch := range c {
			pick = append(pick, cal+(next-1)*c+ch)
		}
	}
	return pick, nil
}

func lagResolution(res, step time.Duration) time.Duration {
	if res > 0 {
		return res
	}
	return step
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
func (f *flowModel) ContextWidth() int { return f.width }

// Score implements Model. The result slices alias the adapter's buffers
// until the next call.
func (f *flowModel) Score(_ context.Context, b *Batch, out *Scores) error {
	n := b.N * b.W * b.C
	ctx := b.Context[:b.N*b.CtxWidth]
	if f.pick != nil {
		// scoreGroup has checked that b.CtxWidth is f.width.
		ctx = f.columns(ctx, b.N)
	}
	err := f.m.Score(&f.s, b.Windows[:n], ctx)
	out.Score, out.PValue, out.Explain = f.s.Score, f.s.P, f.s.Steps
	out.Surprise, out.PointPValue = f.s.Surprise, f.s.PointP
	// Learning after scoring: a window is judged against what came
	// before it, never against itself.
	if b.Replayed == nil {
		f.m.Calibration().Add(f.s.Score...)
	} else {
		f.learn = f.learn[:0]
		for i, s := range f.s.Score[:b.N] {
			if !b.Replayed[i] {
				f.learn = append(f.learn, s)
			}
		}
		f.m.Calibration().Add(f.learn...)
	}
	return err
}

// columns copies the model's columns of n grid context vectors into the
// adapter's buffer.
func (f *flowModel) columns(grid []float64, n int) []float64 {
	w := len(f.pick)
	f.ctx = slices.Grow(f.ctx[:0], n*w)[:n*w]
	for i := range n {
		row, dst := grid[i*f.width:(i+1)*f.width], f.ctx[i*w:(i+1)*w]
		for j, k := range f.pick {
			dst[j] = row[k]
		}
	}
	return f.ctx
}

var _ Learner = (*flowModel)(nil)

// Learn implements Learner.
func (f *flowModel) Learn(limit int) { f.m.Calibration().Learn(limit) }

// Live implements Learner.
func (f *flowModel) Live() int { return f.m.Calibration().Live() }

// LiveScores implements Learner.
func (f *flowModel) LiveScores() []float64 { return f.m.Calibration().LiveScores() }

// Resume implements Learner.
func (f *flowModel) Resume(scores []float64) { f.m.Calibration().Add(scores...) }

var _ DriftModel = (*flowModel)(nil)

// Deviation implements DriftModel with scorer.Model.Deviation, the rule
// the offline evaluation applies too: robust scales beyond the range of
// the model's training values (from the centre for model files written
// before scorer.Meta.Range).
func (f *flowModel) Deviation(value []float64) float64 { return f.m.Deviation(value) }

// CalibrationSize implements DriftModel.
func (f *flowModel) CalibrationSize() int { return f.ncal }
