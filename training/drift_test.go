package training

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/replay"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

var (
	t0     = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	series = timeseries.NewSeriesID("cpu", nil)
)

// ar1 is an AR(1) stream x_t = mu + phi (x_{t-1} - mu) + sigma e_t with
// standard normal e_t, one sample a minute.
type ar1 struct {
	rng       *rand.Rand
	x         float64
	next      time.Time
	mu, sigma float64
}

const phi = 0.6

func newAR1(seed uint64, mu, sigma float64) *ar1 {
	return &ar1{rng: rand.New(rand.NewPCG(seed, 1)), x: mu, next: t0, mu: mu, sigma: sigma}
}

// take returns the next n samples.
func (a *ar1) take(n int) []timeseries.Sample {
	out := make([]timeseries.Sample, n)
	for i := range out {
		a.x = a.mu + phi*(a.x-a.mu) + a.sigma*a.rng.NormFloat64()
		out[i] = timeseries.Sample{Series: series, Time: a.next, Values: []float64{a.x}}
		a.next = a.next.Add(time.Minute)
	}
	return out
}

// fakeReplay serves one series as the samples topic would, honouring the
// request's time range, and remembers the last request.
type fakeReplay struct {
	ss   []timeseries.Sample
	last replay.Request
}

func (f *fakeReplay) read(_ context.Context,
	req replay.Request) ([][]timeseries.Sample, replay.Stats, error) {
	f.last = req
	var out []timeseries.Sample
	for _, s := range f.ss {
		if (!req.From.IsZero() && s.Time.Before(req.From)) ||
			(!req.To.IsZero() && !s.Time.Before(req.To)) {
			continue
		}
		if req.Keep != nil && !req.Keep(s.Series.AppendKey(nil)) {
			continue
		}
		out = append(out, s)
	}
	return [][]timeseries.Sample{out}, replay.Stats{Messages: len(out), Samples: len(out)}, nil
}

// The grid of the detector in these tests, carried by the jobs.
const gridDetails = `{"series":["cpu{}"],"step":"1m0s","window":8,"max_fill":0}`

func fitOptions() scorer.Options {
	opt := DefaultWorkerConfig().Fit
	opt.Step, opt.Window, opt.MaxFill, opt.Calendar = time.Minute, 8, -1, scorer.Off
	opt.Train.Epochs = 40
	return opt
}

// publishChampion fits a model of group g on ss and makes it champion.
func publishChampion(t *testing.T, s *store.Store, ss []timeseries.Sample) *scorer.Model {
	t.Helper()
	opt := fitOptions()
	opt.Group = "g"
	m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, promoted, err := Publish(context.Background(), s, m, nil, nil,
		"test champion"); err != nil || !promoted {
		t.Fatalf("publish champion: promoted %v, %v", promoted, err)
	}
	return m
}

// flag records the samples as anomalies of group g, as a detector would.
func flag(t *testing.T, s *store.Store, ss []timeseries.Sample) {
	t.Helper()
	for _, x := range ss {
		if _, err := s.Pool().Exec(context.Background(), `INSERT INTO anomalies
			(series_key, model_group, ts, value, score, p_value, model_version)
			VALUES ($1, 'g', $2, $3, 20, 0.0001, 1)`, x.Series.Key(), x.Time,
			x.Values); err != nil {
			t.Fatal(err)
		}
	}
}

// runDriftJob files a drift job over [from, to), has w carry it out, and
// returns the finished job's outcome.
func runDriftJob(t *testing.T, s *store.Store, w *Worker, from, to time.Time) Outcome {
	t.Helper()
	return runJob(t, s, w, store.ReasonDrift, gridDetails, from, to)
}

// runJob files a job of the given reason and details over [from, to),
// has w carry it out, and returns the finished job's outcome; the job must
// end done, with one series and its model.
func runJob(t *testing.T, s *store.Store, w *Worker, reason, details string,
	from, to time.Time) Outcome {
	t.Helper()
	ctx := context.Background()
	_, created, err := s.FileJob(ctx, store.JobRequest{Group: "g", Reason: reason,
		From: &from, To: &to, Details: []byte(details)})
	if err != nil || !created {
		t.Fatalf("file %s job: %v, %v", reason, created, err)
	}
	job, ok, err := s.ClaimJob(ctx, "test")
	if err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	w.handle(ctx, job)
	done, err := s.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != store.JobDone {
		t.Fatalf("%s job %s: %s", reason, done.State, done.Error)
	}
	var det struct {
		Series  []string `json:"series"`
		Outcome Outcome  `json:"outcome"`
	}
	if err := json.Unmarshal(done.Details, &det); err != nil {
		t.Fatal(err)
	}
	if len(det.Series) != 1 || done.ModelID == nil || *done.ModelID != det.Outcome.ModelID {
		t.Fatalf("job details %s, model %v", done.Details, done.ModelID)
	}
	return det.Outcome
}

// TestDriftCandidatePromotedAfterChange: the stream's level moves by six
// of the old standard deviations and its noise triples. A drift job trains
// on the last LookbackSteps samples only, and the candidate beats the old
// champion on the held-out newest data, in likelihood and calibration, so
// it is promoted.
func TestDriftCandidatePromotedAfterChange(t *testing.T) {
	s := pgtest.NewStore(t)
	gen := newAR1(7, 10, 1)
	old := gen.take(2100)
	publishChampion(t, s, old[:1500])
	gen.mu, gen.sigma = 16, 3
	changed := gen.take(2000)
	all := append(old, changed...)
	// The champion flagged the new behaviour until the drift alarm: far
	// more than MaxFlaggedShare of the lookback, so the flags are trained
	// on, not left out.
	flag(t, s, changed[:1000])

	src := &fakeReplay{ss: all}
	cfg := DefaultWorkerConfig()
	cfg.Replay, cfg.Fit, cfg.LookbackSteps = src.read, fitOptions(), 2400
	w, err := NewWorker(s, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := runDriftJob(t, s, w, all[0].Time, all[len(all)-1].Time.Add(time.Minute))

	// The last 2400 samples: 400 before the change, 2000 after; the newest
	// 20% (480) are held out.
	ev := out.Evaluation
	t.Logf("outcome: %s", out.Reason)
	if !out.Promoted || ev == nil || !ev.Promote {
		t.Fatalf("candidate not promoted: %+v", out)
	}
	if !out.Range.From.Equal(all[len(all)-2400].Time) || out.Range.Samples != 2400 ||
		out.Range.LookbackSteps != 2400 || out.Range.Flagged != 1000 ||
		len(out.Range.FlagsKept) != 1 {
		t.Fatalf("trained on %+v, want the last 2400 samples", out.Range)
	}
	if ev.Candidate.Windows != 480 || ev.Champion.Windows != 480 ||
		!ev.From.Equal(all[len(all)-480].Time) || ev.ChampionSawHeldOut {
		t.Fatalf("held-out windows: %+v", ev)
	}
	// The old model sees a shift of six of its standard deviations: it
	// flags most points (p < 0.01) and its p-values are far from uniform.
	// The candidate's flag rate stays near 0.01 (5 in 480 expected; 0.05
	// is the upper 1e-6 binomial tail).
	if ev.Gain < 2 || ev.Champion.FlagRate < 0.5 || ev.Champion.KS < 0.5 ||
		ev.Candidate.FlagRate > 0.05 || ev.Candidate.KS > 0.25 {
		t.Fatalf("evaluation %+v; want a gain over 2 nats, the champion flagging over "+
			"half the points and the candidate calibrated", ev)
	}
	// The best possible mean score is the entropy of the innovations,
	// 0.5 log(2 pi e) + log 3 = 2.5176 nats; allow 0.3 for a small flow.
	if d := ev.Candidate.MeanScore - 2.5176; d < -0.1 || d > 0.3 {
		t.Fatalf("candidate mean score %.4f, want about 2.5176", ev.Candidate.MeanScore)
	}
	champ, err := s.Champion(context.Background(), "g")
	if err != nil || champ.Version != 2 || champ.ID != out.ModelID {
		t.Fatalf("champion v%d (%v), want the candidate v2", champ.Version, err)
	}
	if !strings.Contains(champ.Note, "drift job") || !strings.Contains(champ.Note, "gain") {
		t.Fatalf("champion note %q", champ.Note)
	}
	met, err := DecodeMetrics(champ.Metrics)
	if err != nil || met.Range == nil || met.Range.LookbackSteps != 2400 ||
		met.Evaluation == nil || met.Evaluation.Gain != ev.Gain {
		t.Fatalf("stored metrics %s, %v", champ.Metrics, err)
	}
	if !champ.TrainFrom.Equal(all[len(all)-2400+7].Time) {
		t.Fatalf("train_from %v, want the end of the first window of the lookback %v",
			champ.TrainFrom, all[len(all)-2400+7].Time)
	}
}

// TestDriftCandidateOnCorruptedDataRejected: after a drift alarm the
// replayed data are corrupted (three points in ten replaced by uniform
// noise 40 standard deviations wide) except for the newest fifth, which is
// what held out. The candidate learns the corruption, fits the clean new
// data worse than the champion, and is rejected with the reason recorded.
func TestDriftCandidateOnCorruptedDataRejected(t *testing.T) {
	s := pgtest.NewStore(t)
	gen := newAR1(11, 10, 1)
	champData := gen.take(1500)
	publishChampion(t, s, champData)
	fresh := gen.take(2500)
	noise := rand.New(rand.NewPCG(3, 3))
	for i := range fresh[:2000] {
		if noise.Float64() < 0.3 {
			fresh[i].Values = []float64{10 + 40*(noise.Float64()-0.5)}
		}
	}
	// A few corrupted points were flagged: they are left out of training,
	// and with them every window that holds one.
	var flagged []timeseries.Sample
	for i := range fresh[:2000] {
		if fresh[i].Values[0] > 25 && len(flagged) < 50 {
			flagged = append(flagged, fresh[i])
		}
	}
	if len(flagged) != 50 {
		t.Fatalf("%d corrupted points above 25, want at least 50", len(flagged))
	}
	flag(t, s, flagged)
	src := &fakeReplay{ss: append(champData, fresh...)}
	cfg := DefaultWorkerConfig()
	cfg.Replay, cfg.Fit = src.read, fitOptions()
	w, err := NewWorker(s, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := runDriftJob(t, s, w, fresh[0].Time, fresh[len(fresh)-1].Time.Add(time.Minute))

	if !src.last.From.Equal(fresh[0].Time) || out.Range.Samples != 2500 {
		t.Fatalf("replayed from %v, %d samples; want the job's range", src.last.From,
			out.Range.Samples)
	}
	ev := out.Evaluation
	t.Logf("outcome: %s", out.Reason)
	if out.Promoted || ev == nil || ev.Promote || ev.Gain >= 0 || ev.Candidate.Windows != 500 {
		t.Fatalf("outcome %+v, evaluation %+v; want a rejected, worse candidate", out, ev)
	}
	if !strings.Contains(out.Reason, "below margin") {
		t.Fatalf("reason %q", out.Reason)
	}
	// The champion was trained on clean data: its mean score is near the
	// entropy of the innovations, 0.5 log(2 pi e) = 1.4189 nats.
	if d := ev.Champion.MeanScore - 1.4189; d < -0.1 || d > 0.2 {
		t.Fatalf("champion mean score %.4f, want about 1.4189", ev.Champion.MeanScore)
	}
	if out.Range.Flagged != len(flagged) || len(out.Range.FlagsKept) != 0 {
		t.Fatalf("range %+v, want %d flagged points left out", out.Range, len(flagged))
	}
	ctx := context.Background()
	v2, err := s.ModelVersion(ctx, "g", 2)
	if err != nil {
		t.Fatal(err)
	}
	if v2.State != store.StateRejected || !strings.Contains(v2.Note, "drift job") ||
		!strings.Contains(v2.Note, "below margin") {
		t.Fatalf("candidate %s, note %q", v2.State, v2.Note)
	}
	if met, err := DecodeMetrics(v2.Metrics); err != nil || met.Data.Excluded != len(flagged) {
		t.Fatalf("candidate excluded %d steps (%v), want the %d flagged", met.Data.Excluded,
			err, len(flagged))
	}
	if c, err := s.Champion(ctx, "g"); err != nil || c.Version != 1 {
		t.Fatalf("champion v%d, %v; want v1 kept", c.Version, err)
	}
}

// TestJobWithLagsReplaysHistory: a refresh job of a grid offering a
// one-hour lag replays the hour before its range too, so that its first
// windows have lag values; that hour is in no window trained on and none
// held out. The candidate keeps the lag.
func TestJobWithLagsReplaysHistory(t *testing.T) {
	s := pgtest.NewStore(t)
	gen := newAR1(11, 10, 1)
	all := gen.take(2000)
	publishChampion(t, s, all[:1000])

	src := &fakeReplay{ss: all}
	cfg := DefaultWorkerConfig()
	cfg.Replay, cfg.Fit, cfg.LookbackSteps = src.read, fitOptions(), 0
	w, err := NewWorker(s, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	from, to := all[1200].Time, all[1999].Time.Add(time.Minute)
	details := strings.Replace(gridDetails, `"max_fill":0`, `"max_fill":0,"lags":["1h0m0s"]`, 1)
	out := runJob(t, s, w, store.ReasonRefresh, details, from, to)
	t.Logf("outcome: %s; range %+v", out.Reason, out.Range)
	if !src.last.From.Equal(from.Add(-time.Hour)) {
		t.Fatalf("replayed from %v, want an hour before %v", src.last.From, from)
	}
	if !out.Range.From.Equal(from) || out.Range.Samples != 800 || out.Range.History != 60 {
		t.Fatalf("range %+v, want 800 samples from %v after 60 of history", out.Range, from)
	}
	// A fifth of the job's own 800 samples, not of the 860 replayed.
	if ev := out.Evaluation; ev == nil || ev.Candidate.Windows != 160 ||
		!ev.From.Equal(all[1840].Time) {
		t.Fatalf("evaluation %+v, want the newest 160 held out", out.Evaluation)
	}
	m, err := s.ModelVersion(context.Background(), "g", out.Version)
	if err != nil {
		t.Fatal(err)
	}
	cand, err := scorer.Decode(m.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	meta := cand.Meta()
	if len(meta.Features.Lags) != 1 || meta.Features.Lags[0] != time.Hour ||
		meta.Data.Excluded != 60 {
		t.Fatalf("candidate lags %v, %d steps excluded; want the hour lag and the 60 "+
			"history steps", meta.Features.Lags, meta.Data.Excluded)
	}
}
