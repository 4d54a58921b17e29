package scorer

import "math"

// PolicyConfig sets how a Policy flags the points of one series. The zero
// value of a field means its default.
type PolicyConfig struct {
	// Alpha is the p-value below which a point is flagged (default 1e-3).
	Alpha float64
	// Run is the number of recent points whose surprises are pooled into
	// a run (collective) p-value, which catches a sustained stretch of
	// moderately improbable points none of which is flagged alone; 0
	// means the default 4, negative turns it off.
	Run int
}

func (c PolicyConfig) withDefaults() PolicyConfig {
	if !(c.Alpha > 0 && c.Alpha < 1) {
		c.Alpha = 1e-3
	}
	if c.Run == 0 {
		c.Run = 4
	}
	return c
}

// Decision is what a Policy makes of one point.
type Decision struct {
	// Surprise is -ln of the smaller of the point's p-value and the run's,
	// with a Bonferroni correction for taking the smaller of two.
	Surprise float64
	// Flagged reports a surprise beyond -ln Alpha.
	Flagged bool
}

// PValue returns exp(-Surprise) within (0, 1]: a surprise beyond 745
// nats would underflow to a p-value of 0, and the Bonferroni term can take
// a small surprise below 0.
func (d Decision) PValue() float64 {
	return min(max(math.Exp(-d.Surprise), math.SmallestNonzeroFloat64), 1)
}

// Policy decides, point by point, which points of one series are
// anomalies: a point whose own p-value is below Alpha, or that ends a run
// of points improbable together. Its state is a few numbers, so a detector
// keeps one per series. It is not safe for concurrent use.
type Policy struct {
	cfg  PolicyConfig
	ring []float64 // the last Run pooled surprises
	next int
	n    int
}

// NewPolicy returns a Policy for cfg (zero fields take their defaults).
func NewPolicy(cfg PolicyConfig) *Policy {
	cfg = cfg.withDefaults()
	p := &Policy{cfg: cfg}
	if cfg.Run > 0 {
		p.ring = make([]float64, cfg.Run)
	}
	return p
}

// Next takes the surprise -ln p of the next point (Scores.Surprise keeps
// far-tail points apart where p underflows) and decides on it.
func (p *Policy) Next(surprise float64) Decision {
	u := max(surprise, 0)
	if math.IsNaN(surprise) {
		u = 0 // no evidence
	}
	s := u
	if p.ring != nil {
		// Until the pool is full the run is not judged, but the point
		// pays the same correction as later ones: a detector that
		// rebuilds a series after a restart re-decides its first points
		// with a pool still filling, and must flag no point the
		// uninterrupted run, with its full pool, did not.
		s = u - math.Ln2
		// One extreme point must not make a run on its own: each point
		// adds at most the surprise of a p-value of 1e-3 to the pool.
		p.ring[p.next] = min(u, poolCap)
		p.next = (p.next + 1) % len(p.ring)
		p.n = min(p.n+1, len(p.ring))
		if p.n == len(p.ring) {
			// Summed afresh and oldest first, not kept as a running
			// sum, so the decision depends on the last Run points
			// only, bit for bit: a
			// detector rebuilding a series after a restart decides as
			// the uninterrupted one did.
			var sum float64
			for i := range p.ring { // oldest first
				sum += p.ring[(p.next+i)%len(p.ring)]
			}
			s = max(u, gammaSurprise(p.n, sum)) - math.Ln2
		}
	}
	return Decision{Surprise: s, Flagged: s > -math.Log(p.cfg.Alpha)}
}

// Reset forgets the run, as after a gap in the series.
func (p *Policy) Reset() {
	clear(p.ring)
	p.next, p.n = 0, 0
}

// poolCap bounds one point's share of a run pool: -ln 1e-3.
const poolCap = 6.907755278982137

// gammaSurprise returns -ln P(G >= x) for G ~ Gamma(k, 1), the sum of k
// independent surprises of uniform p-values (Fisher's method):
//
//	P(G >= x) = exp(-x) sum_{j<k} x^j / j!
//
// Capping the pooled surprises (poolCap) only makes the run p-value
// larger, so it stays valid.
func gammaSurprise(k int, x float64) float64 {
	if x <= 0 {
		return 0
	}
	// ln of the sum by log-sum-exp over its terms.
	top := float64(k-1)*math.Log(max(x, 1)) + 1 // above every term's log
	s, term := 0.0, 0.0
	for j := range k {
		if j > 0 {
			term += math.Log(x) - math.Log(float64(j))
		}
		s += math.Exp(term - top)
	}
	return max(x-top-math.Log(s), 0)
}
