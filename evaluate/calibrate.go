package evaluate

import (
	"errors"
	"math"
	"slices"

	"github.com/flowguard/flowguard/scorer"
)

// Calibration turns point scores into conformal p-values against the
// scores of held-out calibration windows.
//
// Inside the calibration range the p-value is the usual conformal one,
//
//	p(s) = (1 + #{i : c_i >= s}) / (n + 1),
//
// whose smallest value is 1/(n+1). A series scored for longer than n rows
// meets scores beyond every calibration score by chance alone, so above the
// k-th largest calibration score u the tail is extrapolated as exponential
// (peaks over threshold with the mean excess beta of the top k scores):
//
//	p(s) = k/(n+1) * exp(-(s - u) / beta)    for s > u,
//
// which keeps ranking points that are all "beyond calibration". For a
// Gaussian conditional the score 0.5 z^2 has an exactly exponential tail.
//
// A Calibration can also learn from the live stream (Add): each scored
// point joins the reference set, oldest live points leaving once Limit is
// reached, so a pattern the series shows again and again stops looking
// rare, as online conformal prediction does.
type Calibration struct {
	sorted []float64 // ascending
	tail   scorer.Tail
	live   []float64 // ring of live scores in sorted, oldest at liveAt
	liveAt int
}

// minCalibration is the fewest held-out scores a calibration accepts.
const minCalibration = 20

// NewCalibration returns the calibration for held-out scores. It fails
// with fewer than 20 scores or a non-finite one.
func NewCalibration(scores []float64) (*Calibration, error) {
	if len(scores) < minCalibration {
		return nil, errors.New("evaluate: calibration: fewer than 20 scores")
	}
	s := slices.Clone(scores)
	for _, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("evaluate: calibration: non-finite score")
		}
	}
	slices.Sort(s)
	c := &Calibration{sorted: s}
	c.fitTail()
	return c, nil
}

// fitTail fits the exponential tail to the largest scores, as the
// detector's models do (scorer.FitTail).
func (c *Calibration) fitTail() { c.tail = scorer.FitTail(c.sorted) }

// Add makes live score s part of the reference set. With limit > 0 the
// live part holds at most limit scores, the oldest leaving first; the
// held-out scores stay. Non-finite scores are ignored.
func (c *Calibration) Add(s float64, limit int) {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return
	}
	if limit > 0 && len(c.live) >= limit {
		old := c.live[c.liveAt]
		c.live[c.liveAt] = s
		c.liveAt = (c.liveAt + 1) % len(c.live)
		i, _ := slices.BinarySearch(c.sorted, old)
		c.sorted = slices.Delete(c.sorted, i, i+1)
	} else {
		c.live = append(c.live, s)
	}
	i, _ := slices.BinarySearch(c.sorted, s)
	c.sorted = slices.Insert(c.sorted, i, s)
	c.fitTail()
}

// PValue returns the p-value of score s, in (0, 1].
func (c *Calibration) PValue(s float64) float64 {
	n := len(c.sorted)
	if s > c.tail.U {
		return math.Exp(-c.Surprise(s))
	}
	// Number of calibration scores >= s.
	i, _ := slices.BinarySearch(c.sorted, s)
	return float64(1+n-i) / float64(n+1)
}

// Surprise returns -ln PValue(s) without underflow for scores far in the
// tail.
func (c *Calibration) Surprise(s float64) float64 {
	n := len(c.sorted)
	if s > c.tail.U {
		return c.tail.Surprise(s, n)
	}
	return -math.Log(c.PValue(s))
}

// Len returns the number of calibration scores.
func (c *Calibration) Len() int { return len(c.sorted) }
