package training

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowguard/flowguard/replay"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// ReplayFunc reads the samples a job trains on, as replay.Read does.
type ReplayFunc func(ctx context.Context,
	req replay.Request) ([][]timeseries.Sample, replay.Stats, error)

// WorkerConfig configures a Worker. Start from DefaultWorkerConfig; zero
// durations and fractions take the defaults documented on each field.
type WorkerConfig struct {
	// ID is recorded on the jobs the worker claims; empty: host and pid.
	ID string
	// Brokers and Topic locate the samples topic that jobs are replayed
	// from. They are unused when Replay is set.
	Brokers []string
	Topic   string
	// Replay reads a job's samples; nil means replay.Read. Tests and
	// in-process setups may hand samples over directly.
	Replay ReplayFunc
	// Poll is how often the queue is looked at when no notification
	// came (default 30s); the gauges are refreshed as often.
	Poll time.Duration
	// RequeueAfter hands running jobs claimed longer ago than this back to
	// the queue: their trainer probably died (default 1h).
	RequeueAfter time.Duration
	// Fit is the base of the options of every fit. Group and Exclude are
	// set per job, and a job's details that carry the detector's grid
	// override Step, Window, MaxFill and Calendar.
	Fit scorer.Options
	// Policy decides whether a candidate replaces the champion.
	Policy Policy
	// Holdout is the share of each series' newest samples kept out of the
	// candidate's fit to compare it with the champion (default 0.2).
	Holdout float64
	// Lookback bounds the data of drift jobs to the last Lookback of event
	// time before the end of the range; zero means no bound by time.
	Lookback time.Duration
	// LookbackSteps bounds the data of drift jobs to the last
	// LookbackSteps samples of each series; zero means no bound by count.
	// With Lookback also set, the shorter range wins.
	LookbackSteps int
	// MaxFlaggedShare is the share of a series' samples in the range above
	// which its flagged points are kept for training: that many flags mean
	// the behaviour changed, which is what a drift job must learn, rather
	// than rare anomalies (default 0.1; 1 or more always leaves them out).
	MaxFlaggedShare float64
}

// Policy is the promotion rule. A candidate is promoted when, on the same
// held-out windows,
//
//	champion mean score - candidate mean score >= Margin
//	candidate KS <= champion KS + KSTolerance
//
// Scores are in nats per point of the raw values (scorer.Assessment).
type Policy struct {
	// Margin is the least gain in mean point score, in nats; 0 promotes
	// any candidate that is not worse.
	Margin float64 `json:"margin"`
	// KSTolerance is how much worse than the champion's the candidate's
	// calibration may be, as the KS statistic of its held-out p-values
	// against the uniform distribution.
	KSTolerance float64 `json:"ks_tolerance"`
}

// DefaultWorkerConfig returns the defaults: a 0.02 nats margin, a KS
// tolerance of 0.1, a 20% holdout, and drift jobs trained on at most the
// last 4000 samples of each series.
func DefaultWorkerConfig() WorkerConfig {
	return WorkerConfig{
		Poll:            30 * time.Second,
		RequeueAfter:    time.Hour,
		Fit:             scorer.Options{Seed: 1},
		Policy:          Policy{Margin: 0.02, KSTolerance: 0.1},
		Holdout:         0.2,
		LookbackSteps:   4000,
		MaxFlaggedShare: 0.1,
	}
}

func (c WorkerConfig) withDefaults() (WorkerConfig, error) {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Poll <= 0 {
		c.Poll = 30 * time.Second
	}
	if c.RequeueAfter <= 0 {
		c.RequeueAfter = time.Hour
	}
	if c.Holdout == 0 {
		c.Holdout = 0.2
	}
	if c.MaxFlaggedShare == 0 {
		c.MaxFlaggedShare = 0.1
	}
	switch {
	case c.Replay == nil && (len(c.Brokers) == 0 || c.Topic == ""):
		return c, errors.New("training: need the samples topic's brokers and name, " +
			"or a Replay function")
	case c.Holdout <= 0 || c.Holdout >= 0.9:
		return c, fmt.Errorf("training: holdout %g: want a share in (0, 0.9)", c.Holdout)
	case c.Lookback < 0 || c.LookbackSteps < 0:
		return c, errors.New("training: negative lookback")
	case c.Policy.KSTolerance < 0:
		return c, errors.New("training: negative KS tolerance")
	}
	if c.Replay == nil {
		c.Replay = replay.Read
	}
	return c, nil
}

// Worker claims retrain jobs and carries them out. Its methods are not
// safe for concurrent use; run several Workers to train in parallel.
type Worker struct {
	cfg WorkerConfig
	s   *store.Store
	log *slog.Logger
	met *metrics
}

// NewWorker returns a Worker over the store's job queue and registry. A nil
// log discards the worker's logs and a nil reg registers no metrics. It
// fails on an invalid configuration or when the metrics are already
// registered with reg.
func NewWorker(s *store.Store, cfg WorkerConfig, log *slog.Logger,
	reg prometheus.Registerer) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	met, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, s: s, log: log.With("trainer", cfg.ID), met: met}, nil
}

// Run claims and carries out jobs until ctx ends, waking on job
// notifications (store.JobsChannel) and every Poll. A job interrupted by
// the end of ctx goes back to the queue for another trainer. Failures of
// single jobs are recorded on the job and logged, and the worker goes on;
// Run returns nil when ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("trainer started", "poll", w.cfg.Poll)
	var l *store.Listener
	defer func() {
		if l != nil {
			_ = l.Close()
		}
	}()
	for ctx.Err() == nil {
		if l == nil {
			var err error
			if l, err = w.s.Listen(ctx, store.JobsChannel); err != nil && ctx.Err() == nil {
				w.log.Warn("cannot listen for jobs; polling", "err", err)
			}
		}
		// Listening first, then looking: a job filed in between is found
		// now and its notification only wakes an extra empty look.
		if n, err := w.s.RequeueStale(ctx, w.cfg.RequeueAfter); err != nil {
			w.log.Warn("requeue stale jobs", "err", err)
		} else if n > 0 {
			w.log.Warn("requeued jobs of trainers that stopped answering", "jobs", n)
		}
		w.drain(ctx)
		w.refreshGauges(ctx)
		l = w.wait(ctx, l)
	}
	w.log.Info("trainer stopped")
	return nil
}

// refreshGauges reads the queue and the champions into the gauges, which
// so also follow other trainers and manual promotions.
func (w *Worker) refreshGauges(ctx context.Context) {
	counts, err := w.s.JobCounts(ctx)
	if err == nil {
		w.met.setJobs(counts)
	}
	versions, err2 := w.s.ChampionVersions(ctx)
	if err2 == nil {
		w.met.setChampions(versions)
	}
	if err := errors.Join(err, err2); err != nil && ctx.Err() == nil {
		w.log.Warn("refresh queue and model gauges", "err", err)
	}
}

// wait blocks until a job notification, the poll interval or the end of
// ctx. It returns the listener to use next (nil after a lost connection).
func (w *Worker) wait(ctx context.Context, l *store.Listener) *store.Listener {
	pollCtx, cancel := context.WithTimeout(ctx, w.cfg.Poll)
	defer cancel()
	if l == nil {
		<-pollCtx.Done()
		return nil
	}
	_, err := l.Next(pollCtx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) {
		return l
	}
	w.log.Warn("job notifications lost; listening again", "err", err)
	_ = l.Close()
	return nil
}

// drain claims and carries out jobs until none is pending or ctx ends.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		job, ok, err := w.s.ClaimJob(ctx, w.cfg.ID)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("claim job", "err", err)
			}
			return
		}
		if !ok {
			return
		}
		w.handle(ctx, job)
		w.refreshGauges(ctx)
	}
}

// handle carries out one claimed job and records its outcome.
func (w *Worker) handle(ctx context.Context, job store.Job) {
	log := w.log.With("job", job.ID, "group", job.Group, "reason", job.Reason)
	log.Info("job claimed", "attempt", job.Attempts)
	start := time.Now()
	out, err := w.runJob(ctx, job, log)
	// The outcome is recorded even when ctx has ended, with a short
	// deadline of its own.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case err == nil:
		// Finished work is recorded even if ctx ended meanwhile.
		b, err := out.encode()
		if err == nil {
			err = w.s.FinishJobOutcome(bg, job.ID, &out.ModelID, b)
		}
		if err != nil {
			log.Error("record job done", "err", err)
			return
		}
		secs := time.Since(start).Seconds()
		w.met.finished.WithLabelValues(job.Reason, out.label()).Inc()
		w.met.seconds.WithLabelValues(job.Reason).Observe(secs)
		log.Info("job done", "version", out.Version, "promoted", out.Promoted,
			"seconds", secs)
	case ctx.Err() != nil:
		if err := w.s.ReleaseJob(bg, job.ID); err != nil {
			log.Error("job interrupted and not released; it is requeued after "+
				w.cfg.RequeueAfter.String(), "err", err)
			return
		}
		log.Info("job interrupted by shutdown and released")
	default:
		w.met.failed.WithLabelValues(job.Reason).Inc()
		log.Error("job failed", "err", err)
		if err := w.s.FailJob(bg, job.ID, err.Error()); err != nil {
			log.Error("record job failure", "err", err)
		}
	}
}
