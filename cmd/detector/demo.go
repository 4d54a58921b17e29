package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/flowguard/flowguard/alerts"
	"github.com/flowguard/flowguard/demo"
	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/nab"
	"github.com/flowguard/flowguard/pipeline"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
	"github.com/flowguard/flowguard/training"
)

// demoURL is the demo's own database, so that its results mix with
// nothing else.
const demoURL = "postgres://postgres@127.0.0.1:5432/flowguard_demo?sslmode=disable"

// demoSettings are the flags of "detector demo".
type demoSettings struct {
	CSV    []string `yaml:"csv" help:"NAB-format CSV files to replay (timestamp,value), one series each; none: a generated series with injected faults"`
	Labels string   `yaml:"labels" help:"NAB labels file (JSON): report which labelled windows of the CSV files were flagged"`
	Speed  float64  `yaml:"speed" range:"[0,)" help:"event time replayed per unit of wall time (600: 5 minutes of data in 0.5 s); 0: as fast as the detector takes it"`
	Serve  bool     `yaml:"serve" help:"after the replay, keep serving /metrics, /healthz, /readyz and the dashboard until interrupted"`
	Show   int      `yaml:"show" range:"[0,)" help:"most anomalies printed one by one (all are stored)"`

	// Not database.url: its variable FLOWGUARD_DATABASE_URL may name a
	// real detector's database, which a reset would empty.
	Database string `yaml:"demo_database" help:"PostgreSQL URL of the demo's own database, created if missing"`
	Reset    bool   `yaml:"reset" help:"drop flowguard's tables in the demo database first, so one demo's results never mix with the last's"`
	Scoring  struct {
		Step      time.Duration   `yaml:"step" range:"[0,)" help:"grid step; 0: the median spacing of the data"`
		Window    int             `yaml:"window" range:"[1,)" help:"steps in a model window (W)"`
		Lags      []time.Duration `yaml:"lags" range:"(0,)" help:"seasonal lags, such as 24h,168h, offered to the models as context; a model keeps those its training data span twice"`
		Alpha     float64         `yaml:"alpha" range:"(0,1)" help:"flag a point when its p-value is below this"`
		Bootstrap int             `yaml:"bootstrap" range:"[0,)" help:"windows collected before the first model is trained; 0: 2000, or 15% of the data if less (NAB's probation)"`
	} `yaml:"scoring"`
	Model struct {
		LayerType string `yaml:"layer_type" help:"flow layer: spline (rational-quadratic) or affine"`
		Hidden    int    `yaml:"hidden" range:"[0,)" help:"width of the flow's hidden layers; 0: the trainer's choice"`
		Layers    int    `yaml:"layers" range:"[0,)" help:"flow layers; 0: the trainer's choice"`
	} `yaml:"model"`
	Alerts demoAlerts  `yaml:"alerts"`
	HTTP   config.HTTP `yaml:"http"`
	Log    config.Log  `yaml:"log"`
}

// demoAlerts are the alerts settings of the detector that matter in the
// demo, with the detector's defaults: the demo delivers to its own output
// only, so it has no sinks or routes.
type demoAlerts struct {
	Gap              time.Duration `yaml:"gap" range:"(0,)" help:"most series time between points of one incident"`
	Cooldown         time.Duration `yaml:"cooldown" range:"[0,)" help:"series time after a resolve with no new incident"`
	CriticalPValue   float64       `yaml:"critical_p_value" range:"(0,1]" help:"smallest p-value at most this: critical, else warning"`
	OpenPValue       float64       `yaml:"open_p_value" range:"(0,1]" help:"one anomaly opens an incident if its p-value is at most this"`
	RunLength        int           `yaml:"run_length" range:"0|[2,)" help:"length of runs whose Fisher p-value may open one; 0: off"`
	RunPValue        float64       `yaml:"run_p_value" range:"(0,1]" help:"a run opens an incident if its Fisher p-value is at most this"`
	SeriesRateLimit  int           `yaml:"series_rate_limit" range:"[0,)" help:"most incidents per series and window; 0: no limit"`
	SeriesRateWindow time.Duration `yaml:"series_rate_window" range:"(0,)" help:"series-time window of series_rate_limit"`
}

// apply sets a's values on the detector's alerts settings c.
func (a demoAlerts) apply(c *config.Alerts) {
	c.Gap, c.Cooldown = a.Gap, a.Cooldown
	c.CriticalPValue, c.OpenPValue = a.CriticalPValue, a.OpenPValue
	c.RunLength, c.RunPValue = a.RunLength, a.RunPValue
	c.SeriesRateLimit, c.SeriesRateWindow = a.SeriesRateLimit, a.SeriesRateWindow
}

func defaultDemo() *demoSettings {
	d := &demoSettings{Show: 20}
	d.Database = demoURL
	d.Reset = true
	d.Scoring.Window = 16
	d.Scoring.Alpha = config.DefaultDetector().Scoring.Alpha
	d.Model.LayerType = flowmodel.LayerSpline
	d.HTTP = config.DefaultDetector().HTTP
	d.Log = config.Log{Level: "warn", Format: "text"}
	a := config.DefaultDetector().Alerts
	d.Alerts = demoAlerts{Gap: a.Gap, Cooldown: a.Cooldown, CriticalPValue: a.CriticalPValue,
		OpenPValue: a.OpenPValue, RunLength: a.RunLength, RunPValue: a.RunPValue,
		SeriesRateLimit: a.SeriesRateLimit, SeriesRateWindow: a.SeriesRateWindow}
	return d
}

// check refuses what the range tags cannot say, before anything is read
// or started; config.Load has checked every range.
func (d *demoSettings) check() error {
	if t := d.Model.LayerType; t != flowmodel.LayerSpline && t != flowmodel.LayerAffine {
		return fmt.Errorf("demo: --model.layer_type %q: want %s or %s", t,
			flowmodel.LayerSpline, flowmodel.LayerAffine)
	}
	return nil
}

// runDemo is "detector demo": the whole system in one process on a replay
// of CSV files or of a generated series.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	set := defaultDemo()
	if err := config.LoadNoArgs("detector demo", set, args, getenv, stdout); err != nil {
		return err
	}
	if err := set.check(); err != nil {
		return err
	}
	log, err := set.Log.Logger(stderr)
	if err != nil {
		return err
	}
	data, err := demoData(set)
	if err != nil {
		return err
	}
	out := &narrator{w: stdout, start: time.Now()}
	out.printf("%s", data.describe())
	for _, n := range data.notes {
		out.printf("%s", n)
	}

	release, err := lockDemo(set.Database)
	if err != nil {
		return err
	}
	defer release()
	s, err := demoStore(ctx, set.Database, set.Reset)
	if err != nil {
		return err
	}
	defer s.Close()
	out.printf("results go to %s (tables anomalies, incidents, models); anomalies less "+
		"than alerts.gap (%s) apart form one incident", store.Redact(set.Database), set.Alerts.Gap)
	if !set.Reset {
		champs, err := s.ChampionVersions(ctx)
		if err != nil {
			return err
		}
		if v := champs[pipeline.DefaultGroup]; v > 0 {
			out.printf("--reset=false: model %s v%d of an earlier run is the champion; it "+
				"scores the replay from the start, and no first model is trained",
				pipeline.DefaultGroup, v)
		}
	}
	if set.Alerts.Gap < data.step {
		out.printf("alerts.gap %s is shorter than the step %s: every anomaly is an incident "+
			"of its own (--alerts.gap %s groups neighbours)", set.Alerts.Gap, data.step,
			2*data.step)
	}

	cfg := config.DefaultDetector()
	cfg.Database.URL = set.Database
	cfg.Kafka.Partitions = 4
	cfg.Scoring.Step = data.step
	cfg.Scoring.Window = set.Scoring.Window
	cfg.Scoring.Lags = set.Scoring.Lags
	cfg.Scoring.Alpha = set.Scoring.Alpha
	cfg.Scoring.Bootstrap = data.bootstrap
	cfg.ShutdownTimeout = 6 * time.Second
	cfg.HTTP = set.HTTP
	set.Alerts.apply(&cfg.Alerts)
	// Weeks of data pass in seconds: rate limits in wall time mean nothing
	// here.
	cfg.Alerts.GlobalRateLimit = 0
	cfg.Alerts.Poll = 200 * time.Millisecond

	broker, err := embedkafka.Start(embedkafka.Config{Addr: "127.0.0.1:0",
		Partitions: cfg.Kafka.Partitions})
	if err != nil {
		return fmt.Errorf("demo: in-process broker: %w", err)
	}
	defer broker.Close()
	brokers := []string{broker.Addr()}
	cfg.Kafka.Brokers = brokers
	if err := pipeline.EnsureTopics(ctx, brokers, cfg.Kafka.Partitions, cfg.Kafka.SamplesTopic,
		cfg.Kafka.DeadLetterTopic, cfg.Kafka.InputTopics[0]); err != nil {
		return err
	}

	// The replay polls the pipeline's counters often: they get a registry
	// of their own, cheap to gather.
	reg, pm := newRegistry(), prometheus.NewRegistry()
	writer := &demoWriter{ResultWriter: s, out: out, show: set.Show,
		last: map[string]time.Time{}}
	// The dashboard charts the whole replay, so that the flagged points of
	// every day are on it: one series of weeks costs well under a megabyte.
	st, err := newStages(cfg, brokers, s, writer, pipeline.NewMetrics(pm), log, data.steps())
	if err != nil {
		return err
	}
	sink := &demoSink{log: alerts.NewLog(log.With("component", "alerts")), out: out}
	as, closeAlerts, err := newAlerts(ctx, cfg, brokers, log, reg, sink)
	if err != nil {
		return err
	}
	defer closeAlerts()
	st.alerts = as

	wc := training.DefaultWorkerConfig()
	wc.Brokers, wc.Topic, wc.Poll = brokers, cfg.Kafka.SamplesTopic, 2*time.Second
	wc.Fit.Spec = flowmodel.Spec{LayerType: set.Model.LayerType, Hidden: set.Model.Hidden,
		Layers: set.Model.Layers}
	wc.Fit.Calendar = scorer.Off
	worker, err := training.NewWorker(s, wc, log.With("component", "trainer"), reg)
	if err != nil {
		return err
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return st.run(gctx) })
	g.Go(func() error { return worker.Run(gctx) })
	g.Go(func() error { watchModels(gctx, s, st.detector, out); return nil })
	if set.Serve {
		srv, addr, err := listen(set.HTTP.Addr, handler(prometheus.Gatherers{reg, pm}, s, st.detector,
			set.HTTP.Token, log))
		if err != nil {
			stopRun()
			return errors.Join(err, g.Wait())
		}
		out.printf("serving http://%s/ (dashboard), /metrics, /healthz, /readyz", addr)
		defer shutdown(srv)
	}
	g.Go(func() error {
		r := &demoRun{set: set, data: data, s: s, st: st, reg: pm, writer: writer,
			sink: sink, out: out, topic: cfg.Kafka.InputTopics[0], brokers: brokers,
			bootstrap: data.bootstrap, alertsGap: cfg.Alerts.Gap}
		if err := r.replay(gctx); err != nil {
			return err
		}
		if set.Serve {
			out.printf("still serving; interrupt (Ctrl-C) to stop")
			<-gctx.Done()
			return nil
		}
		stopRun()
		return nil
	})
	err = g.Wait()
	if err == nil && ctx.Err() != nil && !set.Serve {
		return fmt.Errorf("demo: interrupted: %w", ctx.Err())
	}
	return err
}

// demoInput is the data the demo replays and what it knows about it.
type demoInput struct {
	series    [][]timeseries.Sample // as replayed: each file's rows in file order
	sorted    [][]timeseries.Sample // the same rows in time order
	faults    []demo.Fault          // injected faults or labelled windows
	source    string
	step      time.Duration
	bootstrap int
	window    int
	notes     []string // what the files hold that the grid refuses or averages
}

func (d *demoInput) describe() string {
	n := 0
	for _, s := range d.series {
		n += len(s)
	}
	first, last := d.sorted[0][0].Time, d.sorted[0][len(d.sorted[0])-1].Time
	return fmt.Sprintf("replaying %s: %d series, %d points, %s to %s, step %s; "+
		"the first model is trained on the first %d windows", d.source, len(d.series), n,
		first.Format("2006-01-02 15:04"), last.Format("2006-01-02 15:04"), d.step,
		d.bootstrap)
}

// steps returns the grid steps of the longest series.
func (d *demoInput) steps() int {
	n := 0
	for _, ss := range d.sorted {
		n = max(n, int(ss[len(ss)-1].Time.Sub(ss[0].Time)/d.step)+1)
	}
	return n
}

// demoData reads the CSV files (with their labelled windows) or generates
// the series, and settles the grid step and the bootstrap size.
func demoData(set *demoSettings) (*demoInput, error) {
	d := &demoInput{window: set.Scoring.Window}
	var reports []demo.CSVReport
	if len(set.CSV) == 0 {
		ss, faults := demo.Generate(demo.DefaultGen())
		d.series, d.faults = [][]timeseries.Sample{ss}, faults
		d.source = "a generated machine temperature with " + fmt.Sprint(len(faults)) +
			" injected faults"
		// The first week is clean by construction: train on it.
		if set.Scoring.Bootstrap == 0 {
			set.Scoring.Bootstrap = 2000
		}
	} else {
		var labels nab.Labels
		if set.Labels != "" {
			var err error
			if labels, err = nab.LoadLabels(set.Labels); err != nil {
				return nil, err
			}
		}
		for _, p := range set.CSV {
			ss, rep, err := demo.ReadCSVRows(p)
			if err != nil {
				return nil, err
			}
			reports = append(reports, rep)
			d.series = append(d.series, ss)
			if labels == nil {
				continue
			}
			name, ok := labelName(labels, p)
			if !ok {
				return nil, unlabelled(set.Labels, labels, p)
			}
			if len(labels[name]) == 0 {
				d.notes = append(d.notes, fmt.Sprintf("%s: the labels (%s) hold no anomaly "+
					"window for it: any incident there is a false alarm", p, name))
			}
			for _, w := range labels[name] {
				d.faults = append(d.faults, demo.Fault{Kind: "labelled window",
					Series: ss[0].Series.Key(), From: w.First, To: w.Last})
			}
		}
		d.source = strings.Join(set.CSV, ", ")
	}
	d.step = set.Scoring.Step
	if d.step == 0 {
		for i, ss := range d.series {
			st := scorer.MedianSpacing(ss)
			if i > 0 && st != d.step {
				return nil, fmt.Errorf("demo: %s has step %s, %s has %s: the detector has one "+
					"grid; give --scoring.step", set.CSV[0], d.step, set.CSV[i], st)
			}
			d.step = st
		}
		if d.step <= 0 {
			return nil, errors.New("demo: cannot tell the data's step; give --scoring.step")
		}
	}
	for i, ss := range d.series {
		d.sorted = append(d.sorted, slices.SortedStableFunc(slices.Values(ss),
			func(a, b timeseries.Sample) int { return a.Time.Compare(b.Time) }))
		if i < len(reports) && reports[i] != (demo.CSVReport{}) {
			// What becomes of them depends on the batches the ingest
			// reads: the summary counts what happened.
			d.notes = append(d.notes, fmt.Sprintf("%s: %s; all replayed in file order, as "+
				"a producer sends them, and treated as the service treats them: the "+
				"ingest sorts each batch it reads by time, the grid averages rows that "+
				"share a step and refuses a row whose step is already final (summary: "+
				"rejected, and other for shared steps)", set.CSV[i], reports[i]))
		}
	}
	total := 0
	for _, ss := range d.series {
		total += len(ss)
	}
	d.bootstrap = set.Scoring.Bootstrap
	if d.bootstrap == 0 {
		d.bootstrap = min(2000, max(total*15/100, 150))
	}
	return d, nil
}

// labelName returns the name under which the labels hold path: the
// "category/file.csv" name that ends path, or else the one with path's
// base name.
func labelName(l nab.Labels, path string) (string, bool) {
	p := filepath.ToSlash(path)
	for _, name := range l.Names() {
		if strings.HasSuffix(p, "/"+name) || p == name {
			return name, true
		}
	}
	for _, name := range l.Names() {
		if filepath.Base(name) == filepath.Base(p) {
			return name, true
		}
	}
	return "", false
}

// unlabelled is the error for a CSV file the labels do not name: the
// labelled-window report asked for cannot be made, as evaluate refuses
// such labels too. It names the labels' names closest to the file's.
func unlabelled(labelsPath string, l nab.Labels, path string) error {
	base := strings.ToLower(filepath.Base(filepath.ToSlash(path)))
	type near struct {
		name string
		d    int
	}
	var cands []near
	for _, name := range l.Names() {
		b := strings.ToLower(filepath.Base(name))
		if d := editDistance(base, b); d <= max(2, len(base)/5) {
			cands = append(cands, near{name, d})
		}
	}
	slices.SortStableFunc(cands, func(a, b near) int { return a.d - b.d })
	hint := ""
	if len(cands) > 0 {
		var names []string
		for _, c := range cands[:min(3, len(cands))] {
			names = append(names, fmt.Sprintf("%q", c.name))
		}
		hint = "; close names there: " + strings.Join(names, ", ")
	}
	return fmt.Errorf("demo: --labels %s names no window for %s (none of its %d names has "+
		"the base name %s%s): give labels for this file, or leave out --labels to replay "+
		"it without the labelled-window report", labelsPath, path, len(l),
		filepath.Base(path), hint)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// demoStore opens (creating it if needed) the demo database, emptied first
// when reset is set, with the current schema.
func demoStore(ctx context.Context, url string, reset bool) (*store.Store, error) {
	if err := store.EnsureDatabase(ctx, url); err != nil {
		return nil, fmt.Errorf("%w\nthe demo needs PostgreSQL: start the local server, "+
			"install it ('apt-get install postgresql'), or give --demo_database", err)
	}
	s, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if reset {
		err = s.MigrateDownTo(ctx, 0)
	}
	if err == nil {
		_, err = s.Migrate(ctx)
	}
	var newer *store.SchemaNewerError
	if errors.As(err, &newer) {
		// The demo's reset rolls back the migrations it knows; tables of
		// newer ones it cannot roll back, and dropping the whole database
		// is more than --reset promises (--demo_database may name any).
		err = fmt.Errorf("%w\ndemo: a newer flowguard migrated %s; the demo's reset rolls "+
			"back only the migrations this one knows, so it leaves the database as it is: "+
			"run the newer flowguard, give --demo_database another database, or drop this "+
			"one (psql %q -c 'DROP DATABASE %s') for this flowguard to create it anew",
			err, store.Redact(url), serverURL(url), dbName(url))
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// dbName is the database a PostgreSQL URL names.
func dbName(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "<database>"
	}
	return strings.TrimPrefix(u.Path, "/")
}

// serverURL is raw naming the server's postgres database instead, to
// connect to while dropping raw's, with any password hidden.
func serverURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "<server URL>"
	}
	u.Path = "/postgres"
	return store.Redact(u.String())
}

// listen serves h on addr in the background.
func listen(addr string, h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().String(), nil
}

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// trainWait bounds how long the replay is held for one training job, and
// stallWait how long the detector may take no new point while points are
// waiting: the demo ends with an error instead of hanging.
const (
	trainWait = 5 * time.Minute
	stallWait = time.Minute
)

// demoRun is the replay and its report.
type demoRun struct {
	set       *demoSettings
	data      *demoInput
	s         *store.Store
	st        *stages
	reg       prometheus.Gatherer
	writer    *demoWriter
	sink      *demoSink
	out       *narrator
	topic     string
	brokers   []string
	bootstrap int
	jobs      int // training jobs seen
	alertsGap time.Duration
}

// replay writes the data, holding it once the bootstrap job is filed
// until its model is in, waits until every point is scored and its
// incidents are made, and prints the summary.
func (r *demoRun) replay(ctx context.Context) error {
	samples := demo.Merge(r.data.series...)
	written, err := demo.Replay(ctx, demo.ReplayConfig{Brokers: r.brokers, Topic: r.topic,
		Speed: r.set.Speed, Consumed: r.consumed, Ahead: r.ahead, Stall: stallWait}, samples)
	if err != nil {
		return err
	}
	r.out.printf("replay written: %d points; waiting for the detector to score them", written)
	want := map[string]time.Time{}
	for _, ss := range r.data.sorted {
		if t, ok := demo.LastStep(ss, r.data.step); ok {
			want[ss[0].Series.Key()] = t
		}
	}
	progress, moved := r.consumed(), time.Now()
	for !r.writer.reached(want) {
		if !pipeline.Sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
		if n := r.consumed() + r.writer.writes(); n != progress {
			progress, moved = n, time.Now()
		} else if time.Since(moved) > stallWait {
			return fmt.Errorf("demo: no point read or scored for %s; the detector has "+
				"scored up to %s, want %s: see the log (--log.level info)", stallWait,
				r.writer.reachedText(want), wantText(want))
		}
	}
	if err := r.awaitAlerts(ctx); err != nil {
		return err
	}
	r.summary()
	return nil
}

// consumed is the number of samples the detector has read.
func (r *demoRun) consumed() int64 {
	return int64(counterSum(r.reg, "flowguard_detector_messages_total"))
}

// ahead lets the replay run well ahead of the detector while its model is
// settled. Before the first model it keeps only a few points in flight,
// and while a training job is open (the bootstrap, or a retrain after
// drift) it holds the replay until the job is done and the detector uses
// the group's champion: in compressed time the trainer would otherwise
// finish after the data. A live detector keeps scoring meanwhile.
func (r *demoRun) ahead(ctx context.Context) (int, error) {
	start := time.Now()
	var held time.Time // since when a job has been open
	champ := 0
	for {
		using := r.st.detector.ModelVersions()[pipeline.DefaultGroup]
		jobs, err := r.s.JobCounts(ctx)
		if err != nil {
			return 0, err
		}
		total := 0
		for _, n := range jobs {
			total += n
		}
		open := jobs[store.JobPending] + jobs[store.JobRunning]
		if using == 0 && jobs[store.JobFailed] > 0 {
			return 0, errors.New("demo: the bootstrap training job failed; see the log " +
				"(--log.level info)")
		}
		if total > r.jobs && open > 0 {
			r.jobs = total
			what := "the first model"
			if using > 0 {
				what = "a challenger to model v" + fmt.Sprint(using)
			}
			r.out.printf("training job %d filed after %.0f points; replay held while the "+
				"trainer fits %s", total, counterSum(r.reg, "flowguard_detector_messages_total"),
				what)
		}
		switch {
		case using == 0 && total == 0:
			return 64, nil
		case using == 0 && open == 0 && r.jobs == 0:
			// No job of this run yet, and none open: a champion left by
			// an earlier demo (--reset=false) is loaded only once the
			// detector sees the group's points, so let a few through.
			return 64, nil
		case using > 0 && open == 0:
			champs, err := r.s.ChampionVersions(ctx)
			if err != nil {
				return 0, err
			}
			champ = champs[pipeline.DefaultGroup]
			if champ == using {
				return 2000, nil
			}
		}
		if open == 0 {
			held = time.Time{}
		} else if held.IsZero() {
			held = time.Now()
		}
		if !held.IsZero() && time.Since(held) > trainWait {
			return 0, fmt.Errorf("demo: the replay was held %s for a training job that did "+
				"not finish; see the log (--log.level info)", trainWait)
		}
		if !pipeline.Sleep(ctx, 50*time.Millisecond) {
			return 0, ctx.Err()
		}
		if time.Since(start) > trainWait+time.Minute {
			return 0, fmt.Errorf("demo: the detector did not take up the champion (v%d) of "+
				"group %s within %s", champ, pipeline.DefaultGroup,
				time.Since(start).Round(time.Second))
		}
	}
}

// awaitAlerts waits until the alerts service has read the last anomalies
// (a few of its polls after the last write) and delivered what it queued.
func (r *demoRun) awaitAlerts(ctx context.Context) error {
	poll := 200 * time.Millisecond
	if !pipeline.Sleep(ctx, time.Until(r.writer.lastWrite().Add(4*poll))) {
		return ctx.Err()
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pending, err := r.s.PendingAlerts(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, v := range pending {
			n += v
		}
		if n == 0 {
			return nil
		}
		if !pipeline.Sleep(ctx, poll) {
			return ctx.Err()
		}
	}
	r.out.printf("alerts still queued after 10s; the counts below may miss some")
	return nil
}

func (r *demoRun) summary() {
	read := counterSum(r.reg, "flowguard_detector_messages_total")
	scored := counterSum(r.reg, "flowguard_detector_points_scored_total")
	unscored := counterSum(r.reg, "flowguard_detector_points_unscored_total")
	rejected := counterSum(r.reg, "flowguard_detector_samples_rejected_total")
	anoms := counterSum(r.reg, "flowguard_detector_anomalies_total")
	filling, open := 0, 0
	for _, ss := range r.data.sorted {
		f, o := demo.Unready(ss, r.data.step, r.data.window)
		filling, open = filling+f, open+o
	}
	opened, resolved := r.sink.counts()
	r.out.printf("summary")
	w := r.out.w
	type row struct {
		what string
		n    float64
	}
	rows := []row{{"points read", read}, {"  scored", scored},
		{"  unscored (no model yet)", unscored},
		{fmt.Sprintf("  filling the first window (%d steps)", r.data.window-1),
			float64(filling)},
		{"  last step still open", float64(open)},
		{"  rejected (late or duplicate)", rejected}}
	// Whatever else the grid did not turn into a ready point (samples
	// sharing a step, or windows refilling after a gap in the data), so
	// that the lines add up to points read.
	if other := read - scored - unscored - float64(filling+open) - rejected; other != 0 {
		rows = append(rows, row{"  other (data gaps, shared steps)", other})
	}
	rows = append(rows, row{fmt.Sprintf("anomalies (p < %g)", r.set.Scoring.Alpha), anoms})
	for _, row := range rows {
		fmt.Fprintf(w, "  %-38s %7.0f\n", row.what, row.n)
	}
	fmt.Fprintf(w, "  %-38s %7d (%d resolved; alerts.gap %s)\n", "incidents opened",
		opened, resolved, r.alertsGap)
	if !r.set.Reset {
		fmt.Fprintf(w, "  (--reset=false: anomalies an earlier demo stored are not stored "+
			"again, and incidents count only those opened by this run)\n")
	}
	if len(r.data.faults) == 0 {
		return
	}
	after := time.Duration(r.data.window) * r.data.step
	caught := 0
	flagged := r.writer.flaggedTimes()
	for _, f := range r.data.faults {
		mark := "missed"
		if f.Caught(flagged[f.Series], after) {
			mark, caught = "caught", caught+1
		}
		fmt.Fprintf(w, "  %-16s %s .. %s  %s\n", f.Kind, f.From.Format("2006-01-02 15:04"),
			f.To.Format("2006-01-02 15:04"), mark)
	}
	fmt.Fprintf(w, "  %d of %d caught (a flag inside the stretch or within one window "+
		"(%s) after it)\n", caught, len(r.data.faults), after)
	fmt.Fprintf(w, "  results: %s\n", store.Redact(r.set.Database))
}

// narrator prints the demo's story with the time since its start.
type narrator struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (n *narrator) printf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Fprintf(n.w, "[%5.1fs] %s\n", time.Since(n.start).Seconds(),
		fmt.Sprintf(format, args...))
}

// demoWriter is the detector's result writer in the demo: it prints the
// anomalies it makes durable and remembers how far each series got.
type demoWriter struct {
	pipeline.ResultWriter
	out  *narrator
	show int

	mu      sync.Mutex
	last    map[string]time.Time // newest step written per series
	flagged map[string][]time.Time
	shown   int
	written time.Time
	batches int64
}

// SaveResults implements pipeline.ResultWriter.
func (d *demoWriter) SaveResults(ctx context.Context, r store.Results) (int64, error) {
	n, err := d.ResultWriter.SaveResults(ctx, r)
	if err != nil {
		return n, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.written = time.Now()
	d.batches++
	for _, u := range r.Series {
		if u.LastTS.After(d.last[u.Key]) {
			d.last[u.Key] = u.LastTS
		}
	}
	if d.flagged == nil {
		d.flagged = map[string][]time.Time{}
	}
	for _, a := range r.Anomalies {
		d.flagged[a.SeriesKey] = append(d.flagged[a.SeriesKey], a.TS)
		d.shown++
		switch {
		case d.shown <= d.show:
			d.out.printf("anomaly  %s  %s  value %.4g  p %.2g  score %.1f nats  (model v%d)",
				a.TS.UTC().Format("2006-01-02 15:04"), a.SeriesKey, a.Value[0], a.PValue,
				a.Score, a.ModelVersion)
		case d.shown == d.show+1:
			d.out.printf("further anomalies are stored but not printed (--show)")
		}
	}
	return n, nil
}

// reached reports whether every series in want has been written up to
// its time.
func (d *demoWriter) reached(want map[string]time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, t := range want {
		if d.last[k].Before(t) {
			return false
		}
	}
	return true
}

// writes is the number of result batches written so far.
func (d *demoWriter) writes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.batches
}

// reachedText prints how far each series in want has been written.
func (d *demoWriter) reachedText(want map[string]time.Time) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	got := map[string]time.Time{}
	for k := range want {
		got[k] = d.last[k]
	}
	return wantText(got)
}

func wantText(m map[string]time.Time) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		t := "nothing"
		if !m[k].IsZero() {
			t = m[k].UTC().Format("2006-01-02 15:04")
		}
		parts = append(parts, k+" "+t)
	}
	return strings.Join(parts, ", ")
}

func (d *demoWriter) lastWrite() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.written
}

func (d *demoWriter) flaggedTimes() map[string][]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string][]time.Time, len(d.flagged))
	for k, v := range d.flagged {
		out[k] = slices.Clone(v)
	}
	return out
}

// demoSink is the demo's log sink: the alerts package's, plus a line of
// the story per incident change.
type demoSink struct {
	log *alerts.Log
	out *narrator

	mu               sync.Mutex
	opened, resolved map[int64]bool
}

var _ alerts.Sink = (*demoSink)(nil)

func (d *demoSink) Name() string { return d.log.Name() }
func (d *demoSink) Close() error { return d.log.Close() }

// Send implements alerts.Sink.
func (d *demoSink) Send(ctx context.Context, m *alerts.Message) error {
	if err := d.log.Send(ctx, m); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opened == nil {
		d.opened, d.resolved = map[int64]bool{}, map[int64]bool{}
	}
	// Delivery is at least once: count incidents, not messages.
	switch m.Kind {
	case alerts.KindOpen:
		if !d.opened[m.IncidentID] {
			d.opened[m.IncidentID] = true
			d.out.printf("incident %d opened: %s from %s, %s, p %.2g", m.IncidentID, m.Series,
				m.FirstTS.Format("2006-01-02 15:04"), m.Severity, m.PValue)
		}
	case alerts.KindResolve:
		if !d.resolved[m.IncidentID] {
			d.resolved[m.IncidentID] = true
			d.out.printf("incident %d resolved: %d points, %s", m.IncidentID, m.Points,
				span(m.FirstTS, m.LastTS))
		}
	}
	return nil
}

// span prints from and to, the date of to only when it is not from's.
func span(from, to time.Time) string {
	from, to = from.UTC(), to.UTC()
	end := to.Format("15:04")
	if y, m, d := from.Date(); to.Year() != y || to.Month() != m || to.Day() != d {
		end = to.Format("2006-01-02 15:04")
	}
	return from.Format("2006-01-02 15:04") + " to " + end
}

func (d *demoSink) counts() (opened, resolved int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.opened), len(d.resolved)
}

// watchModels prints every model version the trainer finishes and every
// model the detector switches to, until ctx ends.
func watchModels(ctx context.Context, s *store.Store, d *pipeline.Detector, out *narrator) {
	seen := map[string]bool{}
	using := map[string]int{}
	drifts := map[int64]bool{}
	var models []store.ModelInfo
	for pipeline.Sleep(ctx, 50*time.Millisecond) {
		events, err := s.RecentDriftEvents(ctx, 20)
		if err == nil {
			slices.Reverse(events) // oldest first
			for _, e := range events {
				if drifts[e.ID] {
					continue
				}
				drifts[e.ID] = true
				out.printf("drift: group %s, model v%d, %s (statistic %.3f > %.3f over %d "+
					"p-values)", e.Group, e.ModelVersion, e.Reason, e.Statistic, e.Threshold,
					e.WindowSize)
			}
		}
		models, err = s.ListModels(ctx)
		if err == nil {
			for _, m := range models {
				key := fmt.Sprintf("%s/%d", m.Group, m.Version)
				if seen[key] || m.State == store.StateCandidate {
					continue
				}
				seen[key] = true
				span := ""
				if m.TrainFrom != nil && m.TrainTo != nil {
					span = fmt.Sprintf(" on %s to %s", m.TrainFrom.Format("2006-01-02 15:04"),
						m.TrainTo.Format("2006-01-02 15:04"))
				}
				out.printf("model %s v%d trained%s: %s", m.Group, m.Version, span, m.State)
			}
		}
		for g, v := range d.ModelVersions() {
			if v > 0 && using[g] != v {
				using[g] = v
				out.printf("detector now scores group %s with model v%d (hot-swapped)", g, v)
			}
		}
	}
}

// counterSum adds up every series of the named metric.
func counterSum(g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}
