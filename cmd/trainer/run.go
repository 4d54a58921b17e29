package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/replay"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// runWorker is "trainer run": claim retrain jobs until ctx ends.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	cfg := config.DefaultTrainer()
	if _, err := config.Load("trainer run", cfg, args, getenv, stdout); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr)
	if err != nil {
		return err
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return errors.New("run: set kafka.brokers: the trainer replays training data " +
			"from the detector's samples topic")
	}
	if _, err := fitOptions(cfg.Model, ""); err != nil {
		return err
	}
	s, err := store.Connect(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer s.Close()
	if cfg.Database.Migrate {
		if _, err := s.Migrate(ctx); err != nil {
			return err
		}
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = host + "-" + strconv.Itoa(os.Getpid())
	}
	w := &worker{cfg: cfg, s: s, log: log.With("trainer", cfg.ID)}
	return w.run(ctx)
}

// worker claims retrain jobs, replays their data from Kafka, trains,
// stores the model and promotes it when it should.
type worker struct {
	cfg *config.Trainer
	s   *store.Store
	log *slog.Logger
}

// jobDetails is what the trainer reads from a job's details JSON (the
// detector writes pipeline.BootstrapDetails).
type jobDetails struct {
	// Series restricts the replay to these series keys; without it the
	// trainer asks the series table for the group's series, and failing
	// that uses every series of the range.
	Series []string `json:"series"`
	// The detector's grid, which the model must be trained on to be
	// loadable there. Step is a Go duration; an empty Step leaves the grid
	// to the model settings.
	Step     string `json:"step"`
	Window   int    `json:"window"`
	MaxFill  int    `json:"max_fill"`
	Calendar bool   `json:"calendar"`
}

// apply sets the grid of opt from the details, if they carry one.
func (d jobDetails) apply(opt *scorer.Options) error {
	if d.Step == "" {
		return nil
	}
	step, err := time.ParseDuration(d.Step)
	if err != nil || step <= 0 {
		return fmt.Errorf("job details: step %q: want a positive duration", d.Step)
	}
	opt.Step = step
	if d.Window > 0 {
		opt.Window = d.Window
	}
	opt.MaxFill = d.MaxFill
	if d.MaxFill == 0 {
		opt.MaxFill = -1 // none, not the default
	}
	opt.Calendar = scorer.Off
	if d.Calendar {
		opt.Calendar = scorer.On
	}
	return nil
}

// run is the worker loop. It returns nil when ctx ends; a job in progress
// then goes back to the queue.
func (w *worker) run(ctx context.Context) error {
	w.log.Info("trainer started", "poll", w.cfg.Poll,
		"samples_topic", w.cfg.Kafka.SamplesTopic)
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
		l = w.wait(ctx, l)
	}
	w.log.Info("trainer stopped")
	return nil
}

// wait blocks until a job notification, the poll interval or the end of
// ctx. It returns the listener to use next (nil after a lost connection).
func (w *worker) wait(ctx context.Context, l *store.Listener) *store.Listener {
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

// drain claims and handles jobs until none is pending or ctx ends.
func (w *worker) drain(ctx context.Context) {
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
	}
}

// handle runs one claimed job and records its outcome.
func (w *worker) handle(ctx context.Context, job store.Job) {
	log := w.log.With("job", job.ID, "group", job.Group, "reason", job.Reason)
	log.Info("job claimed", "attempt", job.Attempts)
	start := time.Now()
	modelID, err := w.train(ctx, job, log)
	// The outcome is recorded even when ctx has ended, with a short
	// deadline of its own.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case ctx.Err() != nil:
		if err := w.s.ReleaseJob(bg, job.ID); err != nil {
			log.Error("job interrupted and not released; it is requeued after "+
				w.cfg.RequeueAfter.String(), "err", err)
			return
		}
		log.Info("job interrupted by shutdown and released")
	case err != nil:
		log.Error("job failed", "err", err)
		if err := w.s.FailJob(bg, job.ID, err.Error()); err != nil {
			log.Error("record job failure", "err", err)
		}
	default:
		if err := w.s.FinishJob(bg, job.ID, &modelID); err != nil {
			log.Error("record job done", "err", err)
			return
		}
		log.Info("job done", "seconds", time.Since(start).Seconds())
	}
}

// train replays the job's data, fits a candidate, stores it and promotes
// it when the group has no champion or the candidate beats the champion.
func (w *worker) train(ctx context.Context, job store.Job, log *slog.Logger) (int64, error) {
	var det jobDetails
	if len(job.Details) > 0 {
		if err := json.Unmarshal(job.Details, &det); err != nil {
			return 0, fmt.Errorf("job details: %w", err)
		}
	}
	series, err := w.replay(ctx, job, det.Series, log)
	if err != nil {
		return 0, err
	}
	var from, to time.Time
	if job.From != nil {
		from = *job.From
	}
	if job.To != nil {
		to = *job.To
	}
	flagged, err := w.s.FlaggedTimes(ctx, job.Group, from, to)
	if err != nil {
		return 0, err
	}
	opt, err := fitOptions(w.cfg.Model, job.Group)
	if err != nil {
		return 0, err
	}
	if err := det.apply(&opt); err != nil {
		return 0, err
	}
	opt.Exclude = excluder(flagged)
	cand, hold, err := scorer.FitHoldout(ctx, series, opt)
	if err != nil {
		return 0, fmt.Errorf("fit: %w", err)
	}
	meta := cand.Meta()
	log.Info("model trained", "series", meta.Data.Series, "samples", meta.Data.Samples,
		"excluded", meta.Data.Excluded, "valid_nll", meta.Report.ValidNLL,
		"calib_score", meta.Report.CalibScore, "seconds", meta.Report.Seconds)

	champ, err := w.s.Champion(ctx, job.Group)
	if errors.Is(err, store.ErrNoModel) {
		info, promoted, err := publish(ctx, w.s, cand, nil,
			fmt.Sprintf("%s job %d", job.Reason, job.ID))
		if err != nil {
			return 0, err
		}
		log.Info("model stored", "version", info.Version, "champion", promoted)
		return info.ID, nil
	}
	if err != nil {
		return 0, err
	}
	return w.challenge(ctx, job, champ, cand, hold, series, log)
}

// challenge stores the candidate and promotes it only if it beats the
// champion on the candidate's held-out data by the configured margin.
func (w *worker) challenge(ctx context.Context, job store.Job, champ store.Model,
	cand *scorer.Model, hold scorer.Windows, series [][]timeseries.Sample,
	log *slog.Logger) (int64, error) {
	cm, err := scorer.Decode(champ.Artifact)
	if err != nil {
		return 0, fmt.Errorf("champion v%d: %w", champ.Version, err)
	}
	cmp, err := compare(cm, cand, hold, series, champ.Version)
	if err != nil {
		return 0, err
	}
	gain := cmp.Champion.MeanScore - cmp.Candidate.MeanScore
	better := gain >= w.cfg.PromoteMargin
	note := fmt.Sprintf("%s job %d: mean score %.4f vs champion v%d %.4f", job.Reason,
		job.ID, cmp.Candidate.MeanScore, champ.Version, cmp.Champion.MeanScore)
	info, _, err := publish(ctx, w.s, cand, cmp, note)
	if err != nil {
		return 0, err
	}
	log = log.With("version", info.Version, "champion_version", champ.Version,
		"gain_nats", gain)
	if !better {
		reason := fmt.Sprintf("%s; gain %.4f below margin %.4f", note, gain,
			w.cfg.PromoteMargin)
		if err := w.s.RejectModel(ctx, info.Group, info.Version, reason); err != nil {
			return 0, err
		}
		log.Info("candidate not promoted", "reason", reason)
		return info.ID, nil
	}
	if err := w.s.Promote(ctx, info.Group, info.Version); err != nil {
		return 0, err
	}
	log.Info("candidate promoted")
	return info.ID, nil
}

// replay reads the job's range of the group's series from Kafka.
func (w *worker) replay(ctx context.Context, job store.Job, keys []string,
	log *slog.Logger) ([][]timeseries.Sample, error) {
	if len(keys) == 0 {
		var err error
		if keys, err = w.s.GroupSeries(ctx, job.Group); err != nil {
			return nil, err
		}
	}
	req := replay.Request{Brokers: w.cfg.Kafka.Brokers, Topic: w.cfg.Kafka.SamplesTopic}
	if job.From != nil {
		req.From = *job.From
	}
	if job.To != nil {
		req.To = *job.To
	}
	if len(keys) > 0 {
		req.Keep = replay.KeySet(keys)
	} else {
		log.Warn("no series known for the group; training on every series in range")
	}
	series, st, err := replay.Read(ctx, req)
	if err != nil {
		return nil, err
	}
	log.Info("replayed", "messages", st.Messages, "samples", st.Samples,
		"series", len(series), "malformed", st.Malformed)
	if st.Samples == 0 {
		return nil, errors.New("replay: no samples of the group in the job's range")
	}
	return series, nil
}

// excluder returns an Exclude function over flagged times per series key.
func excluder(flagged map[string][]time.Time) func(timeseries.SeriesID, time.Time) bool {
	if len(flagged) == 0 {
		return nil
	}
	set := map[string]map[int64]bool{}
	for k, ts := range flagged {
		m := make(map[int64]bool, len(ts))
		for _, t := range ts {
			m[t.UnixNano()] = true
		}
		set[k] = m
	}
	return func(id timeseries.SeriesID, t time.Time) bool {
		return set[id.Key()][t.UnixNano()]
	}
}
