package evaluate

import (
	"math"
	"slices"
)

// PolicyConfig sets how a Policy turns p-values into anomaly scores and
// alarms. The zero value of a field means its default.
type PolicyConfig struct {
	// Alpha is the p-value below which a point is flagged (default 1e-4).
	Alpha float64 `json:"alpha" yaml:"alpha"`
	// Cooldown is the number of points after an alarm during which new
	// flags join the same incident and raise no new alarm (default 200).
	// Scores inside the cooldown are damped, so a long improbable run is
	// one early spike rather than a plateau.
	Cooldown int `json:"cooldown" yaml:"cooldown"`
	// Damp multiplies the anomaly score inside the cooldown (default 0.1).
	Damp float64 `json:"damp" yaml:"damp"`
	// Run is the number of recent points whose surprises are pooled into
	// a run (collective) p-value, which catches a sustained drift of
	// moderately improbable points; 0 means the default 8, negative turns
	// it off.
	Run int `json:"run" yaml:"run"`
	// Margin is how much more surprising (in nats of -ln p) than every
	// point of the last Cooldown points a point must be to count as a new
	// event (default ln 10: ten times less probable). Negative means 0.
	Margin float64 `json:"margin" yaml:"margin"`
	// Mode selects the suppression: "record" (default) damps every point
	// not Margin beyond the recent maximum; "cooldown" damps every point
	// for Cooldown points after an alarm.
	Mode string `json:"mode" yaml:"mode"`
	// Escalate, when above 1, lets a point inside a cooldown raise the
	// incident again, undamped, when its surprise exceeds Escalate times
	// the incident's peak so far: a growing event then shows its size
	// rather than the level at which it was first flagged.
	Escalate float64 `json:"escalate" yaml:"escalate"`
	// Extend makes every flag inside a cooldown restart it: an incident
	// stays open until Cooldown points pass without a flag, so a
	// sustained anomaly raises one alarm however long it lasts.
	Extend bool `json:"extend" yaml:"extend"`
	// Multiplicity, when set, judges each point against the number of
	// points the series has had scored (its p-value times that count,
	// a running Bonferroni correction), so a long stream does not turn
	// chance into alarms.
	Multiplicity bool `json:"multiplicity" yaml:"multiplicity"`
	// Scale is the surprise -ln p that maps to anomaly score 0.5
	// (default 20).
	Scale float64 `json:"scale" yaml:"scale"`
}

func (c PolicyConfig) withDefaults() PolicyConfig {
	if c.Alpha <= 0 || c.Alpha >= 1 {
		c.Alpha = 1e-4
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 200
	}
	if c.Damp <= 0 || c.Damp > 1 {
		c.Damp = 0.1
	}
	if c.Run == 0 {
		c.Run = 8
	}
	if c.Margin == 0 {
		c.Margin = math.Ln10
	}
	c.Margin = max(c.Margin, 0)
	if c.Mode == "" {
		c.Mode = "record"
	}
	if c.Scale <= 0 {
		c.Scale = 20
	}
	return c
}

// Decision is what a Policy makes of one point.
type Decision struct {
	// Score is the anomaly score in [0, 1], monotone in the surprise
	// outside a cooldown.
	Score float64
	// Surprise is -ln of the smaller of the point and run p-values, with
	// a Bonferroni correction for taking the smaller of two.
	Surprise float64
	// Flagged reports a surprise beyond -ln Alpha.
	Flagged bool
	// Alarm reports a flag that opens a new incident: the first flag
	// after a cooldown.
	Alarm bool
}

// Policy decides, point by point, which p-values of one series are
// anomalies and which of those raise an alarm. It is not safe for
// concurrent use.
type Policy struct {
	cfg      PolicyConfig
	ring     []float64 // the last Run point surprises
	next     int
	n        int
	sum      float64
	cooldown int       // points left in the current cooldown
	recent   []float64 // ring of the last Cooldown combined surprises
	rnext    int
	seen     int     // points decided on
	peak     float64 // largest surprise of the current incident
}

// NewPolicy returns a Policy for cfg (zero fields take their defaults).
func NewPolicy(cfg PolicyConfig) *Policy {
	cfg = cfg.withDefaults()
	p := &Policy{cfg: cfg}
	p.recent = make([]float64, cfg.Cooldown)
	if cfg.Run > 0 {
		p.ring = make([]float64, cfg.Run)
	}
	return p
}

// Next takes the p-value of the next point, in (0, 1], as -ln p (its
// surprise, which keeps far-tail points apart), and decides on it.
func (p *Policy) Next(surprise float64) Decision {
	p.seen++
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
	if p.cfg.Multiplicity {
		s -= math.Log(float64(p.seen))
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
	if p.cfg.Mode == "record" {
		top := slices.Max(p.recent)
		p.recent[p.rnext] = s
		p.rnext = (p.rnext + 1) % len(p.recent)
		if s <= top+p.cfg.Margin {
			d.Score *= p.cfg.Damp
			return d
		}
		d.Alarm = d.Flagged
		return d
	}
	if p.cooldown > 0 {
		p.cooldown--
		if p.cfg.Extend && d.Flagged {
			p.cooldown = p.cfg.Cooldown
		}
		if p.cfg.Escalate > 1 && s > p.peak*p.cfg.Escalate {
			p.peak = s
			return d
		}
		d.Score *= p.cfg.Damp
		return d
	}
	if d.Flagged {
		d.Alarm = true
		p.cooldown = p.cfg.Cooldown
		p.peak = s
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
	// ln of the sum, by log-sum-exp over the terms.
	lt := make([]float64, 0, 16)
	term, top := 0.0, math.Inf(-1)
	for j := range k {
		if j > 0 {
			term += math.Log(x) - math.Log(float64(j))
		}
		lt = append(lt, term)
		top = max(top, term)
	}
	s := 0.0
	for _, v := range lt {
		s += math.Exp(v - top)
	}
	return max(x-top-math.Log(s), 0)
}
