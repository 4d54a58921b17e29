package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/flowguard/flowguard/store"
)

// buildLoop turns new anomalies into incident changes until ctx ends.
func (s *Service) buildLoop(ctx context.Context) {
	for {
		n, err := s.buildOnce(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("build incidents", "err", err)
		}
		if n == s.cfg.Batch && err == nil {
			continue // more may be waiting
		}
		if !sleep(ctx, s.cfg.Poll, nil) {
			return
		}
	}
}

// buildResult is what one transaction of buildOnce did.
type buildResult struct {
	anomalies  int
	changes    map[Kind]int
	suppressed map[string]int
	sinks      map[string]bool // sinks that got messages
}

// buildOnce reads one batch of new anomalies, applies the grouping rules,
// resolves incidents whose time is up and queues the alerts, all in one
// transaction that also moves the cursor. It returns the number of
// anomalies read. When another detector holds the cursor it does nothing.
func (s *Service) buildOnce(ctx context.Context) (int, error) {
	var res buildResult
	err := s.store.InAlertTx(ctx, func(tx *store.AlertTx) error {
		res = buildResult{changes: map[Kind]int{}, suppressed: map[string]int{},
			sinks: map[string]bool{}}
		return s.build(ctx, tx, &res)
	})
	if err != nil {
		return 0, err
	}
	for k, n := range res.changes {
		s.m.incidents.WithLabelValues(string(k)).Add(float64(n))
	}
	for r, n := range res.suppressed {
		s.m.suppressed.WithLabelValues(r).Add(float64(n))
	}
	for name := range res.sinks {
		select {
		case s.wake[name] <- struct{}{}:
		default:
		}
	}
	return res.anomalies, nil
}

func (s *Service) build(ctx context.Context, tx *store.AlertTx, res *buildResult) error {
	cur, ok, err := tx.LockCursor(ctx, cursorName)
	if err != nil || !ok {
		return err
	}
	as, next, err := tx.AnomaliesAfter(ctx, cur, s.cfg.Batch)
	if err != nil {
		return err
	}
	res.anomalies = len(as)
	now := s.now()

	states, err := s.loadStates(ctx, tx, as, cur, now)
	if err != nil {
		return err
	}
	w := &changeWriter{s: s, tx: tx, res: res, touched: map[*store.Incident]bool{}}
	for _, a := range as {
		a.TS = a.TS.UTC()
		st := states[a.SeriesKey]
		ch, reason := s.g.add(st, a, now)
		if reason != "" {
			res.suppressed[reason]++
		}
		if st.open != nil {
			w.touched[st.open] = true
		}
		if err := w.write(ctx, ch); err != nil {
			return err
		}
	}

	// The expiry query reads incident spans from the table: write the
	// batch's first.
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := s.expire(ctx, tx, w, states, next, now); err != nil {
		return err
	}
	if len(as) == 0 {
		return nil
	}
	return tx.SetCursor(ctx, cursorName, next)
}

// loadStates reads what the grouping rules need about every series in as.
func (s *Service) loadStates(ctx context.Context, tx *store.AlertTx, as []store.NewAnomaly,
	cur store.AlertCursor, now time.Time) (map[string]*seriesState, error) {
	states := map[string]*seriesState{}
	if len(as) == 0 {
		return states, nil
	}
	var keys []string
	earliest := as[0].TS
	for _, a := range as {
		if states[a.SeriesKey] == nil {
			states[a.SeriesKey] = &seriesState{}
			keys = append(keys, a.SeriesKey)
		}
		earliest = minTime(earliest, a.TS)
	}

	open, err := tx.OpenIncidents(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i := range open {
		states[open[i].SeriesKey].open = &open[i]
	}
	hist, err := tx.IncidentHistory(ctx, keys, earliest.Add(-s.cfg.SeriesRateWindow))
	if err != nil {
		return nil, err
	}
	for k, h := range hist {
		states[k].lastEnd, states[k].starts = h.LastResolvedTS, h.Starts
	}
	if s.cfg.GlobalRateLimit > 0 {
		s.g.opens, err = tx.OpenedSince(ctx, now.Add(-s.cfg.GlobalRateWindow))
		if err != nil {
			return nil, err
		}
	}
	if s.cfg.RunLength >= 2 {
		recent, err := tx.RecentAnomalies(ctx, keys, cur, s.cfg.RunLength-1)
		if err != nil {
			return nil, err
		}
		for k, rs := range recent {
			states[k].run = s.runOf(states[k], rs)
		}
	}
	return states, nil
}

// runOf rebuilds the run of st from its latest anomalies (newest first):
// those after the last incident, chained by the gap, oldest first.
func (s *Service) runOf(st *seriesState, recent []store.NewAnomaly) []store.NewAnomaly {
	if st.open != nil {
		return nil
	}
	var run []store.NewAnomaly
	for i, a := range recent {
		if !a.TS.After(st.lastEnd) || (i > 0 && recent[i-1].TS.After(a.TS.Add(s.cfg.Gap))) {
			break
		}
		a.TS = a.TS.UTC()
		run = append(run, a)
	}
	slices.Reverse(run)
	return run
}

// expire resolves the open incidents whose time is up. A series' time runs
// ahead of the anomalies read so far whenever the detector writes faster
// than this loop reads (a replay, a backlog), so incidents that a waiting
// anomaly may still join are left for a later batch. Series of this batch
// use their state in memory, which holds their grouping history.
func (s *Service) expire(ctx context.Context, tx *store.AlertTx, w *changeWriter,
	states map[string]*seriesState, cur store.AlertCursor, now time.Time) error {
	open, err := tx.ExpiryCandidates(ctx, cur, s.cfg.Gap)
	if err != nil {
		return err
	}
	for i := range open {
		var seriesTime time.Time
		if open[i].SeriesTime != nil {
			seriesTime = *open[i].SeriesTime
		}
		st := states[open[i].SeriesKey]
		if st == nil || st.open == nil || st.open.ID != open[i].ID {
			st = &seriesState{open: &open[i]}
		}
		if err := w.write(ctx, s.g.expire(st, seriesTime, now)); err != nil {
			return err
		}
	}
	return nil
}

// changeWriter writes incident changes and their alerts in the build
// transaction.
type changeWriter struct {
	s       *Service
	tx      *store.AlertTx
	res     *buildResult
	touched map[*store.Incident]bool // incidents to write at flush
}

func (w *changeWriter) write(ctx context.Context, chs []change) error {
	for _, ch := range chs {
		snap := ch.snap
		if ch.kind == KindOpen {
			if err := w.tx.InsertIncident(ctx, &snap); err != nil {
				return err
			}
			ch.inc.ID = snap.ID
		} else if err := w.tx.UpdateIncident(ctx, &snap); err != nil {
			return err
		}
		w.touched[ch.inc] = true
		w.res.changes[ch.kind]++

		m := newMessage(ch.kind, &snap, ch.prevSeverity, w.s.cfg.DashboardURL)
		payload, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("alerts: encode message %s: %w", m.ID, err)
		}
		for _, sink := range w.s.route(snap.ModelGroup) {
			err := w.tx.QueueAlert(ctx, store.OutboxMessage{MessageID: m.ID,
				IncidentID: snap.ID, Sink: sink, Kind: string(ch.kind), Payload: payload})
			if err != nil {
				return err
			}
			w.res.sinks[sink] = true
		}
	}
	return nil
}

// flush writes the final state of every incident the batch touched, which
// includes points that joined without a change worth an alert.
func (w *changeWriter) flush(ctx context.Context) error {
	for inc := range w.touched {
		if inc.ID == 0 {
			continue // never opened: cannot happen, but never insert here
		}
		if err := w.tx.UpdateIncident(ctx, inc); err != nil {
			return err
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
