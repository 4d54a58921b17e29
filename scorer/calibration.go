package scorer

import (
	"errors"
	"math"
	"slices"
	"sort"
)

// Calibration turns point scores into p-values against a reference set of
// scores: the held-out calibration windows of a model and, when it learns,
// the live scores since.
//
// Up to the tail threshold u the p-value is the conformal one,
//
//	p(s) = (1 + #{i : c_i >= s}) / (n + 1),
//
// whose smallest value 1/(n+1) would put a floor under every p-value: a
// model calibrated on 800 windows could never flag at alpha 0.001, and a
// series scored for longer than n steps meets scores beyond every
// calibration score by chance alone. Above u, the (k+1)-th largest score,
// the tail is extrapolated as exponential with the mean excess beta of the
// k largest (peaks over threshold, k = max(10, n/20)):
//
//	p(s) = k/(n+1) exp(-(s - u)/beta)    for s > u,
//
// which keeps ranking points that are all "beyond calibration". For a
// Gaussian conditional the score is 0.5 z^2 plus a constant, whose tail is
// exponential up to a slowly varying factor. With fewer than 50 scores
// there is no tail and the conformal value holds throughout.
//
// Learning (Add) makes live scores part of the reference set, the oldest
// leaving once the live part holds its limit, so that a pattern a series
// shows again and again stops looking rare, as in online conformal
// prediction. The held-out scores always stay.
//
// A Calibration is not safe for concurrent use.
type Calibration struct {
	sorted []float64 // ascending, held-out and live
	tail   Tail
	live   []float64 // the live scores in sorted, oldest first
	limit  int
	buf    []float64
}

// NewCalibration returns the calibration for held-out scores, which need
// not be sorted. It fails when there are none or one is NaN or infinite.
func NewCalibration(scores []float64) (*Calibration, error) {
	if len(scores) == 0 {
		return nil, errors.New("scorer: calibration: no scores")
	}
	s := slices.Clone(scores)
	for _, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("scorer: calibration: non-finite score")
		}
	}
	slices.Sort(s)
	return &Calibration{sorted: s, tail: fitTail(s)}, nil
}

// Learn sets how many live scores Add keeps (the oldest leave first); 0,
// the default, makes Add a no-op. Lowering the limit drops the oldest
// live scores at once.
func (c *Calibration) Learn(limit int) {
	c.limit = max(limit, 0)
	if len(c.live) > c.limit {
		c.unlive(len(c.live) - c.limit)
	}
}

// Add makes live scores part of the reference set and refits the tail,
// once for the whole batch. Non-finite scores are ignored: they are no
// evidence of what is usual.
func (c *Calibration) Add(scores ...float64) {
	if c.limit == 0 {
		return
	}
	add := c.buf[:0]
	for _, s := range scores {
		if !math.IsNaN(s) && !math.IsInf(s, 0) {
			add = append(add, s)
		}
	}
	if len(add) > c.limit {
		add = add[len(add)-c.limit:]
	}
	if len(add) == 0 {
		c.buf = add
		return
	}
	if over := len(c.live) + len(add) - c.limit; over > 0 {
		c.unlive(over)
	}
	c.live = append(c.live, add...)
	// One merge per batch: sorting the batch and merging it in costs
	// O(n + b log b), where inserting one by one would move the whole
	// set b times.
	slices.Sort(add)
	c.sorted = mergeSorted(c.sorted, add)
	c.buf = add
	c.tail = fitTail(c.sorted)
}

// unlive removes the n oldest live scores from the set.
func (c *Calibration) unlive(n int) {
	gone := slices.Clone(c.live[:n])
	c.live = slices.Delete(c.live, 0, n)
	slices.Sort(gone)
	// One pass drops each gone score once from the sorted set.
	out, j := c.sorted[:0], 0
	for _, v := range c.sorted {
		if j < len(gone) && v == gone[j] {
			j++
			continue
		}
		out = append(out, v)
	}
	c.sorted = out
	c.tail = fitTail(c.sorted)
}

// mergeSorted merges ascending b into ascending a.
func mergeSorted(a, b []float64) []float64 {
	n := len(a)
	a = slices.Grow(a, len(b))[:n+len(b)]
	i, j, k := n-1, len(b)-1, n+len(b)-1
	for j >= 0 {
		if i >= 0 && a[i] > b[j] {
			a[k] = a[i]
			i--
		} else {
			a[k] = b[j]
			j--
		}
		k--
	}
	return a
}

// PValue returns the p-value of score s, in (0, 1]. NaN gets 1, as no
// evidence; +Inf gets the smallest positive float64.
func (c *Calibration) PValue(s float64) float64 {
	if math.IsNaN(s) {
		return 1
	}
	if c.tail.K > 0 && s > c.tail.U {
		return max(math.Exp(-c.Surprise(s)), math.SmallestNonzeroFloat64)
	}
	n := len(c.sorted)
	k := n - sort.SearchFloat64s(c.sorted, s)
	return float64(1+k) / float64(n+1)
}

// Surprise returns -ln PValue(s) without the underflow of computing the
// p-value first, so that points far in the tail stay apart. +Inf gets
// +Inf.
func (c *Calibration) Surprise(s float64) float64 {
	if c.tail.K > 0 && s > c.tail.U {
		return c.tail.Surprise(s, len(c.sorted))
	}
	return -math.Log(c.PValue(s))
}

// Len returns the number of reference scores, held-out and live.
func (c *Calibration) Len() int { return len(c.sorted) }

// Live returns the number of live scores in the set.
func (c *Calibration) Live() int { return len(c.live) }

// LiveScores returns a copy of the live scores, oldest first: Add-ing
// them, in that order, to a fresh calibration of the same model with
// the same limit resumes its learning where this one stands.
func (c *Calibration) LiveScores() []float64 { return slices.Clone(c.live) }

// Clone returns an independent copy.
func (c *Calibration) Clone() *Calibration {
	d := *c
	d.sorted, d.live, d.buf = slices.Clone(c.sorted), slices.Clone(c.live), nil
	return &d
}

// Tail is the exponential tail of the p-value above U, the (K+1)-th
// largest of n calibration scores, with Beta the mean excess of the K
// largest (see Calibration). The zero Tail (K = 0) means none.
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

// fitTail is a Calibration's tail: none below minTailCalibration scores.
func fitTail(cal []float64) Tail {
	if len(cal) < minTailCalibration {
		return Tail{}
	}
	return FitTail(cal)
}

// levelScore is the level test's score of one step of normalised values:
// 0.5 z^2 of the channel furthest from the training data's centre.
func levelScore(z []float64) float64 {
	var s float64
	for _, v := range z {
		s = max(s, 0.5*v*v)
	}
	return s
}
