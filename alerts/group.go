package alerts

import (
	"math"
	"time"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

// Kind is the state change an alert message announces.
type Kind string

// The state changes of an incident.
const (
	KindOpen    Kind = "open"    // the first anomaly of a new incident
	KindUpdate  Kind = "update"  // the incident's severity changed
	KindResolve Kind = "resolve" // the incident is over
)

// Severities of an incident, from its smallest p-value.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Reasons an anomaly opens no incident, as the suppressed metric counts them.
const (
	reasonWeak       = "weak"        // p-value above open_p_value and no run
	reasonLate       = "late"        // older than an incident already over
	reasonCooldown   = "cooldown"    // within cooldown after a resolve
	reasonSeriesRate = "series_rate" // the series opened too many incidents
	reasonGlobalRate = "global_rate" // all series opened too many incidents
)

// seriesState is what grouping needs to know about one series.
type seriesState struct {
	open    *store.Incident
	lastEnd time.Time   // LastTS of the latest resolved incident
	starts  []time.Time // FirstTS of recent incidents, oldest first
	// run holds the anomalies after lastEnd that opened nothing, oldest
	// first, each within the gap of the next; at most RunLength-1 are kept.
	run []store.NewAnomaly
}

// change is one state change of an incident: inc is the live incident,
// snap its state when the change happened.
type change struct {
	kind         Kind
	inc          *store.Incident
	snap         store.Incident
	prevSeverity string
}

// grouper applies the grouping rules. It holds no per-series state of its
// own, so the same rules run on states loaded from PostgreSQL or built in a
// test.
type grouper struct {
	cfg   config.Alerts
	opens []time.Time // wall times of recent incident opens, oldest first
}

// add folds anomaly a of the series st into incidents at wall time now. It
// returns the state changes, and the reason when a opened nothing and
// joined nothing.
func (g *grouper) add(st *seriesState, a store.NewAnomaly, now time.Time) ([]change, string) {
	var out []change
	if inc := st.open; inc != nil {
		if !a.TS.Before(inc.FirstTS.Add(-g.cfg.Gap)) && !a.TS.After(inc.LastTS.Add(g.cfg.Gap)) {
			prev := inc.Severity
			g.join(inc, a, now)
			if inc.Severity == prev {
				return nil, ""
			}
			inc.Revision++
			return []change{{kind: KindUpdate, inc: inc, snap: *inc, prevSeverity: prev}}, ""
		}
		if a.TS.Before(inc.FirstTS) {
			return nil, reasonLate
		}
		out = append(out, g.resolve(st, now))
	}

	if !st.lastEnd.IsZero() && !a.TS.After(st.lastEnd) {
		return out, reasonLate
	}
	members := g.members(st, a)
	if members == nil {
		return out, reasonWeak
	}
	if g.cfg.Cooldown > 0 && !st.lastEnd.IsZero() &&
		a.TS.Before(st.lastEnd.Add(g.cfg.Gap+g.cfg.Cooldown)) {
		return out, reasonCooldown
	}
	if reason := g.limited(st, members[0].TS, now); reason != "" {
		return out, reason
	}

	inc := g.start(members, now)
	st.open, st.run = inc, nil
	st.starts = append(st.starts, inc.FirstTS)
	g.opens = append(g.opens, now)
	return append(out, change{kind: KindOpen, inc: inc, snap: *inc}), ""
}

// members returns the anomalies that open an incident with a: a alone when
// its p-value is small enough, the run ending in a when the run's combined
// p-value is, or nil (keeping a in the run for later).
func (g *grouper) members(st *seriesState, a store.NewAnomaly) []store.NewAnomaly {
	if n := len(st.run); n > 0 && a.TS.After(st.run[n-1].TS.Add(g.cfg.Gap)) {
		st.run = st.run[:0]
	}
	if a.PValue <= g.cfg.OpenPValue {
		return []store.NewAnomaly{a}
	}
	k := g.cfg.RunLength
	if k < 2 {
		return nil
	}
	run := append(st.run, a)
	if len(run) > k {
		run = run[len(run)-k:]
	}
	if len(run) == k && fisherPValue(run) <= g.cfg.RunPValue {
		return run
	}
	if len(run) == k {
		run = run[1:]
	}
	st.run = append(st.run[:0], run...)
	return nil
}

// limited says which rate limit, if any, forbids the series st to open an
// incident starting at series time ts at wall time now.
func (g *grouper) limited(st *seriesState, ts, now time.Time) string {
	if g.cfg.SeriesRateLimit > 0 {
		n := 0
		for _, s := range st.starts {
			if s.After(ts.Add(-g.cfg.SeriesRateWindow)) {
				n++
			}
		}
		if n >= g.cfg.SeriesRateLimit {
			return reasonSeriesRate
		}
	}
	if g.cfg.GlobalRateLimit > 0 {
		i := 0
		for i < len(g.opens) && !g.opens[i].After(now.Add(-g.cfg.GlobalRateWindow)) {
			i++
		}
		g.opens = g.opens[i:]
		if len(g.opens) >= g.cfg.GlobalRateLimit {
			return reasonGlobalRate
		}
	}
	return ""
}

// start builds a new open incident from its first anomalies.
func (g *grouper) start(members []store.NewAnomaly, now time.Time) *store.Incident {
	first := members[0]
	inc := &store.Incident{
		SeriesKey:  first.SeriesKey,
		ModelGroup: first.Group,
		State:      "open",
		FirstTS:    first.TS,
		LastTS:     first.TS,
		MinPValue:  math.Inf(1),
		MaxScore:   math.Inf(-1),
		Revision:   1,
		OpenedAt:   now,
	}
	for _, a := range members {
		g.join(inc, a, now)
	}
	return inc
}

// join adds anomaly a to the incident.
func (g *grouper) join(inc *store.Incident, a store.NewAnomaly, now time.Time) {
	inc.Points++
	if a.TS.Before(inc.FirstTS) {
		inc.FirstTS = a.TS
	}
	if a.TS.After(inc.LastTS) {
		inc.LastTS = a.TS
	}
	if a.PValue < inc.MinPValue {
		inc.MinPValue, inc.Value, inc.ModelVersion = a.PValue, a.Value, a.ModelVersion
	}
	inc.MaxScore = max(inc.MaxScore, a.Score)
	inc.Severity = g.severity(inc.MinPValue)
	inc.UpdatedAt = now
}

func (g *grouper) severity(p float64) string {
	if p <= g.cfg.CriticalPValue {
		return SeverityCritical
	}
	return SeverityWarning
}

// expire resolves the open incident of st when its series' time has moved
// more than the gap past its last point, or when nothing joined it for
// silent_resolve of wall time (a series that went quiet). seriesTime may be
// zero when unknown.
func (g *grouper) expire(st *seriesState, seriesTime, now time.Time) []change {
	inc := st.open
	if inc == nil {
		return nil
	}
	passed := seriesTime.After(inc.LastTS.Add(g.cfg.Gap))
	silent := g.cfg.SilentResolve > 0 && now.Sub(inc.UpdatedAt) > g.cfg.SilentResolve
	if !passed && !silent {
		return nil
	}
	return []change{g.resolve(st, now)}
}

func (g *grouper) resolve(st *seriesState, now time.Time) change {
	inc := st.open
	inc.State = "resolved"
	inc.ResolvedAt = &now
	inc.UpdatedAt = now
	inc.Revision++
	st.open, st.lastEnd, st.run = nil, inc.LastTS, nil
	return change{kind: KindResolve, inc: inc, snap: *inc}
}

// fisherPValue combines independent p-values by Fisher's method:
//
//	X = -2 Σ ln p_i  ~  χ²(2k) under the null
//	P(χ²(2k) ≥ X) = exp(-X/2) Σ_{j<k} (X/2)^j / j!
//
// (the closed form of the chi-square survival function for even degrees
// of freedom; Fisher, Statistical Methods for Research Workers, 1932, §21.1).
func fisherPValue(as []store.NewAnomaly) float64 {
	h := 0.0 // X/2
	for _, a := range as {
		h -= math.Log(max(a.PValue, math.SmallestNonzeroFloat64))
	}
	term, sum := 1.0, 1.0
	for j := 1; j < len(as); j++ {
		term *= h / float64(j)
		sum += term
	}
	return math.Exp(-h) * sum
}
