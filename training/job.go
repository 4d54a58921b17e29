package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/flowguard/flowguard/replay"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// jobDetails is what the worker reads from a job's details JSON (the
// detector writes pipeline.BootstrapDetails; a drift job may add its
// statistic, which the worker leaves alone).
type jobDetails struct {
	// Series restricts the replay to these series keys; without it the
	// worker asks the series table for the group's series, and failing
	// that uses every series of the range.
	Series []string `json:"series"`
	// The detector's grid, which the model must be trained on to be
	// loadable there. Step is a Go duration; an empty Step leaves the grid
	// to WorkerConfig.Fit.
	Step     string `json:"step"`
	Window   int    `json:"window"`
	MaxFill  int    `json:"max_fill"`
	Calendar bool   `json:"calendar"`
	// Lags are the seasonal lags the detector offers, Go durations;
	// scorer.Fit keeps those the job's data span supports.
	Lags []string `json:"lags"`
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
	opt.Lags = nil
	for _, l := range d.Lags {
		lag, err := time.ParseDuration(l)
		if err != nil || lag <= 0 {
			return fmt.Errorf("job details: lag %q: want a positive duration", l)
		}
		opt.Lags = append(opt.Lags, lag)
	}
	return nil
}

// Range describes the data a job trained on, as recorded in Metrics and in
// the job's outcome.
type Range struct {
	// Reason is the job's reason.
	Reason string `json:"reason"`
	// From and To are the first and last sample times used, after the
	// lookback of a drift job.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Lookback and LookbackSteps are the bounds applied (drift jobs only).
	Lookback      string `json:"lookback,omitempty"`
	LookbackSteps int    `json:"lookback_steps,omitempty"`
	// Samples is the number of samples in the range, holdout included.
	Samples int `json:"samples"`
	// History is the number of samples replayed before the range for the
	// seasonal lags of its first windows; they are in no window trained on.
	History int `json:"history,omitempty"`
	// Flagged is the number of flagged points in the range; those of the
	// series in FlagsKept were trained on, the others left out.
	Flagged   int      `json:"flagged"`
	FlagsKept []string `json:"flags_kept,omitempty"`
}

// Outcome is what a finished job decided. It is stored, as JSON, under the
// "outcome" key of the job's details.
type Outcome struct {
	ModelID  int64  `json:"model_id"`
	Version  int    `json:"version"`
	Promoted bool   `json:"promoted"`
	Reason   string `json:"reason"`
	Range    Range  `json:"range"`
	// Evaluation is nil for a bootstrap, which has no champion to beat.
	Evaluation *Evaluation `json:"evaluation,omitempty"`
}

func (o Outcome) encode() ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("training: encode outcome: %w", err)
	}
	return b, nil
}

// label is the outcome label of the finished-jobs counter.
func (o Outcome) label() string {
	switch {
	case o.Promoted:
		return outcomePromoted
	case o.Evaluation != nil:
		return outcomeRejected
	}
	return outcomeStored
}

// runJob replays the job's data, fits a candidate, stores it and promotes
// it when the group has no champion or the candidate beats the champion.
func (w *Worker) runJob(ctx context.Context, job store.Job,
	log *slog.Logger) (Outcome, error) {
	var det jobDetails
	if len(job.Details) > 0 {
		if err := json.Unmarshal(job.Details, &det); err != nil {
			return Outcome{}, fmt.Errorf("job details: %w", err)
		}
	}
	opt := w.cfg.Fit
	opt.Group = job.Group
	if err := det.apply(&opt); err != nil {
		return Outcome{}, err
	}
	series, starts, rng, err := w.load(ctx, job, det.Series, LagHistory(opt.Lags), log)
	if err != nil {
		return Outcome{}, err
	}
	// The range's end is inclusive, FlaggedTimes' exclusive.
	flagged, err := w.s.FlaggedTimes(ctx, job.Group, rng.From, rng.To.Add(time.Nanosecond))
	if err != nil {
		return Outcome{}, err
	}
	opt.Exclude = SkipHistory(w.exclusion(own(series, starts), flagged, &rng), starts)
	if len(rng.FlagsKept) > 0 {
		log.Warn("flags too dense to be anomalies; training on them",
			"series", rng.FlagsKept, "max_share", w.cfg.MaxFlaggedShare)
	}

	champ, err := w.s.Champion(ctx, job.Group)
	if errors.Is(err, store.ErrNoModel) {
		return w.bootstrap(ctx, job, series, opt, rng, log)
	}
	if err != nil {
		return Outcome{}, err
	}
	return w.challenge(ctx, job, champ, series, opt, rng, log)
}

// load replays the job's range of the group's series, cut to the lookback
// for a drift or refresh job, with up to history of each series before
// its first sample of the range, replayed too: a model with seasonal lags
// learns from the job's first windows only if their lag values are known.
// It returns the series, history included; where each series' own
// samples start, for a series with history; and the range of the own
// samples.
func (w *Worker) load(ctx context.Context, job store.Job, keys []string,
	history time.Duration, log *slog.Logger) ([][]timeseries.Sample, map[string]time.Time,
	Range, error) {
	if len(keys) == 0 {
		var err error
		if keys, err = w.s.GroupSeries(ctx, job.Group); err != nil {
			return nil, nil, Range{}, err
		}
	}
	req := replay.Request{Brokers: w.cfg.Brokers, Topic: w.cfg.Topic}
	if job.From != nil {
		req.From = *job.From
	}
	if job.To != nil {
		req.To = *job.To
	}
	// A refresh retrains on recent data as a drift job does.
	drift := job.Reason == store.ReasonDrift || job.Reason == store.ReasonRefresh
	if drift && w.cfg.Lookback > 0 && !req.To.IsZero() {
		// Read no more than the lookback needs.
		if from := req.To.Add(-w.cfg.Lookback); from.After(req.From) {
			req.From = from
		}
	}
	begin := req.From
	if history > 0 && !begin.IsZero() {
		req.From = begin.Add(-history)
	}
	if len(keys) > 0 {
		req.Keep = replay.KeySet(keys)
	} else {
		log.Warn("no series known for the group; training on every series in range")
	}
	replayed, st, err := w.cfg.Replay(ctx, req)
	if err != nil {
		return nil, nil, Range{}, err
	}
	log.Info("replayed", "messages", st.Messages, "samples", st.Samples,
		"series", len(replayed), "malformed", st.Malformed)
	series := since(replayed, begin)
	rng := Range{Reason: job.Reason}
	if drift {
		series = Recent(series, w.cfg.Lookback, w.cfg.LookbackSteps)
		if w.cfg.Lookback > 0 {
			rng.Lookback = w.cfg.Lookback.String()
		}
		rng.LookbackSteps = w.cfg.LookbackSteps
	}
	first := true
	for _, ss := range series {
		for i := range ss {
			t := ss[i].Time
			if first || t.Before(rng.From) {
				rng.From = t
			}
			if first || t.After(rng.To) {
				rng.To = t
			}
			first = false
			rng.Samples++
		}
	}
	if rng.Samples == 0 {
		return nil, nil, Range{}, errors.New("replay: no samples of the group in the job's range")
	}
	if history <= 0 {
		return series, nil, rng, nil
	}
	full := make(map[string][]timeseries.Sample, len(replayed))
	for _, ss := range replayed {
		if len(ss) > 0 {
			full[ss[0].Series.Key()] = ss
		}
	}
	starts := make(map[string]time.Time, len(series))
	for i, own := range series {
		// own is a suffix of the replayed series.
		key, start := own[0].Series.Key(), own[0].Time
		ss := full[key]
		j, _ := slices.BinarySearchFunc(ss, start.Add(-history),
			func(s timeseries.Sample, t time.Time) int { return s.Time.Compare(t) })
		if k := len(ss) - len(own); j < k {
			series[i] = ss[j:]
			starts[key] = start
			rng.History += k - j
		}
	}
	return series, starts, rng, nil
}

// LagHistory is how far before its own first sample a job replays a
// series: the longest lag, so that its first windows have their lag
// values.
func LagHistory(lags []time.Duration) time.Duration {
	var h time.Duration
	for _, l := range lags {
		h = max(h, l)
	}
	return h
}

// SkipHistory returns ex, which may be nil, extended to leave out every
// sample of a series (by key) before its start in starts: the lag history
// gives the job's first windows their lag values and is no window of its
// own. It returns ex itself when starts is empty.
func SkipHistory(ex func(timeseries.SeriesID, time.Time) bool,
	starts map[string]time.Time) func(timeseries.SeriesID, time.Time) bool {
	if len(starts) == 0 {
		return ex
	}
	return func(id timeseries.SeriesID, t time.Time) bool {
		if s, ok := starts[id.Key()]; ok && t.Before(s) {
			return true
		}
		return ex != nil && ex(id, t)
	}
}

// since returns each series from its first sample at or after t, leaving
// out series with none; the series unchanged for the zero t.
func since(series [][]timeseries.Sample, t time.Time) [][]timeseries.Sample {
	if t.IsZero() {
		return series
	}
	out := make([][]timeseries.Sample, 0, len(series))
	for _, ss := range series {
		i, _ := slices.BinarySearchFunc(ss, t,
			func(s timeseries.Sample, t time.Time) int { return s.Time.Compare(t) })
		if i < len(ss) {
			out = append(out, ss[i:])
		}
	}
	return out
}

// own returns the series without the history before starts.
func own(series [][]timeseries.Sample, starts map[string]time.Time) [][]timeseries.Sample {
	if len(starts) == 0 {
		return series
	}
	out := make([][]timeseries.Sample, len(series))
	for i, ss := range series {
		out[i] = since([][]timeseries.Sample{ss}, starts[ss[0].Series.Key()])[0]
	}
	return out
}

// Recent keeps the samples of the last lookback before the newest sample
// of all series and, per series, the last steps samples; zero bounds
// nothing. Series left empty are dropped.
func Recent(series [][]timeseries.Sample, lookback time.Duration,
	steps int) [][]timeseries.Sample {
	var end time.Time
	for _, ss := range series {
		if n := len(ss); n > 0 && ss[n-1].Time.After(end) {
			end = ss[n-1].Time
		}
	}
	out := make([][]timeseries.Sample, 0, len(series))
	for _, ss := range series {
		if steps > 0 && len(ss) > steps {
			ss = ss[len(ss)-steps:]
		}
		if lookback > 0 {
			start := end.Add(-lookback)
			i := 0
			for i < len(ss) && !ss[i].Time.After(start) {
				i++
			}
			ss = ss[i:]
		}
		if len(ss) > 0 {
			out = append(out, ss)
		}
	}
	return out
}

// exclusion is Exclusion with the worker's MaxFlaggedShare, recording the
// counts in rng.
func (w *Worker) exclusion(series [][]timeseries.Sample, flagged map[string][]time.Time,
	rng *Range) func(timeseries.SeriesID, time.Time) bool {
	ex, n, kept := Exclusion(series, flagged, w.cfg.MaxFlaggedShare)
	rng.Flagged += n
	rng.FlagsKept = append(rng.FlagsKept, kept...)
	return ex
}

// Exclusion returns the Exclude function of a fit that leaves out the
// flagged points (times per series key) of every series whose share of
// flagged samples is at most maxShare: more flags than that mean the
// behaviour changed, which a retrain must learn, rather than rare
// anomalies. It also returns the number of flags in the series and the
// keys whose flags are kept for training. The function is nil when
// nothing is left out.
func Exclusion(series [][]timeseries.Sample, flagged map[string][]time.Time,
	maxShare float64) (ex func(timeseries.SeriesID, time.Time) bool, n int, kept []string) {
	set := map[string]map[int64]bool{}
	for _, ss := range series {
		if len(ss) == 0 {
			continue
		}
		key := ss[0].Series.Key()
		ts := flagged[key]
		if len(ts) == 0 {
			continue
		}
		n += len(ts)
		if float64(len(ts)) > maxShare*float64(len(ss)) {
			kept = append(kept, key)
			continue
		}
		m := make(map[int64]bool, len(ts))
		for _, t := range ts {
			m[t.UnixNano()] = true
		}
		set[key] = m
	}
	if len(set) == 0 {
		return nil, n, kept
	}
	return func(id timeseries.SeriesID, t time.Time) bool {
		return set[id.Key()][t.UnixNano()]
	}, n, kept
}
