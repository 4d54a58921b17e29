package forecast

import (
	"fmt"
	"math"
	"slices"
)

// Spread widens (or narrows) sampled paths around their per-step median,
// one factor per step ahead. A flow trained on one-step likelihoods can be
// sharp one step ahead yet too narrow many steps ahead when the series
// changes in ways its window cannot see (a day's level, weather,
// holidays); a spread fitted on held-out origins corrects that.
//
// The factors are split-conformal (Romano, Patterson and Candes,
// Conformalized quantile regression, NeurIPS 2019, with a multiplicative
// score): for each held-out origin and step k the score is
//
//	r = (y - m) / (q_hi - m)  if y >= m,  (m - y) / (m - q_lo)  otherwise
//
// with m the median and q_lo, q_hi the (1-level)/2 and (1+level)/2
// quantiles of the paths; the factor s_k is the ceil((n+1) level)-th
// smallest of the n scores, and each path value x becomes m + s_k (x - m).
// On data exchangeable with the held-out origins the central interval of
// the widened paths then covers y with probability at least level.
type Spread struct {
	// Level is the central probability the factors were fitted for.
	Level float64 `json:"level"`
	// Scale holds s_k for k = 1..h.
	Scale []float64 `json:"scale"`
}

// spreadFitter collects the conformal scores of held-out origins.
type spreadFitter struct {
	level  float64
	keep   int         // newest scores kept per step; 0 keeps all
	scores [][]float64 // per step, oldest first
}

func newSpreadFitter(h int, level float64) *spreadFitter {
	return &spreadFitter{level: level, scores: make([][]float64, h)}
}

// add records the score of outcome y at step k for sorted path values.
func (sf *spreadFitter) add(k int, sorted []float64, y float64) {
	m := Quantile(sorted, 0.5)
	lo := Quantile(sorted, (1-sf.level)/2)
	hi := Quantile(sorted, (1+sf.level)/2)
	var r float64
	switch {
	case y >= m && hi > m:
		r = (y - m) / (hi - m)
	case y < m && m > lo:
		r = (m - y) / (m - lo)
	case y == m:
		r = 0
	default:
		r = math.Inf(1) // a degenerate interval that misses y
	}
	sf.scores[k] = append(sf.scores[k], r)
	if sf.keep > 0 && len(sf.scores[k]) > sf.keep {
		sf.scores[k] = sf.scores[k][1:]
	}
}

// fit returns the spread. Scores of the steps within pool of k are pooled,
// which steadies the factor of each step when origins are few.
func (sf *spreadFitter) fit(pool int) (Spread, error) {
	h := len(sf.scores)
	sp := Spread{Level: sf.level, Scale: make([]float64, h)}
	for k := range h {
		var s []float64
		for j := max(0, k-pool); j <= min(h-1, k+pool); j++ {
			s = append(s, sf.scores[j]...)
		}
		n := len(s)
		rank := int(math.Ceil(float64(n+1) * sf.level))
		if n == 0 || rank > n {
			return Spread{}, fmt.Errorf("forecast: spread: %d held-out scores at step %d "+
				"are too few for level %v", n, k+1, sf.level)
		}
		slices.Sort(s)
		sp.Scale[k] = s[rank-1]
	}
	return sp, nil
}

// apply widens the path values of step k, sorted, in place (they stay
// sorted, as the map is increasing).
func (sp *Spread) apply(k int, sorted []float64) {
	m := Quantile(sorted, 0.5)
	s := sp.Scale[k]
	for i, x := range sorted {
		sorted[i] = m + s*(x-m)
	}
}
