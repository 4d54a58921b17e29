package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

func TestFileJobKeepsOneUnfinishedPerGroup(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := s.Listen(ctx, store.JobsChannel)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first, created, err := s.FileJob(ctx, store.JobRequest{Group: "g",
		Reason: store.ReasonBootstrap, From: &from, Details: []byte(`{"rows":750}`)})
	if err != nil || !created {
		t.Fatalf("first FileJob = %v, %v", created, err)
	}
	n, err := l.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ev store.JobEvent
	if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil || ev.ID != first.ID ||
		ev.Group != "g" {
		t.Fatalf("job notification %q (%v), want id %d", n.Payload, err, first.ID)
	}

	second, created, err := s.FileJob(ctx, store.JobRequest{Group: "g", Reason: store.ReasonDrift})
	if err != nil || created || second.ID != first.ID || second.Reason != store.ReasonBootstrap {
		t.Fatalf("second FileJob = id %d reason %s created %v err %v; want the first job",
			second.ID, second.Reason, created, err)
	}
	// No notification for a job that was not created: the next one to
	// arrive must be for group h.
	manual := store.JobRequest{Group: "h", Reason: store.ReasonManual}
	if _, _, err := s.FileJob(ctx, manual); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Next(ctx); err != nil || !json.Valid([]byte(n.Payload)) ||
		!strings.Contains(n.Payload, `"group":"h"`) {
		t.Fatalf("next notification %q, %v; want group h", n.Payload, err)
	}

	// A timed-out wait leaves the listener usable.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = l.Next(short)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with nothing to hear: %v, want deadline exceeded", err)
	}

	job, ok, err := s.ClaimJob(ctx, "w1")
	if err != nil || !ok || job.ID != first.ID || job.State != store.JobRunning ||
		job.ClaimedBy != "w1" || job.Attempts != 1 || !job.From.Equal(from) {
		t.Fatalf("ClaimJob = %+v, %v, %v", job, ok, err)
	}
	// Running still counts as unfinished.
	drift := store.JobRequest{Group: "g", Reason: store.ReasonDrift}
	if _, created, err := s.FileJob(ctx, drift); err != nil || created {
		t.Fatalf("FileJob while running: created %v, %v", created, err)
	}
	m := saveModel(t, s, "g")
	if err := s.FinishJob(ctx, job.ID, &m.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishJob(ctx, job.ID, nil); err == nil {
		t.Fatal("finishing a finished job succeeded")
	}
	done, err := s.Job(ctx, job.ID)
	if err != nil || done.State != store.JobDone || done.ModelID == nil || *done.ModelID != m.ID ||
		done.FinishedAt == nil {
		t.Fatalf("finished job = %+v, %v", done, err)
	}
	third, created, err := s.FileJob(ctx, drift)
	if err != nil || !created || third.ID == first.ID {
		t.Fatalf("FileJob after finishing = %+v created %v, %v; want a new job", third, created, err)
	}
	j, _, err := s.ClaimJob(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FailJob(ctx, j.ID, "replay: no data"); err != nil {
		t.Fatal(err)
	}
	counts, err := s.JobCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Jobs: g done, h claimed second (oldest pending after g) and failed,
	// g's drift job still pending.
	want := map[string]int{"done": 1, "failed": 1, "pending": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("JobCounts = %v, want %v", counts, want)
	}
}

func TestConcurrentClaimersNeverShareAJob(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	const jobs = 40
	for i := range jobs {
		if _, _, err := s.FileJob(ctx, store.JobRequest{Group: fmt.Sprintf("g%02d", i),
			Reason: store.ReasonBootstrap}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		worker := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				j, ok, err := s.ClaimJob(ctx, worker)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				if prev, dup := claimed[j.ID]; dup {
					t.Errorf("job %d claimed by %s and %s", j.ID, prev, worker)
				}
				claimed[j.ID] = worker
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != jobs {
		t.Fatalf("%d jobs claimed, want %d", len(claimed), jobs)
	}
	var stillPending int
	if err := s.Pool().QueryRow(ctx,
		"SELECT count(*) FROM retrain_jobs WHERE state <> 'running'").Scan(&stillPending); err != nil {
		t.Fatal(err)
	}
	if stillPending != 0 {
		t.Fatalf("%d jobs not running after every claimer stopped", stillPending)
	}
}

func TestRequeueStale(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	job, _, err := s.FileJob(ctx, store.JobRequest{Group: "g", Reason: store.ReasonManual})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ClaimJob(ctx, "dead-trainer"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RequeueStale(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("RequeueStale(1h) on a fresh claim = %d, %v; want 0", n, err)
	}
	if _, err := s.Pool().Exec(ctx,
		"UPDATE retrain_jobs SET claimed_at = now() - interval '2 hours'"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RequeueStale(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("RequeueStale(1h) on a 2h-old claim = %d, %v; want 1", n, err)
	}
	again, ok, err := s.ClaimJob(ctx, "w2")
	if err != nil || !ok || again.ID != job.ID || again.Attempts != 2 {
		t.Fatalf("reclaim = %+v %v %v; want job %d attempt 2", again, ok, err, job.ID)
	}
}

func TestReleaseJob(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	job, _, err := s.FileJob(ctx, store.JobRequest{Group: "g", Reason: store.ReasonManual})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseJob(ctx, job.ID); err == nil {
		t.Fatal("releasing a pending job succeeded")
	}
	if _, _, err := s.ClaimJob(ctx, "stopping"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	again, ok, err := s.ClaimJob(ctx, "w2")
	if err != nil || !ok || again.ID != job.ID || again.ClaimedBy != "w2" {
		t.Fatalf("claim after release = %+v, %v, %v", again, ok, err)
	}
}

func TestFlaggedTimes(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `INSERT INTO anomalies
		(series_key, model_group, ts, value, score, p_value, model_version) VALUES
		('a{}', 'g', '2026-01-01T00:00:00Z', '{1}', 9, 0.001, 1),
		('a{}', 'g', '2026-01-03T00:00:00Z', '{1}', 9, 0.001, 1),
		('b{}', 'g', '2026-01-02T00:00:00Z', '{1}', 9, 0.001, 1),
		('c{}', 'other', '2026-01-02T00:00:00Z', '{1}', 9, 0.001, 1)`); err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	got, err := s.FlaggedTimes(ctx, "g", day(1), day(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got["a{}"]) != 1 || !got["a{}"][0].Equal(day(1)) ||
		len(got["b{}"]) != 1 {
		t.Fatalf("FlaggedTimes [1st, 3rd) = %v", got)
	}
	all, err := s.FlaggedTimes(ctx, "g", time.Time{}, time.Time{})
	if err != nil || len(all["a{}"]) != 2 {
		t.Fatalf("FlaggedTimes unbounded = %v, %v", all, err)
	}
}

func TestGroupSeries(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `INSERT INTO series (key, name, model_group) VALUES
		('b{}', 'b', 'g'), ('a{}', 'a', 'g'), ('c{}', 'c', 'other')`); err != nil {
		t.Fatal(err)
	}
	keys, err := s.GroupSeries(ctx, "g")
	if err != nil || fmt.Sprint(keys) != "[a{} b{}]" {
		t.Fatalf("GroupSeries = %v, %v", keys, err)
	}
}

func TestFinishJobOutcome(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	job, _, err := s.FileJob(ctx, store.JobRequest{Group: "g", Reason: store.ReasonDrift,
		Details: []byte(`{"ks":0.31}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ClaimJob(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	m := saveModel(t, s, "g")
	outcome := []byte(`{"promoted":false,"reason":"gain below margin"}`)
	if err := s.FinishJobOutcome(ctx, job.ID, &m.ID, outcome); err != nil {
		t.Fatal(err)
	}
	done, err := s.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		KS      float64 `json:"ks"`
		Outcome struct {
			Promoted bool   `json:"promoted"`
			Reason   string `json:"reason"`
		} `json:"outcome"`
	}
	if err := json.Unmarshal(done.Details, &d); err != nil {
		t.Fatal(err)
	}
	// The detector's details stay beside the outcome.
	if done.State != store.JobDone || d.KS != 0.31 || d.Outcome.Promoted ||
		d.Outcome.Reason != "gain below margin" {
		t.Fatalf("finished job %s details %s", done.State, done.Details)
	}
}
