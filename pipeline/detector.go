package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// DetectorConfig configures the scoring stage.
type DetectorConfig struct {
	Brokers []string
	// Topic is the samples topic written by Ingest.
	Topic string
	// Group is the consumer group the detectors share.
	Group string
	// Grid is the per-series grid; Grid.Window must match the models.
	Grid timeseries.Config
	// Rules assign series to model groups; nil puts every series in
	// DefaultGroup.
	Rules []GroupRule
	// Alpha is the flagging level of groups without their own.
	Alpha float64
	// Run is the number of recent points of a series whose surprises are
	// pooled into a run p-value (scorer.Policy); 0 means 4, negative
	// turns the run test off.
	Run int
	// LiveCalibration is how many live scores each group's model learns
	// into its calibration (scorer.Calibration.Learn), so that a pattern
	// the group shows again and again stops looking rare. 0 learns none.
	LiveCalibration int
	// CalibrationSave is how often each learning group's live scores are
	// saved with a batch's results, and they are saved once more at stop,
	// when the ResultWriter is a CalibrationSource; a detector that loads
	// the same champion resumes from them. Default 1m; negative saves
	// none.
	CalibrationSave time.Duration
	// BatchSize and BatchWait bound a micro-batch. Defaults 2000 and 50ms.
	BatchSize int
	BatchWait time.Duration
	// Bootstrap is the number of ready windows a group without a model
	// collects, and at least 2*W per series on average, before it files a
	// training job. Zero files none.
	Bootstrap int
	// ModelRetry is how often a group without a model asks the source
	// again, besides Reload. Default 30s.
	ModelRetry time.Duration
	// StopTimeout bounds the last batch (write and commit) and the
	// reader's close once Run's context ends. Default 10s.
	StopTimeout time.Duration
	// LagInterval is how often consumer lag and group membership are
	// read. Default 15s.
	LagInterval time.Duration
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout tune the
	// group membership; zero keeps kafka-go's defaults.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
	// Drift watches each group's p-values for drift and, through a
	// JobFiler that is also a DriftFiler, records drift events and files
	// retrain jobs. The zero value watches nothing.
	Drift DriftConfig
	// RecentSteps is how many of each series' newest grid steps are kept
	// for RecentValues and ForecastInput, at least Grid.Window (default
	// DefaultRecentSteps; negative keeps none). Each step costs 8+8*C
	// bytes per series.
	RecentSteps int
}

func (c *DetectorConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 2000
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 50 * time.Millisecond
	}
	if c.ModelRetry <= 0 {
		c.ModelRetry = 30 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.LagInterval <= 0 {
		c.LagInterval = 15 * time.Second
	}
	if c.CalibrationSave == 0 {
		c.CalibrationSave = time.Minute
	}
	c.Drift.setDefaults()
	if c.Run == 0 {
		c.Run = 4
	}
	if c.RecentSteps == 0 {
		c.RecentSteps = DefaultRecentSteps
	}
	if c.RecentSteps > 0 {
		c.RecentSteps = max(c.RecentSteps, c.Grid.Window)
	}
}

// ResultWriter makes a batch's results durable; *store.Store is one.
type ResultWriter interface {
	SaveResults(ctx context.Context, r store.Results) (int64, error)
}

var (
	_ ResultWriter      = (*store.Store)(nil)
	_ CalibrationSource = (*store.Store)(nil)
	_ DurableSource     = (*store.Store)(nil)
)

// Detector is the scoring stage: it consumes the samples topic in a
// consumer group, keeps each series' grid, scores the windows of every
// batch with its group's model in one call per group, writes anomalies and
// series state through a ResultWriter, and only then commits offsets.
//
// Run owns all state, split between its push and finish goroutines;
// Reload, Ready and ModelVersions may be called from any goroutine.
type Detector struct {
	cfg     DetectorConfig
	m       *Metrics
	log     *slog.Logger
	results ResultWriter
	models  ModelSource
	jobs    JobFiler
	drifts  DriftFiler        // jobs, when it is one
	cals    CalibrationSource // results, when it is one and saving is on
	// durableSrc is results, when it is a DurableSource; durable holds
	// the durable step it gave for each series scored since the start
	// (zero: none). Finish side.
	durableSrc DurableSource
	durable    map[string]time.Time

	// Owned by the push side (Run's goroutine).
	router *router
	parts  map[int]*partState

	// Owned by the finish side.
	groups    map[string]*groupState
	policies  map[string]*scorer.Policy // per series key
	anoms     []store.Anomaly
	committed map[int]int64 // last committed position per partition

	logMu  sync.Mutex
	logged map[string]bool

	reload   chan string
	joined   atomic.Bool
	pgFailed atomic.Bool
	waiting  atomic.Pointer[string] // why the detector is not ready, or nil

	mu       sync.Mutex
	versions map[string]int // model version per group, for WatchModels

	recent *recent // copies of the newest steps, for readers off the loop
}

// NewDetector returns the stage. results and models are required; jobs
// may be nil (no bootstrap jobs) and so may m and log. When jobs also
// implements DriftFiler, drift alarms (cfg.Drift) are filed through it.
func NewDetector(cfg DetectorConfig, results ResultWriter, models ModelSource,
	jobs JobFiler, m *Metrics, log *slog.Logger) (*Detector, error) {
	cfg.setDefaults()
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Group == "" {
		return nil, errors.New("pipeline: detector: need brokers, a topic and a group")
	}
	if results == nil || models == nil {
		return nil, errors.New("pipeline: detector: need a result writer and a model source")
	}
	if cfg.Alpha <= 0 || cfg.Alpha >= 1 {
		return nil, fmt.Errorf("pipeline: detector: alpha %v not in (0, 1)", cfg.Alpha)
	}
	if err := cfg.Grid.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: detector: %w", err)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Detector{
		cfg: cfg, m: m, log: log.With("stage", "detector"), results: results,
		models: models, jobs: jobs, router: newRouter(cfg.Rules, cfg.Alpha),
		parts: map[int]*partState{}, groups: map[string]*groupState{},
		policies:  map[string]*scorer.Policy{},
		committed: map[int]int64{}, logged: map[string]bool{},
		reload: make(chan string, 256), versions: map[string]int{},
		recent: newRecent(cfg.RecentSteps),
	}
	d.drifts, _ = jobs.(DriftFiler)
	d.durableSrc, _ = results.(DurableSource)
	d.durable = map[string]time.Time{}
	if cfg.CalibrationSave > 0 && cfg.LiveCalibration > 0 {
		d.cals, _ = results.(CalibrationSource)
	}
	joining := "consumer group not joined yet"
	d.waiting.Store(&joining)
	return d, nil
}

// Reload asks the detector to load the champion of group again before its
// next batch, for a registry notification. It never blocks; an empty
// group reloads every group.
func (d *Detector) Reload(group string) {
	select {
	case d.reload <- group:
	default:
		// Full: one reload of everything covers whatever was dropped.
		select {
		case d.reload <- "":
		default:
		}
	}
}

// Ready returns nil when the detector has joined its group, its last
// PostgreSQL write succeeded and every group it has seen has a model or
// is knowingly warming up; otherwise an error saying what is missing.
func (d *Detector) Ready() error {
	// kafka-go hides the member id, so "joined" means the group is stable
	// with members, not that this detector is one of them.
	if !d.joined.Load() {
		return errors.New("consumer group not joined yet")
	}
	if d.pgFailed.Load() {
		return errors.New("last PostgreSQL write failed; commits are held")
	}
	if w := d.waiting.Load(); w != nil {
		return errors.New(*w)
	}
	return nil
}

// ModelVersions returns the version of the model in use per group.
func (d *Detector) ModelVersions() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int, len(d.versions))
	for g, v := range d.versions {
		out[g] = v
	}
	return out
}

// Run consumes until ctx ends; then it stops fetching, finishes the batch
// in hand (write and commit, within StopTimeout) and leaves the group. It
// returns nil after a clean stop.
//
// Two goroutines share the work: Run's own pushes each micro-batch through
// the grids and gathers its windows, while a second one scores the
// previous batch, writes its results and commits. Two batches are in
// flight at most.
func (d *Detector) Run(ctx context.Context) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: d.cfg.Brokers, GroupID: d.cfg.Group, Topic: d.cfg.Topic,
		StartOffset: kafka.FirstOffset, MaxWait: 250 * time.Millisecond,
		SessionTimeout: d.cfg.SessionTimeout, HeartbeatInterval: d.cfg.HeartbeatInterval,
		RebalanceTimeout: d.cfg.RebalanceTimeout, JoinGroupBackoff: time.Second,
		ReadLagInterval: -1, Dialer: &kafka.Dialer{Timeout: dialer.Timeout},
	})
	f := startFetcher(r, 2*d.cfg.BatchSize)
	mctx, stopMonitor := context.WithCancel(ctx)
	monitorDone := make(chan struct{})
	go func() { defer close(monitorDone); d.monitor(mctx) }()
	d.log.Info("detector started", "topic", d.cfg.Topic, "group", d.cfg.Group)

	// The finish side keeps StopTimeout to write and commit what it holds
	// once ctx ends or the push side gives up.
	pctx, stopPush := context.WithCancel(ctx)
	fctx, stopFinish := context.WithCancel(ctx)
	wctx, cancelWrites := stopContext(fctx, d.cfg.StopTimeout)
	defer cancelWrites()
	todo, free := make(chan *work, 1), make(chan *work, 2)
	free <- newWork()
	free <- newWork()
	finished := make(chan error, 1)
	go func() {
		var err error
		for w := range todo {
			if err == nil {
				if err = d.finish(wctx, r, w); err != nil {
					stopPush()
				}
			}
			w.reset()
			free <- w
		}
		if err == nil {
			d.saveCalibrations(wctx)
		}
		finished <- err
	}()

	var err error
	var msgs []kafka.Message
	for pctx.Err() == nil {
		w := <-free
		msgs, err = f.next(pctx, msgs[:0], d.cfg.BatchSize, d.cfg.BatchWait, time.Second)
		if err != nil {
			free <- w
			break
		}
		d.fill(w, msgs)
		todo <- w
	}
	f.stop()
	stopFinish()
	close(todo)
	err = errors.Join(err, <-finished)
	stopPush()
	stopMonitor()
	<-monitorDone
	if errors.Is(err, errStopped) {
		err = nil
	}
	d.log.Info("detector stopped")
	return errors.Join(err, closeReader(r, d.cfg.StopTimeout))
}

// fill pushes msgs through the grids into w, with the commit positions
// they allow once w's results are durable.
func (d *Detector) fill(w *work, msgs []kafka.Message) {
	w.start = time.Now()
	w.msgs = len(msgs)
	for i := range msgs {
		d.push(w, &msgs[i])
	}
	d.m.messages.Add(float64(len(msgs)))
	w.gone = d.evict(w.gone)
	for p, ps := range d.parts {
		w.positions[p] = ps.position()
	}
}

// finish scores w, makes its results durable and commits its positions.
// An empty batch only refreshes readiness and retries a held commit.
func (d *Detector) finish(ctx context.Context, r *kafka.Reader, w *work) error {
	d.applyReloads(ctx)
	d.score(ctx, w)
	if err := d.persist(ctx, w); err != nil {
		return err
	}
	d.recent.apply(w.recent, w.recentVals, w.gone)
	for _, key := range w.gone {
		delete(d.policies, key)
		delete(d.durable, key)
	}
	d.readiness()
	d.commit(ctx, r, w.positions)
	if w.msgs > 0 {
		d.m.batchSeconds.Observe(time.Since(w.start).Seconds())
	}
	return nil
}

// persist writes the batch's results, retrying with backoff until they are
// durable or ctx ends. Nothing is committed before it returns nil.
func (d *Detector) persist(ctx context.Context, w *work) error {
	res := store.Results{Anomalies: d.anoms}
	for _, u := range w.updates {
		res.Series = append(res.Series, *u)
	}
	defer func() { d.anoms = d.anoms[:0] }()
	if len(res.Anomalies) == 0 && len(res.Series) == 0 {
		return nil
	}
	saved := d.calibrations(&res, false)
	b := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		_, err := d.results.SaveResults(ctx, res)
		if err == nil {
			d.m.pgSeconds.Observe(time.Since(start).Seconds())
			if d.pgFailed.Swap(false) {
				d.log.Info("postgres writes recovered", "attempts", attempt)
			}
			markSaved(saved, start)
			return nil
		}
		d.m.pgErrors.Inc()
		if !d.pgFailed.Swap(true) {
			d.log.Warn("postgres write failed; holding commits and retrying", "err", err,
				"anomalies", len(res.Anomalies))
		}
		if !sleep(ctx, b.next()) {
			d.log.Error("postgres write abandoned at stop; the batch will be re-read",
				"err", err, "anomalies", len(res.Anomalies))
			return fmt.Errorf("pipeline: write results: %w", err)
		}
	}
}

// calibrations adds to r the live scores of the groups that learned since
// their last save, CalibrationSave ago or more (all of them when final),
// and returns those groups.
func (d *Detector) calibrations(r *store.Results, final bool) []*groupState {
	if d.cals == nil {
		return nil
	}
	var gs []*groupState
	for _, g := range d.groups {
		l, ok := g.model.(Learner)
		if !ok || !g.calDirty || !final && time.Since(g.calSaved) < d.cfg.CalibrationSave {
			continue
		}
		r.Calibrations = append(r.Calibrations, store.LiveCalibration{Group: g.name,
			Version: l.Version(), Scores: l.LiveScores()})
		gs = append(gs, g)
	}
	return gs
}

func markSaved(gs []*groupState, at time.Time) {
	for _, g := range gs {
		g.calDirty, g.calSaved = false, at
	}
}

// saveCalibrations saves, once, the live scores learned since the last
// save, for the next detector to resume from. A failure loses only that
// learning: the scores are no result, and the offsets are committed.
func (d *Detector) saveCalibrations(ctx context.Context) {
	var r store.Results
	gs := d.calibrations(&r, true)
	if len(gs) == 0 {
		return
	}
	if _, err := d.results.SaveResults(ctx, r); err != nil {
		d.m.pgErrors.Inc()
		d.log.Warn("live calibration not saved at stop; the next detector learns it afresh",
			"err", err)
		return
	}
	markSaved(gs, time.Now())
}

// commit commits the positions that moved forward. A failed commit is
// retried after the next batch, whose positions are at least as far.
func (d *Detector) commit(ctx context.Context, r *kafka.Reader, positions map[int]int64) {
	var cms []kafka.Message
	for p, pos := range positions {
		if c, ok := d.committed[p]; pos > 0 && (!ok || pos > c) {
			cms = append(cms, kafka.Message{Topic: d.cfg.Topic, Partition: p, Offset: pos - 1})
		}
	}
	if len(cms) == 0 {
		return
	}
	if err := r.CommitMessages(ctx, cms...); err != nil {
		d.m.commitErrors.Inc()
		d.log.Warn("commit failed; retrying with the next batch", "err", err)
		return
	}
	for _, c := range cms {
		d.committed[c.Partition] = c.Offset + 1
	}
}

// evict forgets idle series and silent partitions, appends their keys to
// gone and sets the series gauge. It runs on the push side.
func (d *Detector) evict(gone []string) []string {
	n := 0
	for p, ps := range d.parts {
		// kafka-go does not report revoked partitions: a partition silent
		// for IdleAfter of wall time is forgotten. Should it still be ours,
		// its next series restart their windows.
		if idle := d.cfg.Grid.IdleAfter; idle > 0 && time.Since(ps.seen) > idle {
			for key := range ps.needs {
				d.router.forget(key)
				gone = append(gone, key)
			}
			delete(d.parts, p)
			continue
		}
		for _, key := range ps.evict() {
			d.router.forget(key)
			gone = append(gone, key)
		}
		n += ps.grid.Len()
	}
	d.m.series.Set(float64(n))
	return gone
}

// readiness records whether every group has a model or is warming up. It
// runs on the finish side.
func (d *Detector) readiness() {
	var why *string
	for _, g := range d.groups {
		if g.model == nil && g.loadErr != nil {
			s := fmt.Sprintf("model of group %q cannot be loaded: %v", g.name, g.loadErr)
			why = &s
			break
		}
	}
	d.waiting.Store(why)
}

// logOnce logs msg at warn level the first time key is seen.
func (d *Detector) logOnce(key, msg string, args ...any) {
	if d.first(key) {
		d.log.Warn(msg, args...)
	}
}

// first reports whether logOnce's key is new and marks it seen, for
// callers whose log arguments are too costly to build every time.
func (d *Detector) first(key string) bool {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	seen := d.logged[key]
	d.logged[key] = true
	return !seen
}
