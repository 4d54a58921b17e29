package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/flowguard/flowguard/alerts"
	"github.com/flowguard/flowguard/dashboard"
	"github.com/flowguard/flowguard/drift"
	"github.com/flowguard/flowguard/forecast"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/pipeline"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// modelPoll is how often the detector compares its models with the
// registry, in case a notification was lost, and reads the retrain queue
// for its gauge (a job that fails sends no notification).
const modelPoll = 15 * time.Second

// runDetector starts the ingest and scoring stages and the HTTP listener,
// and serves until ctx ends; then each stage finishes its batch in hand,
// commits and leaves its group, all within shutdown_timeout.
func runDetector(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	cfg := config.DefaultDetector()
	if err := config.LoadNoArgs("detector run", cfg, args, getenv, stdout); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr)
	if err != nil {
		return err
	}
	config.WarnUnknownEnv(log, environ())
	// newStages parses the groups again; a mistake in them is found here
	// before anything starts.
	if _, err := pipeline.ParseGroups(cfg.Scoring.Groups, cfg.Scoring.PerSeries,
		cfg.Scoring.Alphas); err != nil {
		return err
	}

	s, err := store.Connect(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer s.Close()
	v, err := s.EnsureSchema(ctx, cfg.Database.Migrate)
	if err != nil {
		return err
	}
	if cfg.Database.Migrate {
		log.Info("schema ready", "version", v)
	}

	brokers, closeBroker, err := kafkaBrokers(cfg, log)
	if err != nil {
		return err
	}
	defer closeBroker()
	topics := append([]string{cfg.Kafka.SamplesTopic, cfg.Kafka.DeadLetterTopic},
		cfg.Kafka.InputTopics...)
	if cfg.Alerts.Enabled && len(cfg.Alerts.Kafka.Brokers) == 0 && cfg.Alerts.Kafka.Topic != "" {
		// kfake creates topics on first use only when told to, and a real
		// cluster may not at all.
		topics = append(topics, cfg.Alerts.Kafka.Topic)
	}
	if err := pipeline.EnsureTopics(ctx, brokers, cfg.Kafka.Partitions, topics...); err != nil {
		return err
	}

	reg := newRegistry()
	st, err := newStages(cfg, brokers, s, s, pipeline.NewMetrics(reg), log, 0)
	if err != nil {
		return err
	}
	if cfg.Alerts.Enabled {
		as, closeAlerts, err := newAlerts(ctx, cfg, brokers, log, reg)
		if err != nil {
			return err
		}
		defer closeAlerts()
		st.alerts = as
	}
	return serve(ctx, log, cfg, handler(reg, s, st.detector, cfg.HTTP.Token, log), st)
}

// newRegistry returns a metrics registry with the Go and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(
		collectors.ProcessCollectorOpts{}))
	return reg
}

// alertsPoolSize is the connection pool of the alerts service: small and
// its own, so that alerts never take the scoring loop's connections.
const alertsPoolSize = 2

// newAlerts builds the alerts service on a pool of its own, with the
// detector's brokers for its Kafka sink when it names none. extra sinks
// replace those of the same name that the settings would build.
func newAlerts(ctx context.Context, cfg *config.Detector, brokers []string, log *slog.Logger,
	reg prometheus.Registerer, extra ...alerts.Sink) (*alerts.Service, func(), error) {
	ac := cfg.Alerts
	if len(ac.Kafka.Brokers) == 0 {
		ac.Kafka.Brokers = brokers
	}
	url := cfg.Database.URL
	if url == "" {
		url = store.DefaultURL
	}
	as, err := store.Open(ctx, withPoolSize(url, alertsPoolSize))
	if err != nil {
		return nil, nil, fmt.Errorf("alerts: %w", err)
	}
	alog := log.With("component", "alerts")
	var svc *alerts.Service
	if len(extra) == 0 {
		svc, err = alerts.New(as, ac, alog, reg)
	} else {
		// Only the demo gives sinks; it replaces the log sink and uses no other.
		svc, err = alerts.NewWithSinks(as, ac, alog, reg, extra...)
	}
	if err != nil {
		as.Close()
		return nil, nil, err
	}
	return svc, as.Close, nil
}

// withPoolSize sets pgx's pool_max_conns on a URL-form database address;
// a key=value address is returned unchanged.
func withPoolSize(dbURL string, n int) string {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dbURL
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// kafkaBrokers returns the configured brokers, or starts the in-process
// broker when there are none.
func kafkaBrokers(cfg *config.Detector, log *slog.Logger) ([]string, func(), error) {
	if len(cfg.Kafka.Brokers) > 0 {
		return cfg.Kafka.Brokers, func() {}, nil
	}
	b, err := embedkafka.Start(embedkafka.Config{Addr: cfg.Kafka.EmbeddedAddr,
		Partitions: cfg.Kafka.Partitions, DataDir: cfg.Kafka.EmbeddedDir})
	if err != nil {
		return nil, nil, fmt.Errorf("no kafka.brokers set and the in-process broker "+
			"did not start: %w", err)
	}
	log.Info("in-process kafka broker started", "addr", b.Addr(),
		"data_dir", cfg.Kafka.EmbeddedDir)
	return []string{b.Addr()}, b.Close, nil
}

// stages are the long-running parts of the detector.
type stages struct {
	ingest   *pipeline.Ingest
	detector *pipeline.Detector
	alerts   *alerts.Service // nil: alerts off
	store    *store.Store
	log      *slog.Logger
}

// newStages builds the ingest and scoring stages; results is s, or a
// writer wrapping it. recentSteps is the detector's DetectorConfig.RecentSteps
// (0: the pipeline's default).
func newStages(cfg *config.Detector, brokers []string, s *store.Store,
	results pipeline.ResultWriter, m *pipeline.Metrics, log *slog.Logger,
	recentSteps int) (*stages, error) {
	dec, err := decoder(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	// A stage's stop has two bounded parts (last batch, leaving the
	// group); stages stop in parallel, so a third each keeps the whole
	// stop inside shutdown_timeout.
	stop := cfg.ShutdownTimeout / 3
	in, err := pipeline.NewIngest(pipeline.IngestConfig{
		Brokers: brokers, Topics: cfg.Kafka.InputTopics, Group: cfg.Kafka.Group + ".ingest",
		Decoder: dec, SamplesTopic: cfg.Kafka.SamplesTopic,
		DeadLetterTopic: cfg.Kafka.DeadLetterTopic, MaxFuture: cfg.Scoring.MaxFuture,
		StopTimeout: stop,
	}, m, log)
	if err != nil {
		return nil, err
	}
	sc := cfg.Scoring
	grid := timeseries.Config{Step: sc.Step, Window: sc.Window, MaxFill: sc.MaxFill,
		Fill: timeseries.FillLinear, Lateness: sc.Lateness, Calendar: sc.Calendar,
		Lags: sc.Lags, IdleAfter: sc.IdleAfter}
	rules, err := pipeline.ParseGroups(sc.Groups, sc.PerSeries, sc.Alphas)
	if err != nil {
		return nil, err
	}
	registry := &pipeline.Registry{Store: s, Grid: grid}
	det, err := pipeline.NewDetector(pipeline.DetectorConfig{
		Brokers: brokers, Topic: cfg.Kafka.SamplesTopic, Group: cfg.Kafka.Group,
		Grid: grid, Rules: rules, Alpha: sc.Alpha, Run: runLength(sc.Run),
		LiveCalibration: sc.Live, CalibrationSave: liveSave(sc.LiveSave),
		BatchSize: sc.BatchSize,
		BatchWait: sc.BatchWait, Bootstrap: sc.Bootstrap, StopTimeout: stop,
		Drift: driftConfig(cfg.Drift), RecentSteps: recentSteps,
	}, results, registry, registry, m, log)
	if err != nil {
		return nil, err
	}
	return &stages{ingest: in, detector: det, store: s, log: log}, nil
}

// liveSave maps scoring.live_calibration_save, where 0 is never, onto
// DetectorConfig.CalibrationSave, where 0 is the default.
func liveSave(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// runLength maps scoring.run, where 0 is off, onto DetectorConfig.Run,
// where 0 is the default.
func runLength(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// driftConfig maps the drift settings onto the detector's.
func driftConfig(d config.Drift) pipeline.DriftConfig {
	return pipeline.DriftConfig{Enabled: d.Enabled,
		Monitor: drift.Config{Window: d.Window, Every: d.Every, Alpha: d.Alpha,
			MaxOutOfRange: d.MaxOutOfRange},
		MaxDeviation: d.MaxDeviation, Cooldown: d.Cooldown, SettleSteps: d.SettleSteps,
		LookbackSteps: d.LookbackSteps, RefreshSteps: d.RefreshSteps}
}

// decoder builds the input decoder named by kafka.format.
func decoder(k config.Kafka) (timeseries.Decoder, error) {
	switch k.Format {
	case "json":
		return timeseries.NewJSONDecoder(timeseries.JSONConfig{}), nil
	case "influx":
		return timeseries.NewLineDecoder(timeseries.LineConfig{})
	case "csv":
		// CSV rows carry no series name: the input topic gives it.
		// TODO(flowguard): so CSV is one series per detector; the message
		// key could name the series, but a Decoder is not given the key.
		name := "csv"
		if len(k.InputTopics) > 0 {
			name = k.InputTopics[0]
		}
		return timeseries.NewCSVDecoder(timeseries.CSVConfig{
			Series: timeseries.NewSeriesID(name, nil)})
	}
	return nil, fmt.Errorf("kafka.format %q: want json, influx or csv", k.Format)
}

// run runs the stages until ctx ends or one fails.
func (st *stages) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return st.ingest.Run(gctx) })
	g.Go(func() error { return st.detector.Run(gctx) })
	g.Go(func() error {
		return pipeline.WatchModels(gctx, st.store, st.detector, modelPoll, st.log)
	})
	if st.alerts != nil {
		g.Go(func() error { return st.alerts.Run(gctx) })
	}
	return g.Wait()
}

// Forecasts served from the live state. The series page samples fewer
// paths than the endpoint's default, so that it renders in well under a
// second; both use one seed, so a page shows the same fan until new data
// arrives.
const (
	fanHorizon = 24
	fanPaths   = 200
	fanLevel   = 0.9
	fanSeed    = 1
)

// handler serves the metrics, the health checks, the forecast endpoint
// (GET /api/forecast?key=...&horizon=...; see forecast.Handler) and, on
// every other path, the dashboard. The dashboard and the forecasts ask for
// the bearer token when one is set; both read the detector's live state.
func handler(reg prometheus.Gatherer, s *store.Store, d *pipeline.Detector, token string,
	log *slog.Logger) http.Handler {
	fc := forecast.NewHandler(d, forecast.Options{Seed: fanSeed})
	fan := dashboard.FlowForecaster(fc, forecast.Options{Horizon: fanHorizon, Paths: fanPaths,
		Seed: fanSeed}, fanLevel)
	mux := http.NewServeMux()
	mux.Handle("/", dashboard.New(s, log.With("component", "dashboard"),
		dashboard.Options{Token: token, Recent: d, Forecaster: fan}))
	mux.Handle("GET /api/forecast", bearer(token, fc))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ping(r.Context()); err != nil {
			http.Error(w, "postgres: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := d.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// bearer lets through the requests that carry token as their bearer
// token; an empty token lets everything through.
func bearer(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="flowguard"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serve runs the HTTP listener and the stages until ctx ends or a stage
// fails, then stops both within the configured time.
func serve(ctx context.Context, log *slog.Logger, cfg *config.Detector, h http.Handler,
	st *stages) error {
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	log.Info("detector started", "http_addr", ln.Addr().String())

	sctx, cancelStages := context.WithCancel(ctx)
	defer cancelStages()
	stageErr := make(chan error, 1)
	go func() { stageErr <- st.run(sctx) }()

	select {
	case err = <-httpErr:
		err = fmt.Errorf("http server: %w", err)
		cancelStages()
		err = errors.Join(err, <-stageErr)
	case err = <-stageErr:
		// A stage failed (or ctx ended and they all stopped).
	}
	log.Info("detector stopping")
	// The stages used two thirds of the time; in-flight requests get the rest.
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout/3)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", serr))
	}
	log.Info("detector stopped")
	return err
}
