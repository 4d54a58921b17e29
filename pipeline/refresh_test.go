package pipeline

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
	"github.com/flowguard/flowguard/training"
)

// scoredUpTo reports whether the newest scored point of each of n series
// in the store is at ts. Results are written after the batch's drift and
// refresh watch ran, so whatever the batch filed is filed by then.
func scoredUpTo(t *testing.T, e *env, n int, ts time.Time) bool {
	t.Helper()
	rows, err := e.store.ListSeries(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	at := 0
	for _, r := range rows {
		if r.LastScore != nil && r.LastTS != nil && r.LastTS.Equal(ts) {
			at++
		}
	}
	return at == n && len(rows) == n
}

// jobs returns every retrain job, oldest first.
func jobs(t *testing.T, e *env) []store.Job {
	t.Helper()
	var out []store.Job
	for id := int64(1); ; id++ { // bigserial from 1 in a fresh database
		j, err := e.store.Job(context.Background(), id)
		if err != nil {
			return out
		}
		out = append(out, j)
	}
}

// feed produces chunk to the samples topic, waits until both series are
// scored up to upTo, and returns the retrain jobs filed by then. The
// newest step is scored when the next arrives, so a chunk is scored up to
// one step before its last sample.
func feed(t *testing.T, e *env, chunk [][]timeseries.Sample, upTo time.Time,
	what string) []store.Job {
	t.Helper()
	e.produce(t, samplesTopic, sampleMessages(chunk))
	waitFor(t, 20*time.Second, what, func() bool { return scoredUpTo(t, e, 2, upTo) })
	return jobs(t, e)
}

// last returns the time of the newest sample of the chunk.
func last(chunk [][]timeseries.Sample) time.Time {
	ss := chunk[0]
	return ss[len(ss)-1].Time
}

// TestRefreshJobEveryRefreshSteps: a flow champion whose training data end
// 600 steps into the stream scores the steps after them. With RefreshSteps
// 300 (no drift watch) nothing is filed while the newest scored point is
// 299 steps past the data end; at 300 one refresh job is filed, over the
// LookbackSteps before that point, and no other while it is open or after
// the trainer finished it, until 300 steps past that job. The trainer
// treats it as a drift job: its own lookback cuts the range.
func TestRefreshJobEveryRefreshSteps(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	gen := newARStream(3, 2, 10, 1)
	champ, _ := fitDriftModel(t, gen.take(600), 1)
	dataEnd := champ.Meta().Data.To
	if want := driftT0.Add(599 * time.Minute); !dataEnd.Equal(want) {
		t.Fatalf("champion's data end %v, want %v", dataEnd, want)
	}
	if _, ok, err := training.Publish(ctx, e.store, champ, nil, nil, "test champion"); err != nil ||
		!ok {
		t.Fatalf("publish champion: %v, %v", ok, err)
	}
	grid := driftGrid()
	reg := &Registry{Store: e.store, Grid: grid}
	cfg := detectorConfig(e.broker)
	cfg.Grid = grid
	cfg.Drift = DriftConfig{RefreshSteps: 300, LookbackSteps: 400, Cooldown: time.Millisecond}
	m := NewMetrics(nil)
	d, err := NewDetector(cfg, e.store, reg, reg, m, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	stop := stage(d.Run)
	defer stop()

	// The newest step is scored when the next arrives: 300 steps after
	// the data end score up to 299 past it.
	before := gen.take(300)
	js := feed(t, e, before, last(before).Add(-time.Minute),
		"299 steps past the data end scored")
	if len(js) != 0 {
		t.Fatalf("jobs %+v filed 299 steps past the data end", js)
	}

	to := dataEnd.Add(300 * time.Minute)
	js = feed(t, e, gen.take(1), to, "300 steps past the data end scored")
	if len(js) != 1 {
		t.Fatalf("jobs %+v, want one refresh job", js)
	}
	job := js[0]
	var det RefreshDetails
	if err := json.Unmarshal(job.Details, &det); err != nil {
		t.Fatal(err)
	}
	t.Logf("job: reason %s, from %v to %v, details %s", job.Reason, job.From, job.To,
		job.Details)
	if job.Reason != store.ReasonRefresh || job.Group != DefaultGroup ||
		job.State != store.JobPending || job.To == nil || !job.To.Equal(to) ||
		job.From == nil || !job.From.Equal(to.Add(-400*time.Minute)) {
		t.Fatalf("job %+v, want a pending refresh job over (%v, %v]", job,
			to.Add(-400*time.Minute), to)
	}
	if det.ModelVersion != 1 || !det.DataEnd.Equal(dataEnd) || len(det.Series) != 2 ||
		det.Step != "1m0s" || det.Window != driftWindow {
		t.Fatalf("job details %+v", det)
	}
	evs, err := e.store.DriftEvents(ctx, "")
	if err != nil || len(evs) != 0 {
		t.Fatalf("drift events %+v (%v), want none", evs, err)
	}

	// Open: nothing more is filed.
	more := gen.take(100)
	js = feed(t, e, more, last(more).Add(-time.Minute),
		"the open job's wait scored")
	if len(js) != 1 {
		t.Fatalf("jobs %+v while the refresh job is open, want one", js)
	}

	// The trainer cuts the job's range (the 300 steps streamed before To)
	// to its own lookback of 200 steps, as for a drift job.
	wcfg := training.DefaultWorkerConfig()
	wcfg.Brokers, wcfg.Topic, wcfg.Poll = []string{e.broker}, samplesTopic, time.Second
	wcfg.Fit.Train.Epochs, wcfg.LookbackSteps = 10, 200
	worker, err := training.NewWorker(e.store, wcfg, testLog(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	stopWorker := stage(worker.Run)
	waitFor(t, 30*time.Second, "the refresh job to finish", func() bool {
		j, err := e.store.Job(ctx, job.ID)
		return err == nil && (j.State == store.JobDone || j.State == store.JobFailed)
	})
	if err, _ := stopWorker(); err != nil {
		t.Fatal(err)
	}
	done, err := e.store.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Outcome training.Outcome `json:"outcome"`
	}
	if err := json.Unmarshal(done.Details, &out); err != nil || done.State != store.JobDone {
		t.Fatalf("refresh job %s (%s), details %s (%v)", done.State, done.Error, done.Details,
			err)
	}
	rng := out.Outcome.Range
	t.Logf("outcome: %s; range %+v", out.Outcome.Reason, rng)
	// Replay reads [From, To): the point at To is left out, as for drift
	// jobs.
	if rng.Reason != store.ReasonRefresh || rng.LookbackSteps != 200 || rng.Samples != 400 ||
		!rng.To.Equal(to.Add(-time.Minute)) || !rng.From.Equal(to.Add(-200*time.Minute)) {
		t.Fatalf("trained on %+v, want the 200 steps before %v of both series", rng, to)
	}

	// The detector still has v1 (no WatchModels here): its refresh was
	// filed, and the finished job files no second one.
	after := gen.take(100)
	js = feed(t, e, after, last(after).Add(-time.Minute),
		"the points after the job scored")
	if len(js) != 1 {
		t.Fatalf("jobs %+v after the refresh job finished, want one", js)
	}
	if got := value(m.refreshJobs.WithLabelValues(DefaultGroup)); got != 1 {
		t.Errorf("refresh jobs counter %v, want 1", got)
	}

	// 300 steps past the first job's To, the next is due.
	next := gen.take(100)
	js = feed(t, e, next, to.Add(300*time.Minute), "300 steps past the first job scored")
	if len(js) != 2 || js[1].Reason != store.ReasonRefresh || js[1].To == nil ||
		!js[1].To.Equal(to.Add(300*time.Minute)) {
		t.Fatalf("jobs %+v, want a second refresh job to %v", js, to.Add(300*time.Minute))
	}
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshCountsFromFirstScore: a model that does not tell its data end
// (arModel) is refreshed RefreshSteps after the first point it scored;
// RefreshSteps 0 never files one.
func TestRefreshCountsFromFirstScore(t *testing.T) {
	for _, steps := range []int{50, 0} {
		e := newEnv(t, 2)
		models := &staticModels{}
		models.set(DefaultGroup, trainedModel(1))
		cfg := detectorConfig(e.broker)
		cfg.Drift = DriftConfig{RefreshSteps: steps, LookbackSteps: 30,
			Cooldown: time.Millisecond}
		m := NewMetrics(nil)
		d, err := NewDetector(cfg, e.store, models, &Registry{Store: e.store, Grid: cfg.Grid},
			m, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		stop := stage(d.Run)

		// The first point scored ends the first window, at step 7; step 56
		// is 49 after it, scored when step 57 arrives.
		gen := newARStream(5, 2, 20, 1)
		first := driftT0.Add(time.Duration(testWindow-1) * time.Minute)
		before := gen.take(58)
		js := feed(t, e, before, first.Add(49*time.Minute),
			"49 steps past the first score")
		if len(js) != 0 {
			t.Fatalf("RefreshSteps %d: jobs %+v 49 steps past the first score", steps, js)
		}
		rest := gen.take(20)
		feed(t, e, rest, last(rest).Add(-time.Minute), "the rest scored")
		if err, _ := stop(); err != nil {
			t.Fatal(err)
		}
		js = jobs(t, e)
		for _, j := range js {
			t.Logf("RefreshSteps %d: job %s from %v to %v, details %s", steps, j.Reason,
				j.From, j.To, j.Details)
		}
		got := value(m.refreshJobs.WithLabelValues(DefaultGroup))
		if steps == 0 {
			if len(js) != 0 || got != 0 {
				t.Fatalf("RefreshSteps 0 filed %+v (counter %v), want none", js, got)
			}
			continue
		}
		// Filed in the batch that scored step 57 or one after it.
		to := first.Add(50 * time.Minute)
		if len(js) != 1 || got != 1 || js[0].Reason != store.ReasonRefresh ||
			js[0].To.Before(to) || !js[0].To.Before(last(rest)) ||
			!js[0].From.Equal(js[0].To.Add(-30*time.Minute)) {
			t.Fatalf("jobs %+v (counter %v), want one refresh job from %v on", js, got, to)
		}
		var det RefreshDetails
		if err := json.Unmarshal(js[0].Details, &det); err != nil || !det.DataEnd.Equal(first) ||
			det.ModelVersion != 1 {
			t.Fatalf("details %s (%v), want the count from %v", js[0].Details, err, first)
		}
	}
}

// fakeRefresher is a JobFiler and RefreshFiler that answers from a queue.
type fakeRefresher struct {
	answers []store.JobFiling
	errs    []error
	got     []RefreshRequest
}

func (f *fakeRefresher) FileBootstrap(context.Context, string, time.Time, time.Time,
	[]string) error {
	return nil
}

func (f *fakeRefresher) FileRefresh(_ context.Context, r RefreshRequest) (store.JobFiling,
	error) {
	f.got = append(f.got, r)
	a, err := f.answers[0], f.errs[0]
	f.answers, f.errs = f.answers[1:], f.errs[1:]
	return a, err
}

// TestWatchRefreshRetries: a failed filing is retried with the next batch,
// a cool-down once it has passed, and a filed job or an open one restarts
// the schedule from its To.
func TestWatchRefreshRetries(t *testing.T) {
	for _, last := range []store.JobFiling{
		{Job: store.Job{ID: 7, Reason: store.ReasonRefresh}, Created: true},
		{Job: store.Job{ID: 8, Reason: store.ReasonDrift, State: store.JobPending}},
	} {
		f := &fakeRefresher{
			answers: []store.JobFiling{{}, {Job: store.Job{ID: 3}, CoolDown: time.Hour}, last},
			errs:    []error{errInjected, nil, nil},
		}
		cfg := detectorConfig("unused")
		cfg.Drift = DriftConfig{RefreshSteps: 10, LookbackSteps: 5, Cooldown: time.Hour}
		cfg.setDefaults()
		m := NewMetrics(nil)
		d := &Detector{cfg: cfg, m: m, log: testLog(t), jobs: f}
		g := &groupState{name: "g", model: trainedModel(3)}
		batch := func(step int) {
			gb := &groupBatch{pending: []pendingPoint{
				{key: "a", ts: driftT0.Add(time.Duration(step) * time.Minute)},
				{key: "b", ts: driftT0.Add(time.Duration(step-1) * time.Minute)}}}
			d.watchDrift(context.Background(), g, gb)
		}
		batch(0) // counts from step -1, the batch's first point
		batch(8)
		if len(f.got) != 0 {
			t.Fatalf("filed %+v 9 steps after the first score", f.got)
		}
		batch(9) // due: fails
		batch(10)
		if len(f.got) != 2 || !f.got[1].To.Equal(driftT0.Add(10*time.Minute)) {
			t.Fatalf("filings %+v, want the failed one retried with the next batch", f.got)
		}
		r := f.got[1]
		if r.Group != "g" || r.Version != 3 || !r.DataEnd.Equal(driftT0.Add(-time.Minute)) ||
			!r.From.Equal(r.To.Add(-5*time.Minute)) || r.Cooldown != time.Hour ||
			len(r.Series) != 2 || r.Series[0] != "a" {
			t.Fatalf("request %+v", r)
		}
		batch(11) // in the cool-down: not asked
		if len(f.got) != 2 {
			t.Fatalf("filings %+v during the cool-down", f.got)
		}
		g.drift.refresh.retry = time.Now().Add(-time.Second)
		batch(12)
		batch(13)
		if len(f.got) != 3 || !g.drift.refresh.end.Equal(driftT0.Add(12*time.Minute)) {
			t.Fatalf("filings %+v, want one after the cool-down and none after %+v", f.got,
				last)
		}
		f.answers, f.errs = append(f.answers, last), append(f.errs, nil)
		batch(21)
		if len(f.got) != 3 {
			t.Fatalf("filings %+v 9 steps after the last", f.got)
		}
		batch(22)
		if len(f.got) != 4 || !f.got[3].To.Equal(driftT0.Add(22*time.Minute)) {
			t.Fatalf("filings %+v, want one 10 steps after the last", f.got)
		}
		want := 0.0
		if last.Created {
			want = 2
		}
		if got := value(m.refreshJobs.WithLabelValues("g")); got != want {
			t.Fatalf("refresh jobs counter %v, want %v", got, want)
		}
	}
}
