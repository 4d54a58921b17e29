package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

// cursorName is the alert_cursor row of the incident builder.
const cursorName = "incidents"

// Service builds incidents from anomalies and delivers their alerts. Its
// goroutines run in Run; it shares nothing with the scoring loop but the
// database.
type Service struct {
	store  *store.Store
	cfg    config.Alerts
	log    *slog.Logger
	m      *metrics
	sinks  []Sink
	routes map[string][]string
	g      *grouper
	now    func() time.Time
	// wake holds one channel per sink, poked when new messages are queued.
	wake map[string]chan struct{}
}

// New returns a Service over s with the settings cfg, building the sinks
// the settings configure: Alertmanager when alertmanager.urls is set, the
// webhook when webhook.url is set, Kafka when kafka.brokers is set, and the
// log always. It fails when a route names a sink that is not configured.
// A nil log discards logs; a nil reg registers no metrics.
func New(s *store.Store, cfg config.Alerts, log *slog.Logger,
	reg prometheus.Registerer) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sinks := []Sink{NewLog(log)}
	if len(cfg.Alertmanager.URLs) > 0 {
		sinks = append(sinks, NewAlertmanager(cfg.Alertmanager.URLs, cfg.Alertmanager.Timeout,
			cfg.Alertmanager.Resend))
	}
	if cfg.Webhook.URL != "" {
		sinks = append(sinks, NewWebhook(cfg.Webhook.URL, cfg.Webhook.Secret,
			cfg.Webhook.Timeout))
	}
	if len(cfg.Kafka.Brokers) > 0 {
		sinks = append(sinks, NewKafka(cfg.Kafka.Brokers, cfg.Kafka.Topic, cfg.Kafka.Timeout))
	}
	return NewWithSinks(s, cfg, log, reg, sinks...)
}

// NewWithSinks is New with the sinks given rather than built from cfg, for
// sinks of other kinds. Sink names must be unique.
func NewWithSinks(s *store.Store, cfg config.Alerts, log *slog.Logger,
	reg prometheus.Registerer, sinks ...Sink) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	byName := map[string]bool{}
	for _, k := range sinks {
		if byName[k.Name()] {
			return nil, fmt.Errorf("alerts: two sinks named %q", k.Name())
		}
		byName[k.Name()] = true
	}
	for group, names := range cfg.Routes {
		for _, n := range names {
			if !byName[n] {
				return nil, fmt.Errorf("alerts: route for group %q names sink %q, which is "+
					"not configured (configured: %v)", group, n, slices.Sorted(maps.Keys(byName)))
			}
		}
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	wake := map[string]chan struct{}{}
	for _, k := range sinks {
		wake[k.Name()] = make(chan struct{}, 1)
	}
	return &Service{
		store:  s,
		cfg:    cfg,
		log:    log,
		m:      m,
		sinks:  sinks,
		routes: cfg.Routes,
		g:      &grouper{cfg: cfg},
		now:    time.Now,
		wake:   wake,
	}, nil
}

func validate(cfg config.Alerts) error {
	switch {
	case cfg.Gap <= 0:
		return errors.New("alerts: gap must be positive")
	case cfg.Poll <= 0:
		return errors.New("alerts: poll must be positive")
	case cfg.Batch <= 0:
		return errors.New("alerts: batch must be positive")
	case cfg.MaxAttempts <= 0:
		return errors.New("alerts: max_attempts must be positive")
	case cfg.BackoffBase <= 0 || cfg.BackoffMax < cfg.BackoffBase:
		return errors.New("alerts: want 0 < backoff_base <= backoff_max")
	case cfg.SeriesRateLimit > 0 && cfg.SeriesRateWindow <= 0:
		return errors.New("alerts: series_rate_window must be positive with a series_rate_limit")
	case cfg.GlobalRateLimit > 0 && cfg.GlobalRateWindow <= 0:
		return errors.New("alerts: global_rate_window must be positive with a global_rate_limit")
	}
	return nil
}

// route returns the sinks that receive the alerts of group.
func (s *Service) route(group string) []string {
	if names, ok := s.routes[group]; ok {
		return names
	}
	return s.routes["*"]
}

// Run builds incidents and delivers alerts until ctx ends, then closes the
// sinks and returns what closing them returned (nil, normally). Database
// and sink failures meanwhile are logged and retried, never returned, so
// that alerts never stop the detector. Run must be called once.
func (s *Service) Run(ctx context.Context) error {
	// A configured sink receives only what a route sends it: listing the
	// routes beside the sinks keeps "kafka" among the sinks from reading
	// as "alerts go to kafka".
	s.log.Info("alerts started", "sinks", s.sinkNames(), "routes", fmt.Sprint(s.routes))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { s.buildLoop(ctx); return nil })
	g.Go(func() error { s.housekeepingLoop(ctx); return nil })
	for _, k := range s.sinks {
		g.Go(func() error { s.deliverLoop(ctx, k); return nil })
		if am, ok := k.(*Alertmanager); ok {
			g.Go(func() error { s.resendLoop(ctx, am); return nil })
		}
	}
	err := g.Wait()
	for _, k := range s.sinks {
		err = errors.Join(err, k.Close())
		s.m.forget(k.Name())
	}
	s.log.Info("alerts stopped")
	return err
}

func (s *Service) sinkNames() []string {
	names := make([]string, len(s.sinks))
	for i, k := range s.sinks {
		names[i] = k.Name()
	}
	return names
}

// sleep waits for d, a poke on wake (nil: none), or the end of ctx, and
// reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

// housekeepingLoop keeps the outbox depth gauge current and prunes
// delivered messages past their retention.
func (s *Service) housekeepingLoop(ctx context.Context) {
	lastPrune := time.Time{}
	for {
		depth, err := s.store.PendingAlerts(ctx)
		if err == nil {
			for _, k := range s.sinks {
				s.m.depth.WithLabelValues(k.Name()).Set(float64(depth[k.Name()]))
			}
		} else if ctx.Err() == nil {
			s.log.Warn("count pending alerts", "err", err)
		}
		if s.cfg.Retention > 0 && time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			n, err := s.store.PruneAlerts(ctx, s.now().Add(-s.cfg.Retention))
			if err != nil && ctx.Err() == nil {
				s.log.Warn("prune delivered alerts", "err", err)
			} else if n > 0 {
				s.log.Debug("pruned delivered alerts", "rows", n)
			}
		}
		if !sleep(ctx, s.cfg.Poll, nil) {
			return
		}
	}
}

// resendLoop sends every open incident routed to am again each resend
// interval, in one request, so that Alertmanager does not let it expire.
func (s *Service) resendLoop(ctx context.Context, am *Alertmanager) {
	every := s.cfg.Alertmanager.Resend
	if every <= 0 {
		return
	}
	for sleep(ctx, every, nil) {
		open, err := s.store.OpenIncidents(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("read open incidents for resend", "err", err)
			}
			continue
		}
		var ms []*Message
		for i := range open {
			if slices.Contains(s.route(open[i].ModelGroup), am.Name()) {
				ms = append(ms, newMessage(KindUpdate, &open[i], open[i].Severity,
					s.cfg.DashboardURL))
			}
		}
		if len(ms) == 0 {
			continue
		}
		if err := am.SendAll(ctx, ms); err != nil && ctx.Err() == nil {
			s.log.Warn("resend firing alerts", "sink", am.Name(), "alerts", len(ms), "err", err)
		}
	}
}
