package alerts

import (
	"time"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

// Incidents groups anomalies into incidents in memory with the rules the
// Service applies (gap, run, cooldown, rate limits), for replaying series
// offline: package evaluate turns labelled data into alarms with it, so an
// evaluation's alarms are the ones the service would raise. It is not safe
// for concurrent use.
type Incidents struct {
	g  grouper
	st map[string]*seriesState
}

// NewIncidents returns an empty grouping under cfg's rules.
func NewIncidents(cfg config.Alerts) *Incidents {
	return &Incidents{g: grouper{cfg: cfg}, st: map[string]*seriesState{}}
}

// Add folds anomaly a in, at wall time now (a replay passes series time),
// and reports whether it opened a new incident: whether the service would
// send an alert for it.
func (in *Incidents) Add(a store.Anomaly, now time.Time) (opened bool) {
	st := in.st[a.SeriesKey]
	if st == nil {
		st = &seriesState{}
		in.st[a.SeriesKey] = st
	}
	changes, _ := in.g.add(st, store.NewAnomaly{Anomaly: a}, now)
	for _, c := range changes {
		if c.kind == KindOpen {
			opened = true
		}
	}
	return opened
}

// Open reports whether series key has an incident that a point at series
// time ts would still join: one open whose last point is at most the gap
// before ts.
func (in *Incidents) Open(key string, ts time.Time) bool {
	st := in.st[key]
	return st != nil && st.open != nil && !ts.After(st.open.LastTS.Add(in.g.cfg.Gap))
}
