package scorer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/flowguard/flowguard/flowmodel"
)

// Model is a trained flow with its metadata. It holds scoring buffers, so
// one Model is used by one goroutine at a time; Clone gives another
// goroutine its own.
type Model struct {
	flow *flowmodel.Flow
	meta Meta
	tail Tail

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
	return &Model{flow: flow, meta: meta, tail: fitTail(meta.Calibration)}, nil
}

// Meta returns the model's metadata. The Calibration slice is shared with
// the model and must not be changed.
func (m *Model) Meta() Meta { return m.meta }

// Flow returns the underlying flow, for forecasting and sampling. It shares
// the model's buffers: do not use it while the model is scoring.
func (m *Model) Flow() *flowmodel.Flow { return m.flow }

// Clone returns a copy of m with its own flow and buffers, for use by
// another goroutine. Metadata is shared read-only.
func (m *Model) Clone() *Model {
	return &Model{flow: m.flow.Clone(), meta: m.meta, tail: m.tail}
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
	// P holds n conformal p-values in [1/(n_cal+1), 1].
	P []float64
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
// A step so far out that its density underflows gets score +Inf and the
// smallest p-value. A NaN score (a broken model or input) gives an error
// wrapping flowmodel.ErrNonFinite; s is filled regardless.
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
	if len(f.Lags) == 0 {
		return
	}
	cw, off := f.ContextWidth(), f.lagOffset()
	if len(c)%cw != 0 {
		panic(flowmodel.ErrShape)
	}
	for r := 0; r < len(c); r += cw {
		m.meta.Norm.Apply(c[r+off : r+cw])
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
	bad := -1
	for i, lp := range m.steps {
		s.Steps[i] = -lp
		if math.IsNaN(lp) && bad < 0 {
			bad = i / w
		}
	}
	for r := range n {
		sc := s.Steps[r*w+w-1]
		s.Score[r] = sc
		s.P[r] = m.PValue(sc)
	}
	if bad >= 0 {
		return fmt.Errorf("scorer: %w: window %d", flowmodel.ErrNonFinite, bad)
	}
	return nil
}

// PValue returns the p-value of a point score s against the n calibration
// scores c_i. Up to the tail threshold u it is the conformal p-value
//
//	p(s) = (1 + #{i : c_i >= s}) / (n + 1)
//
// whose smallest value, 1/(n+1), would put a floor under every p-value: a
// model calibrated on 800 windows could never flag at alpha 0.001. Above u,
// the (k+1)-th largest calibration score, the tail is extrapolated as
// exponential with the mean excess beta of the k largest scores (peaks over
// threshold; k = max(10, n/20)):
//
//	p(s) = k/(n+1) exp(-(s - u)/beta)    for s > u
//
// For a Gaussian conditional the score is 0.5 z^2 plus a constant, whose tail
// is exponential up to a slowly varying factor. With fewer than 50
// calibration scores there is no tail fit and the conformal value is used
// throughout. NaN gets 1, as no evidence; +Inf gets the smallest positive
// float64.
func (m *Model) PValue(score float64) float64 {
	cal := m.meta.Calibration
	n := len(cal)
	if math.IsNaN(score) {
		return 1
	}
	if t := m.tail; t.K > 0 && score > t.U {
		p := float64(t.K) / float64(n+1) * math.Exp(-(score-t.U)/t.Beta)
		return max(p, math.SmallestNonzeroFloat64)
	}
	k := n - sort.SearchFloat64s(cal, score)
	return float64(1+k) / float64(n+1)
}

// Tail is the exponential tail of the p-value above U, the (K+1)-th
// largest of n calibration scores, with Beta the mean excess of the K
// largest (see Model.PValue). The zero Tail (K = 0) means none.
type Tail struct {
	U, Beta float64
	K       int
}

// minTailCalibration is the fewest calibration scores Model fits a tail to.
const minTailCalibration = 50

// FitTail fits the tail to sorted calibration scores, K = max(10, n/20).
// It needs at least 11 scores and returns the zero Tail for fewer.
func FitTail(sorted []float64) Tail {
	n := len(sorted)
	k := max(10, n/20)
	if n <= k {
		return Tail{}
	}
	u := sorted[n-k-1]
	var sum float64
	for _, v := range sorted[n-k:] {
		sum += v - u
	}
	// A floor on beta keeps a calibration whose top scores are all equal
	// (a constant stretch of data) from making every larger score p = 0.
	beta := max(sum/float64(k), 1e-6*max(1, math.Abs(u)), 1e-12)
	return Tail{U: u, Beta: beta, K: k}
}

// Surprise returns -ln p(s) for a score s > U of a Tail fitted to n
// calibration scores, without the underflow of computing p first.
func (t Tail) Surprise(s float64, n int) float64 {
	return math.Log(float64(n+1)/float64(t.K)) + (s-t.U)/t.Beta
}

// fitTail is the Model's tail: none below minTailCalibration scores.
func fitTail(cal []float64) Tail {
	if len(cal) < minTailCalibration {
		return Tail{}
	}
	return FitTail(cal)
}
