package training

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// minEvalWindows is the fewest held-out windows a comparison needs; with
// fewer the KS statistic alone varies by more than 0.2.
const minEvalWindows = 32

// Evaluation compares a candidate with the champion of the time on the
// same held-out windows: those whose newest step is among the newest
// Holdout samples of its series, which the candidate did not see.
type Evaluation struct {
	// From and To are the times of the first and last held-out step.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Candidate and Champion assess both models on the windows held out;
	// MeanScore is in nats of the raw values.
	Candidate       scorer.Assessment `json:"candidate"`
	Champion        scorer.Assessment `json:"champion"`
	ChampionVersion int               `json:"champion_version"`
	// Gain is Champion.MeanScore - Candidate.MeanScore: positive when the
	// candidate fits the new data better.
	Gain float64 `json:"gain"`
	// ChampionSawHeldOut is set when the held-out windows fall within the
	// champion's own data, typically its calibration windows: its KS is
	// then biased towards 0 and calibration is not compared.
	ChampionSawHeldOut bool `json:"champion_saw_held_out,omitempty"`
	// Policy is the rule applied.
	Policy Policy `json:"policy"`
	// Promote is the decision and Reason says why, for people.
	Promote bool   `json:"promote"`
	Reason  string `json:"reason"`
}

// Decide applies the policy to a candidate's and a champion's assessment
// on the same windows and returns the evaluation with its decision. When
// sawHeldOut is true the champion's KS is not compared (see
// Evaluation.ChampionSawHeldOut).
func (p Policy) Decide(cand, champ scorer.Assessment, version int,
	sawHeldOut bool) Evaluation {
	e := Evaluation{Candidate: cand, Champion: champ, ChampionVersion: version, Policy: p,
		Gain: champ.MeanScore - cand.MeanScore, ChampionSawHeldOut: sawHeldOut}
	scores := fmt.Sprintf("mean score %.4f vs champion v%d %.4f nats, KS %.3f vs %.3f, "+
		"%d held-out windows", cand.MeanScore, version, champ.MeanScore, cand.KS, champ.KS,
		cand.Windows)
	switch {
	case cand.Windows < minEvalWindows:
		e.Reason = fmt.Sprintf("%s: too few to compare (want %d)", scores, minEvalWindows)
	case e.Gain < p.Margin:
		e.Reason = fmt.Sprintf("%s: gain %.4f below margin %.4f", scores, e.Gain, p.Margin)
	case !sawHeldOut && cand.KS > champ.KS+p.KSTolerance:
		e.Reason = fmt.Sprintf("%s: calibration worse than the champion's by more than %.3f",
			scores, p.KSTolerance)
	default:
		e.Promote = true
		e.Reason = fmt.Sprintf("%s: gain %.4f at least margin %.4f", scores, e.Gain, p.Margin)
	}
	if sawHeldOut && cand.Windows >= minEvalWindows && e.Gain >= p.Margin {
		e.Reason += " (calibration not compared: the champion was fitted on these data)"
	}
	return e
}

// bootstrap fits on all the data of a group without a champion and makes
// the model champion, unless another trainer got there first.
func (w *Worker) bootstrap(ctx context.Context, job store.Job, series [][]timeseries.Sample,
	opt scorer.Options, rng Range, log *slog.Logger) (Outcome, error) {
	m, err := scorer.Fit(ctx, series, opt)
	if err != nil {
		return Outcome{}, fmt.Errorf("fit: %w", err)
	}
	logFit(log, m)
	note := fmt.Sprintf("%s job %d: first model of the group", job.Reason, job.ID)
	info, promoted, err := Publish(ctx, w.s, m, &rng, nil, note)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{ModelID: info.ID, Version: info.Version, Promoted: promoted,
		Reason: note, Range: rng}
	if !promoted {
		out.Reason = "another model became champion first; kept as candidate"
	}
	log.Info("model stored", "version", info.Version, "champion", promoted)
	return out, nil
}

// challenge fits a candidate without the newest Holdout share of each
// series, compares it with the champion on that share, stores it, and
// promotes or rejects it.
func (w *Worker) challenge(ctx context.Context, job store.Job, champ store.Model,
	series [][]timeseries.Sample, opt scorer.Options, rng Range,
	log *slog.Logger) (Outcome, error) {
	cm, err := scorer.Decode(champ.Artifact)
	if err != nil {
		return Outcome{}, fmt.Errorf("champion v%d: %w", champ.Version, err)
	}
	cand, ev, err := Challenge(ctx, cm, champ.Version, series, rng.From, opt,
		w.cfg.Policy, w.cfg.Holdout)
	if err != nil {
		return Outcome{}, err
	}
	logFit(log, cand)
	note := fmt.Sprintf("%s job %d: %s", job.Reason, job.ID, ev.Reason)
	info, _, err := Publish(ctx, w.s, cand, &rng, &ev, note)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{ModelID: info.ID, Version: info.Version, Promoted: ev.Promote,
		Reason: ev.Reason, Range: rng, Evaluation: &ev}
	log = log.With("version", info.Version, "champion_version", champ.Version,
		"gain_nats", ev.Gain, "ks", ev.Candidate.KS, "champion_ks", ev.Champion.KS)
	if !ev.Promote {
		if err := w.s.RejectModel(ctx, info.Group, info.Version, note); err != nil {
			return Outcome{}, err
		}
		log.Info("candidate not promoted", "reason", ev.Reason)
		return out, nil
	}
	err = w.s.PromoteOver(ctx, info.Group, info.Version, champ.Version)
	if errors.Is(err, store.ErrChampionChanged) {
		// A person or another trainer changed the champion while this one
		// trained: the comparison no longer holds.
		out.Promoted = false
		out.Reason = fmt.Sprintf("%s; but the champion changed from v%d during training",
			ev.Reason, champ.Version)
		note = fmt.Sprintf("%s job %d: %s", job.Reason, job.ID, out.Reason)
		if err := w.s.RejectModel(ctx, info.Group, info.Version, note); err != nil {
			return Outcome{}, err
		}
		log.Warn("candidate not promoted: the champion changed during training")
		return out, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	log.Info("candidate promoted")
	return out, nil
}

func logFit(log *slog.Logger, m *scorer.Model) {
	meta := m.Meta()
	log.Info("model trained", "series", meta.Data.Series, "samples", meta.Data.Samples,
		"excluded", meta.Data.Excluded, "extreme_windows", meta.Data.Extreme,
		"valid_nll", meta.Report.ValidNLL,
		"calib_score", meta.Report.CalibScore, "seconds", meta.Report.Seconds)
}

// holdOut returns each series without its newest share frac of the
// samples at or after since (at least one sample is kept and one held out
// when the series has two), and the time of each series' first held-out
// sample, the zero time for a series with nothing held out.
func holdOut(series [][]timeseries.Sample, frac float64,
	since time.Time) ([][]timeseries.Sample, []time.Time) {
	fit := make([][]timeseries.Sample, len(series))
	cuts := make([]time.Time, len(series))
	for i, ss := range series {
		counted := len(ss) - sort.Search(len(ss), func(j int) bool {
			return !ss[j].Time.Before(since)
		})
		n := int(frac*float64(counted) + 0.5)
		if len(ss) >= 2 {
			n = min(max(n, 1), len(ss)-1)
		} else {
			n = 0
		}
		fit[i] = ss[:len(ss)-n]
		if n > 0 {
			cuts[i] = ss[len(ss)-n].Time
		}
	}
	return fit, cuts
}

// Challenge fits a candidate on series without the newest holdout share
// of each, assesses it and the champion (of the given version) on that
// share, and decides by policy. Samples before since are lag history: they
// give the first windows their lag values but do not count in the share.
// The trainer stores the candidate and promotes it when the evaluation
// says so; an offline replay (package evaluate) swaps it in.
func Challenge(ctx context.Context, champ *scorer.Model, version int,
	series [][]timeseries.Sample, since time.Time, opt scorer.Options, policy Policy,
	holdout float64) (*scorer.Model, Evaluation, error) {
	fitPart, cuts := holdOut(series, holdout, since)
	cand, err := scorer.Fit(ctx, fitPart, opt)
	if err != nil {
		return nil, Evaluation{}, fmt.Errorf("fit: %w", err)
	}
	cw, err := heldOut(cand, series, cuts)
	if err != nil {
		return nil, Evaluation{}, fmt.Errorf("candidate windows: %w", err)
	}
	hw, err := heldOut(champ, series, cuts)
	if err != nil {
		return nil, Evaluation{}, fmt.Errorf("champion windows: %w", err)
	}
	cw, hw = common(cw, hw), common(hw, cw)
	ca, err := cand.Assess(cw)
	if err != nil {
		return nil, Evaluation{}, fmt.Errorf("assess candidate: %w", err)
	}
	ha, err := champ.Assess(hw)
	if err != nil {
		return nil, Evaluation{}, fmt.Errorf("assess champion: %w", err)
	}
	var from, to time.Time
	for i, t := range cw.Time {
		if i == 0 || t.Before(from) {
			from = t
		}
		if i == 0 || t.After(to) {
			to = t
		}
	}
	saw := cw.Len() > 0 && !champ.Meta().Data.To.Before(from)
	ev := policy.Decide(ca, ha, version, saw)
	ev.From, ev.To = from, to
	return cand, ev, nil
}

// heldOut builds m's windows over series and keeps those ending at or
// after their series' cut.
func heldOut(m *scorer.Model, series [][]timeseries.Sample,
	cuts []time.Time) (scorer.Windows, error) {
	all, _, err := m.Meta().Features.Build(series, nil)
	if err != nil {
		return scorer.Windows{}, err
	}
	return filter(all, func(i int) bool {
		c := cuts[all.Series[i]]
		return !c.IsZero() && !all.Time[i].Before(c)
	}), nil
}

// common keeps the windows of a that end where a window of b ends.
func common(a, b scorer.Windows) scorer.Windows {
	type end struct {
		series int
		t      int64
	}
	in := make(map[end]bool, b.Len())
	for i, t := range b.Time {
		in[end{b.Series[i], t.UnixNano()}] = true
	}
	return filter(a, func(i int) bool { return in[end{a.Series[i], a.Time[i].UnixNano()}] })
}

// filter copies the windows for which keep is true.
func filter(w scorer.Windows, keep func(i int) bool) scorer.Windows {
	n := w.Len()
	if n == 0 {
		return scorer.Windows{}
	}
	d, c := len(w.X)/n, len(w.Context)/n
	var out scorer.Windows
	for i := range n {
		if !keep(i) {
			continue
		}
		out.X = append(out.X, w.X[i*d:(i+1)*d]...)
		out.Context = append(out.Context, w.Context[i*c:(i+1)*c]...)
		out.Time = append(out.Time, w.Time[i])
		out.Series = append(out.Series, w.Series[i])
	}
	return out
}
