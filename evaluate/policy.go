package evaluate

import "math"

// PolicyConfig sets how a Policy turns p-values into anomaly scores and
// alarms. The zero value of a field means its default.
type PolicyConfig struct {
	// Alpha is the p-value below which a point is flagged (default 1e-6).
	// Points are tested one after another for as long as the stream
	// lives, so it is far below the textbook 0.05: at 1e-6 a calibrated
	// series of 5-minute steps raises a chance flag about once in ten
	// years.
	Alpha float64 `json:"alpha" yaml:"alpha"`
	// Quiet is the number of points without a flag that close an incident
	// (default 100). Flags while an incident is open join it and raise no
	// new alarm, so a sustained anomaly is one alarm however long it
	// lasts.
	Quiet int `json:"quiet" yaml:"quiet"`
	// Damp multiplies the anomaly score of every point after the first of
	// an incident (default 0.1), so a long improbable run is one early
	// spike rather than a plateau.
	Damp float64 `json:"damp" yaml:"damp"`
	// Run is the number of recent points whose surprises are pooled into
	// a run (collective) p-value, which catches a sustained stretch of
	// moderately improbable points; 0 means the default 4, negative turns
	// it off.
	Run int `json:"run" yaml:"run"`
	// Scale is the surprise -ln p that maps to anomaly score 0.5
	// (default 20).
	Scale float64 `json:"scale" yaml:"scale"`
}

func (c PolicyConfig) withDefaults() PolicyConfig {
	if c.Alpha <= 0 || c.Alpha >= 1 {
		c.Alpha = 1e-6
	}
	if c.Quiet <= 0 {
		c.Quiet = 100
	}
	if c.Damp <= 0 || c.Damp > 1 {
		c.Damp = 0.1
	}
	if c.Run == 0 {
		c.Run = 4
	}
	if c.Scale <= 0 {
		c.Scale = 20
	}
	return c
}

// Decision is what a Policy makes of one point.
type Decision struct {
	// Score is the anomaly score in [0, 1]: s / (s + Scale) for surprise
	// s, times Damp inside an open incident.
	Score float64
	// Surprise is -ln of the smaller of the point and run p-values, with
	// a Bonferroni correction for taking the smaller of two.
	Surprise float64
	// Flagged reports a surprise beyond -ln Alpha.
	Flagged bool
	// Alarm reports a flag that opens a new incident.
	Alarm bool
}

// Policy decides, point by point, which p-values of one series are
// anomalies and which of those raise an alarm. It is not safe for
// concurrent use.
//
// TODO(flowguard): the service does not use Policy, the live Calibration
// or the level test yet: pipeline flags scorer's plain conformal p-values
// and alerts groups them with its own (equivalent in spirit) rules, so the
// service's alarms differ from the evaluation's until they adopt these.
type Policy struct {
	cfg   PolicyConfig
	ring  []float64 // the last Run pooled point surprises
	next  int
	n     int
	sum   float64
	quiet int // points left before the open incident closes; 0: none open
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

// Next takes the p-value of the next point as its surprise -ln p (which
// keeps far-tail points apart) and decides on it.
func (p *Policy) Next(surprise float64) Decision {
	u := max(surprise, 0)
	s := u
	if p.ring != nil {
		// One extreme point must not make a run: each point adds at most
		// the surprise of a p-value of 1e-3 to the pool.
		pooled := min(u, poolCap)
		p.sum += pooled - p.ring[p.next]
		p.ring[p.next] = pooled
		p.next = (p.next + 1) % len(p.ring)
		p.n = min(p.n+1, len(p.ring))
		if p.n == len(p.ring) {
			s = max(u, gammaSurprise(p.n, p.sum)) - math.Ln2
		}
	}
	d := Decision{Surprise: s, Flagged: s > -math.Log(p.cfg.Alpha)}
	switch {
	case s <= 0:
		d.Score = 0
	case math.IsInf(s, 1):
		d.Score = 1
	default:
		d.Score = s / (s + p.cfg.Scale)
	}
	if p.quiet > 0 {
		p.quiet--
		if d.Flagged {
			p.quiet = p.cfg.Quiet
		}
		d.Score *= p.cfg.Damp
		return d
	}
	if d.Flagged {
		d.Alarm = true
		p.quiet = p.cfg.Quiet
	}
	return d
}

// poolCap bounds one point's share of a run pool: -ln 1e-3.
const poolCap = 6.907755278982137

// gammaSurprise returns -ln P(G >= x) for G ~ Gamma(k, 1), the sum of k
// independent surprises of uniform p-values (Fisher's method):
//
//	P(G >= x) = exp(-x) sum_{j<k} x^j / j!
func gammaSurprise(k int, x float64) float64 {
	if x <= 0 {
		return 0
	}
	// ln of the sum by log-sum-exp over its terms.
	top := float64(k-1)*math.Log(max(x, 1)) + 1 // an upper bound of every term's log
	s, term := 0.0, 0.0
	for j := range k {
		if j > 0 {
			term += math.Log(x) - math.Log(float64(j))
		}
		s += math.Exp(term - top)
	}
	return max(x-top-math.Log(s), 0)
}
