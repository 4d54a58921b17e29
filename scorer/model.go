package scorer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/flowguard/flowguard/flowmodel"
)

// Model is a trained flow with its metadata. It holds scoring buffers, so
// one Model is used by one goroutine at a time; Clone gives another
// goroutine its own.
type Model struct {
	flow  *flowmodel.Flow
	meta  Meta
	cal   *Calibration
	level *Calibration // nil without Meta.Level

	xn, cn []float64 // normalised copies of the batch
	steps  []float64 // log-densities from StepLogProb
}

// New pairs a flow with its metadata, checking that they agree.
func New(flow *flowmodel.Flow, meta Meta) (*Model, error) {
	if err := meta.validate(); err != nil {
		return nil, err
	}
	spec := flow.Spec()
	f := meta.Features
	if !spec.TimeOrdered() {
		return nil, errors.New("scorer: flow is not time-ordered: no per-step scores")
	}
	if spec.Window != f.Window || spec.Channels != f.Channels ||
		spec.Context != f.ContextWidth() {
		return nil, fmt.Errorf("scorer: flow is %d x %d with context %d, metadata says "+
			"%d x %d with context %d", spec.Window, spec.Channels, spec.Context,
			f.Window, f.Channels, f.ContextWidth())
	}
	m := &Model{flow: flow, meta: meta}
	var err error
	if m.cal, err = NewCalibration(meta.Calibration); err != nil {
		return nil, err
	}
	if len(meta.Level) > 0 {
		if m.level, err = NewCalibration(meta.Level); err != nil {
			return nil, fmt.Errorf("scorer: level %w", err)
		}
	}
	return m, nil
}

// Meta returns the model's metadata. The Calibration slice is shared with
// the model and must not be changed.
func (m *Model) Meta() Meta { return m.meta }

// Flow returns the underlying flow, for forecasting and sampling. It shares
// the model's buffers: do not use it while the model is scoring.
func (m *Model) Flow() *flowmodel.Flow { return m.flow }

// Calibration returns the calibration behind the model's p-values, to
// make it learn from live scores (Calibration.Learn and Add).
func (m *Model) Calibration() *Calibration { return m.cal }

// Clone returns a copy of m with its own flow, calibration and buffers,
// for use by another goroutine. Metadata is shared read-only.
func (m *Model) Clone() *Model {
	c := &Model{flow: m.flow.Clone(), meta: m.meta, cal: m.cal.Clone()}
	if m.level != nil {
		c.level = m.level.Clone()
	}
	return c
}

// Encode returns the model file: the flow in flowmodel's format with the
// JSON of Meta as its metadata.
func (m *Model) Encode() ([]byte, error) {
	meta, err := json.Marshal(m.meta)
	if err != nil {
		return nil, fmt.Errorf("scorer: encode metadata: %w", err)
	}
	var b bytes.Buffer
	if err := m.flow.Save(&b, meta); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Decode reads a model file written by Encode. Errors from the file format
// wrap flowmodel's (ErrNotModel, ErrChecksum and so on); bad metadata gives
// a scorer error.
func Decode(b []byte) (*Model, error) {
	flow, raw, err := flowmodel.Load(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("scorer: decode: %w", err)
	}
	var meta Meta
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return nil, fmt.Errorf("scorer: decode metadata: %w", err)
	}
	return New(flow, meta)
}

// Scores receives the results of scoring a batch of n windows. Its slices
// are resized and reused by every call, so a caller that keeps one Scores
// per batch loop does not allocate.
type Scores struct {
	// Score holds n point scores -log p(x_t | x_<t, c), in nats, in
	// normalised units.
	Score []float64
	// P holds n p-values of the point: the smaller of the flow's (PointP)
	// and the level test's, doubled (Bonferroni). Without a level test it
	// is PointP.
	P []float64
	// PointP holds the n p-values of the flow's point scores alone, which
	// is what a drift test of the model should watch.
	PointP []float64
	// Surprise holds -ln P, which keeps points far in the tail apart
	// where P underflows.
	Surprise []float64
	// Steps holds n*W per-step scores -log p(x_s | x_<s, c), oldest step
	// first: the explanation of a window's score. The last of each row is
	// the row's Score.
	Steps []float64
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// Score scores a batch of windows of raw values: x holds n windows of W*C
// values, time-major, oldest step first, and c holds n context vectors of
// Features.ContextWidth values as timeseries.Series.ContextAt writes them
// (lag values raw). Both are normalised into the model's buffers; x and c
// are not changed. Wrong widths panic with flowmodel.ErrShape.
//
// Normalised values are clamped to +-1e8 first, so that a step however
// far out (up to +-math.MaxFloat64) gets a huge score and the smallest
// p-value, not the NaN of overflowing sums inside the flow; one whose
// density underflows gets score +Inf. A NaN score (a broken model or NaN
// input) gives an error wrapping flowmodel.ErrNonFinite; s is filled
// regardless.
func (m *Model) Score(s *Scores, x, c []float64) error {
	m.xn = append(m.xn[:0], x...)
	m.cn = append(m.cn[:0], c...)
	m.normalise(m.xn, m.cn)
	return m.ScoreNormalised(s, m.xn, m.cn)
}

// normalise applies the normaliser to windows and to the lag part of
// context vectors, in place.
func (m *Model) normalise(x, c []float64) {
	f := m.meta.Features
	if len(x)%(f.Window*f.Channels) != 0 {
		panic(flowmodel.ErrShape)
	}
	m.meta.Norm.Apply(x)
	clampNormalised(x)
	if len(f.Lags) == 0 {
		return
	}
	cw, off := f.ContextWidth(), f.lagOffset()
	if len(c)%cw != 0 {
		panic(flowmodel.ErrShape)
	}
	for r := 0; r < len(c); r += cw {
		m.meta.Norm.Apply(c[r+off : r+cw])
		clampNormalised(c[r+off : r+cw])
	}
}

// ScoreNormalised is Score for windows and context vectors already in the
// model's units, for callers that normalise themselves (per-series
// normalisers in a shared model). It does not change x or c.
func (m *Model) ScoreNormalised(s *Scores, x, c []float64) error {
	w := m.meta.Features.Window
	n := len(x) / (w * m.meta.Features.Channels)
	var err error
	m.steps, err = m.flow.StepLogProb(grow(m.steps, n*w), x, c)
	if err != nil && !errors.Is(err, flowmodel.ErrNonFinite) {
		return fmt.Errorf("scorer: %w", err)
	}
	s.Score, s.P, s.Steps = grow(s.Score, n), grow(s.P, n), grow(s.Steps, n*w)
	s.PointP, s.Surprise = grow(s.PointP, n), grow(s.Surprise, n)
	bad := -1
	for i, lp := range m.steps {
		s.Steps[i] = -lp
		if math.IsNaN(lp) && bad < 0 {
			bad = i / w
		}
	}
	d := w * m.meta.Features.Channels
	for r := range n {
		sc := s.Steps[r*w+w-1]
		s.Score[r] = sc
		if math.IsNaN(sc) {
			s.P[r], s.PointP[r], s.Surprise[r] = 1, 1, 0
			continue
		}
		u := m.cal.Surprise(sc)
		s.PointP[r] = max(math.Exp(-u), math.SmallestNonzeroFloat64)
		if m.level != nil {
			u = max(u, m.level.Surprise(levelScore(x[(r+1)*d-m.meta.Features.Channels:(r+1)*d])))
			u = max(u-math.Ln2, 0)
		}
		s.Surprise[r] = u
		s.P[r] = max(math.Exp(-u), math.SmallestNonzeroFloat64)
	}
	if bad >= 0 {
		return fmt.Errorf("scorer: %w: window %d", flowmodel.ErrNonFinite, bad)
	}
	return nil
}

// PValue returns the p-value of a point score s against the model's
// calibration (see Calibration), without the level test.
func (m *Model) PValue(score float64) float64 { return m.cal.PValue(score) }

// Deviation returns how far the raw values of one step lie outside the
// model's training data, in units of the normaliser's robust scale (1.4826
// MAD): the largest over channels of the distance beyond the training
// range (Meta.Range), 0 inside it. A drift watch counts a step beyond its
// limit as out of range.
//
// The range, not the distance from the median: a series of two levels
// (a daily square wave) has a MAD of one level's noise, and a third of its
// own training values would lie beyond 6 robust z-scores of the median.
// A model file without a range (format 1) gets |x - Loc| / Scale.
func (m *Model) Deviation(value []float64) float64 {
	n, r := m.meta.Norm, m.meta.Range
	var dev float64
	for c, x := range value[:min(len(value), len(n.Loc))] {
		if len(r.Min) == 0 {
			dev = max(dev, math.Abs(x-n.Loc[c])/n.Scale[c])
			continue
		}
		dev = max(dev, (x-r.Max[c])/n.Scale[c], (r.Min[c]-x)/n.Scale[c])
	}
	return dev
}
