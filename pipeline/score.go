package pipeline

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// work is one micro-batch on its way from the push side (grids and
// windows) to the finish side (scores, writes, commits).
type work struct {
	groups    map[string]*groupBatch
	updates   map[string]*store.SeriesUpdate
	positions map[int]int64 // commit position per partition once durable
	msgs      int
	start     time.Time
	// Every step the grids emitted, for the recent rings, and the series
	// evicted after them.
	recent     []recentStep
	recentVals []float64
	gone       []string
}

func newWork() *work {
	return &work{groups: map[string]*groupBatch{}, updates: map[string]*store.SeriesUpdate{},
		positions: map[int]int64{}}
}

// reset empties w for reuse, keeping its buffers.
func (w *work) reset() {
	for _, gb := range w.groups {
		gb.batch.N = 0
		gb.pending = gb.pending[:0]
	}
	clear(w.updates)
	clear(w.positions)
	w.msgs = 0
	clear(w.recent) // drop the key strings
	w.recent, w.recentVals, w.gone = w.recent[:0], w.recentVals[:0], w.gone[:0]
}

func (w *work) group(name string) *groupBatch {
	gb := w.groups[name]
	if gb == nil {
		gb = &groupBatch{}
		w.groups[name] = gb
	}
	return gb
}

// groupBatch holds the windows of one model group in a batch.
type groupBatch struct {
	batch   Batch
	pending []pendingPoint
}

// groupState is one model group on the finish side: its model, and the
// bootstrap bookkeeping while it has none.
type groupState struct {
	name    string
	model   Model
	loadErr error // last load failure other than ErrNoModel
	// calDirty: the model learned live scores since calSaved.
	calDirty bool
	calSaved time.Time
	tried    time.Time
	scores   Scores
	drift    *driftWatch // nil until the model's first scores

	// While there is no model: ready windows seen, their time span and
	// series, and whether a training job was filed.
	warm     int
	from, to time.Time
	keys     map[string]struct{}
	filed    bool
}

// minWarmPerSeries is the least number of windows, in multiples of W, a
// group without a model must have seen per series on average before it
// asks for training.
const minWarmPerSeries = 2

// pendingPoint is what the detector keeps about a window until its score
// comes back.
type pendingPoint struct {
	key       string
	ts        time.Time
	value     []float64
	alpha     float64
	partition int
	offset    int64
	upd       *store.SeriesUpdate
}

func (d *Detector) part(p int) *partState {
	ps := d.parts[p]
	if ps == nil {
		var err error
		ps, err = newPartState(d.cfg.Grid, d.cfg.Run-1)
		if err != nil {
			panic("pipeline: grid config validated in NewDetector: " + err.Error())
		}
		d.parts[p] = ps
	}
	return ps
}

// push runs one message through its series' grid and adds the windows it
// completed to w.
func (d *Detector) push(w *work, m *kafka.Message) {
	ps := d.part(m.Partition)
	if ps.next >= 0 && m.Offset != ps.next {
		// The group moved this partition: it was reassigned, or a
		// rebalance restarted it from the committed rebuild position.
		// Start its series afresh; the replay rebuilds them.
		d.log.Info("partition position moved; rebuilding its series",
			"partition", m.Partition, "from", ps.next, "to", m.Offset)
		for key := range ps.needs {
			d.router.forget(key)
		}
		delete(d.parts, m.Partition)
		ps = d.part(m.Partition)
	}
	ps.next = m.Offset + 1
	ps.seen = time.Now()

	smp, err := timeseries.DecodeSample(m.Value)
	if err != nil {
		kind := timeseries.ErrorKind(err).String()
		d.m.rejected.WithLabelValues("undecodable").Inc()
		d.logOnce("decode:"+kind, "undecodable message on the samples topic skipped",
			"partition", m.Partition, "offset", m.Offset, "err", err)
		return
	}
	s, res := ps.grid.Push(&smp)
	if res.Reason != timeseries.ReasonNone {
		d.reject(m, &smp, s, res.Reason)
		return
	}
	key := smp.Series.Key()
	ps.track(key, smp.Time, m.Offset)
	rt := d.router.route(key)
	upd := w.updates[key]
	if upd == nil {
		upd = &store.SeriesUpdate{Key: key, Name: smp.Series.Name, Group: rt.group}
		if len(smp.Series.Labels) > 0 {
			upd.Labels = make(map[string]string, len(smp.Series.Labels))
			for _, l := range smp.Series.Labels {
				upd.Labels[l.Name] = l.Value
			}
		}
		w.updates[key] = upd
	}
	for ago := res.Emitted - 1; ago >= 0; ago-- {
		st := s.Step(ago)
		upd.LastTS, upd.LastScore, upd.LastPValue = st.Time, nil, nil
		if d.cfg.RecentSteps > 0 {
			w.recent = append(w.recent, recentStep{key: key, group: rt.group,
				t: st.Time.UnixNano(), off: len(w.recentVals), c: len(st.Values)})
			w.recentVals = append(w.recentVals, st.Values...)
		}
		if st.Filled || !st.Ready {
			continue
		}
		g := w.group(rt.group)
		if !g.add(s, key, ago, d.cfg.Grid) {
			d.m.unscored.WithLabelValues(rt.group).Inc()
			d.logOnce("channels:"+rt.group, "series has another channel count than "+
				"its group; its points are not scored", "series", key, "group", rt.group)
			continue
		}
		g.pending = append(g.pending, pendingPoint{key: key, ts: st.Time,
			value: slices.Clone(st.Values), alpha: rt.alpha, partition: m.Partition,
			offset: m.Offset, upd: upd})
	}
}

// rejectHint says why the grid refuses a sample for reason r and what the
// operator can do about it.
func rejectHint(r timeseries.Reason, cfg *timeseries.Config) string {
	// Kafka keeps order only within a partition: unkeyed messages are
	// spread over the input partitions, which are read at uneven speeds.
	const keyBySeries = "key input messages by series (name and labels), so that " +
		"each series stays on one partition and in order"
	switch r {
	case timeseries.ReasonTooLate:
		if cfg.Step == 0 {
			return "without a grid step a sample older than its series' newest is " +
				"dropped; " + keyBySeries
		}
		return "a sample older than its series' newest by more than the lateness is " +
			"dropped; " + keyBySeries + ", or raise scoring.lateness above behind"
	case timeseries.ReasonDuplicate:
		return "without a grid step a sample with the time of the one before is dropped"
	case timeseries.ReasonChannels:
		return "every sample of a series needs the same number of values"
	case timeseries.ReasonNonFinite:
		return "a value is NaN or infinite"
	case timeseries.ReasonBadTime:
		return "the time is outside what int64 Unix nanoseconds hold (1677 to 2262)"
	}
	return ""
}

// reject counts a sample the grid refused and logs the first refusal of
// each reason with a hint: the counter alone let a producer whose
// unkeyed messages were spread over the input partitions lose most of
// its data unnoticed. A batch the ingest writes again after a restart is
// refused as too late too, harmlessly.
func (d *Detector) reject(m *kafka.Message, smp *timeseries.Sample, s *timeseries.Series,
	r timeseries.Reason) {
	reason := r.String()
	d.m.rejected.WithLabelValues(reason).Inc()
	if !d.first("rejected:" + reason) {
		return
	}
	args := []any{"reason", reason, "series", smp.Series.Key(), "time", smp.Time,
		"partition", m.Partition, "offset", m.Offset}
	if s != nil && (r == timeseries.ReasonTooLate || r == timeseries.ReasonDuplicate) {
		newest := s.LastSampleTime()
		args = append(args, "newest", newest, "behind", newest.Sub(smp.Time),
			"lateness", d.cfg.Grid.Lateness)
	}
	args = append(args, "hint", rejectHint(r, &d.cfg.Grid))
	d.log.Warn("sample refused by the series grid; further ones with this reason are "+
		"only counted", args...)
}

func (d *Detector) group(name string) *groupState {
	g := d.groups[name]
	if g == nil {
		g = &groupState{name: name}
		d.groups[name] = g
	}
	return g
}

// add appends the window ending ago steps back in s, the series with key,
// to the batch and reports false when its channel count differs from the
// batch's.
func (g *groupBatch) add(s *timeseries.Series, key string, ago int,
	cfg timeseries.Config) bool {
	c := s.Channels()
	b := &g.batch
	if b.N == 0 {
		b.Reset(cfg.Window, c, cfg.ContextWidth(c))
	}
	if c != b.C {
		return false
	}
	n := b.W * b.C
	b.Windows = slices.Grow(b.Windows, n)[:len(b.Windows)+n]
	s.WindowAt(b.Windows[len(b.Windows)-n:], ago)
	if b.CtxWidth > 0 {
		b.Context = slices.Grow(b.Context, b.CtxWidth)[:len(b.Context)+b.CtxWidth]
		s.ContextAt(b.Context[len(b.Context)-b.CtxWidth:], ago)
	}
	st := s.Step(ago)
	b.Times = append(b.Times, st.Time)
	b.Series = append(b.Series, key)
	b.N++
	return true
}

// score runs every group's batch of w through its model and turns
// p-values below alpha into anomalies.
func (d *Detector) score(ctx context.Context, w *work) {
	for name, gb := range w.groups {
		if gb.batch.N > 0 {
			d.scoreGroup(ctx, d.group(name), gb)
		}
	}
}

func (d *Detector) scoreGroup(ctx context.Context, g *groupState, gb *groupBatch) {
	if g.model == nil {
		d.loadModel(ctx, g, false)
	}
	b := &gb.batch
	if g.model == nil {
		d.m.unscored.WithLabelValues(g.name).Add(float64(b.N))
		d.warmUp(ctx, g, b)
		return
	}
	if g.model.Window() != b.W || g.model.Channels() != b.C ||
		g.model.ContextWidth() != b.CtxWidth {
		d.m.unscored.WithLabelValues(g.name).Add(float64(b.N))
		d.logOnce("shape:"+g.name, "model shape differs from the grid; points not scored",
			"group", g.name, "model_window", g.model.Window(), "grid_window", b.W,
			"model_channels", g.model.Channels(), "series_channels", b.C,
			"model_context", g.model.ContextWidth(), "grid_context", b.CtxWidth)
		return
	}
	d.markReplays(ctx, gb)
	err := g.model.Score(ctx, b, &g.scores)
	if err == nil && (len(g.scores.Score) < b.N || len(g.scores.PValue) < b.N ||
		len(g.scores.Explain) < b.N*b.W) {
		err = errors.New("pipeline: model returned fewer scores than windows")
	}
	if err != nil {
		d.m.unscored.WithLabelValues(g.name).Add(float64(b.N))
		d.logOnce("score:"+g.name, "model failed to score; points not scored",
			"group", g.name, "version", g.model.Version(), "err", err)
		return
	}
	d.m.scored.WithLabelValues(g.name).Add(float64(b.N))
	if l, ok := g.model.(Learner); ok && d.cfg.LiveCalibration > 0 {
		g.calDirty = true
		d.m.liveCalibration.WithLabelValues(g.name).Set(float64(l.Live()))
	}
	version := g.model.Version()
	sc := &g.scores
	for i := range gb.pending {
		p := &gb.pending[i]
		score, pv := sc.Score[i], sc.PValue[i]
		u := -math.Log(pv)
		if len(sc.Surprise) >= b.N {
			u = sc.Surprise[i]
		}
		pol := d.policies[p.key]
		if pol == nil {
			pol = scorer.NewPolicy(scorer.PolicyConfig{Alpha: p.alpha, Run: d.cfg.Run})
			d.policies[p.key] = pol
		}
		dec := pol.Next(u) // a NaN p-value is no evidence
		if dec.Surprise != u {
			pv = dec.PValue() // the run's p-value decided
		}
		replay := b.Replayed != nil && b.Replayed[i]
		if replay {
			d.m.replayed.WithLabelValues(g.name).Inc()
		} else {
			d.m.score.Observe(score)
			d.m.pValue.Observe(pv)
		}
		if p.ts.Equal(p.upd.LastTS) {
			p.upd.LastScore, p.upd.LastPValue = &score, &pv
		}
		if !dec.Flagged {
			continue
		}
		// A replayed anomaly is written again, which stores nothing twice,
		// but is no new one.
		if !replay {
			d.m.anomalies.WithLabelValues(g.name).Inc()
		}
		d.anoms = append(d.anoms, store.Anomaly{SeriesKey: p.key, Group: g.name, TS: p.ts,
			Value: p.value, Score: score, PValue: pv, ModelVersion: version,
			Explanation: slices.Clone(g.scores.Explain[i*b.W : (i+1)*b.W]),
			Topic:       d.cfg.Topic, Partition: p.partition, Offset: p.offset})
	}
	d.watchDrift(ctx, g, gb)
}

// markReplays sets gb's Replayed marks: the points at or before their
// series' durable step, which an earlier detector scored and wrote. The
// durable step of each series is read once, when the detector first
// scores it; a failed read marks nothing, so at worst a replay is learned
// twice.
func (d *Detector) markReplays(ctx context.Context, gb *groupBatch) {
	if d.durableSrc == nil {
		return
	}
	var ask []string
	for i := range gb.pending {
		k := gb.pending[i].key
		if _, ok := d.durable[k]; !ok {
			d.durable[k] = time.Time{} // none until the read says otherwise
			ask = append(ask, k)
		}
	}
	if len(ask) > 0 {
		last, err := d.durableSrc.SeriesLastSteps(ctx, ask)
		if err != nil {
			d.logOnce("durable", "cannot read how far series were scored before; "+
				"replayed points may be learned twice", "err", err)
		}
		for k, t := range last {
			d.durable[k] = t
		}
	}
	b := &gb.batch
	for i := range gb.pending {
		p := &gb.pending[i]
		if until := d.durable[p.key]; !until.IsZero() && !p.ts.After(until) {
			if b.Replayed == nil {
				b.Replayed = make([]bool, b.N)
			}
			b.Replayed[i] = true
		}
	}
}

// loadModel asks the source for g's champion, at most every ModelRetry
// unless forced, and swaps it in when its version differs.
func (d *Detector) loadModel(ctx context.Context, g *groupState, force bool) {
	if !force && time.Since(g.tried) < d.cfg.ModelRetry {
		return
	}
	g.tried = time.Now()
	m, err := d.models.Champion(ctx, g.name)
	switch {
	case errors.Is(err, ErrNoModel):
		g.loadErr = nil
		return
	case err != nil:
		g.loadErr = err
		d.log.Warn("model load failed", "group", g.name, "err", err)
		return
	}
	g.loadErr = nil
	if g.model != nil && g.model.Version() == m.Version() {
		return
	}
	old := 0
	if g.model != nil {
		old = g.model.Version()
	}
	g.model = m
	g.keys = nil
	g.calDirty, g.calSaved = false, time.Now()
	if l, ok := m.(Learner); ok {
		l.Learn(d.cfg.LiveCalibration)
		d.resumeCalibration(ctx, g.name, l)
	}
	// The forecast side gets a copy of its own: scoring writes the
	// model's buffers.
	var fm *scorer.Model
	if f, ok := m.(*flowModel); ok {
		fm = f.m.Clone()
	}
	d.recent.setModel(g.name, fm)
	// The new model's p-values start a fresh window; an alarm about the
	// old one waiting to settle is moot.
	g.drift = nil
	d.m.modelVersion.WithLabelValues(g.name).Set(float64(m.Version()))
	d.mu.Lock()
	d.versions[g.name] = m.Version()
	d.mu.Unlock()
	d.log.Info("model loaded", "group", g.name, "version", m.Version(), "previous", old)
}

// resumeCalibration has l learn the live scores saved for its version,
// if any. Detectors sharing a group each learn from their own partitions
// and the newest save wins, so a restarted one resumes from whichever
// saved last: scores of the same group's series either way. The points
// a restart replays are not learned again (markReplays).
func (d *Detector) resumeCalibration(ctx context.Context, group string, l Learner) {
	if d.cals == nil {
		return
	}
	scores, err := d.cals.LiveCalibration(ctx, group, l.Version())
	if err != nil {
		d.log.Warn("saved live calibration unreadable; learning afresh", "group", group,
			"err", err)
		return
	}
	if len(scores) == 0 {
		return
	}
	l.Resume(scores)
	d.m.liveCalibration.WithLabelValues(group).Set(float64(l.Live()))
	d.log.Info("live calibration resumed", "group", group, "version", l.Version(),
		"scores", l.Live())
}

// applyReloads loads the champions of the groups named by Reload.
func (d *Detector) applyReloads(ctx context.Context) {
	for {
		select {
		case name := <-d.reload:
			if name == "" {
				for _, g := range d.groups {
					d.loadModel(ctx, g, true)
				}
				continue
			}
			if g := d.groups[name]; g != nil {
				d.loadModel(ctx, g, true)
			}
		default:
			return
		}
	}
}

// warmUp counts the ready windows of a group without a model and files
// its bootstrap training job once Bootstrap of them arrived.
func (d *Detector) warmUp(ctx context.Context, g *groupState, b *Batch) {
	if d.jobs == nil || d.cfg.Bootstrap <= 0 || g.filed {
		return
	}
	if g.keys == nil {
		g.keys = map[string]struct{}{}
	}
	for i, t := range b.Times[:b.N] {
		if g.from.IsZero() || t.Before(g.from) {
			g.from = t
		}
		if t.After(g.to) {
			g.to = t
		}
		g.keys[b.Series[i]] = struct{}{}
	}
	g.warm += b.N
	// A trainer splits each series' windows in time, so besides the total
	// every series should have a few windows' worth of history.
	if g.warm < d.cfg.Bootstrap || g.warm < minWarmPerSeries*d.cfg.Grid.Window*len(g.keys) {
		return
	}
	keys := make([]string, 0, len(g.keys))
	for k := range g.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// The first ready window starts W-1 steps before its newest step.
	from := g.from.Add(-time.Duration(d.cfg.Grid.Window-1) * d.cfg.Grid.Step)
	if err := d.jobs.FileBootstrap(ctx, g.name, from, g.to, keys); err != nil {
		d.log.Warn("filing the bootstrap training job failed; retrying", "group", g.name,
			"err", err)
		return
	}
	g.filed = true
	d.log.Info("bootstrap training job filed", "group", g.name, "windows", g.warm,
		"from", from, "to", g.to, "series", len(keys))
}
