package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

func driftEvent(group string, stat float64) store.DriftEvent {
	return store.DriftEvent{Group: group, ModelVersion: 3, Statistic: stat, Threshold: 0.09,
		Window: 1000, OutOfRangeShare: 0.25, Reason: "p-values not uniform"}
}

func driftJob(group string) store.JobRequest {
	to := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	return store.JobRequest{Group: group, Reason: store.ReasonDrift, To: &to,
		Details: []byte(`{"statistic":0.3}`)}
}

// TestRecordDrift: the first alarm records its event and files a job; an
// alarm inside the cool-down writes nothing, and so does one while the job
// is open; after the job, an alarm out of the cool-down files again.
func TestRecordDrift(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()

	f, err := s.RecordDrift(ctx, driftEvent("g", 0.3), driftJob("g"), time.Hour)
	if err != nil || !f.Recorded || !f.JobCreated {
		t.Fatalf("first alarm: %+v, %v", f, err)
	}
	if f.Job.Reason != store.ReasonDrift || f.Job.State != store.JobPending ||
		f.Event.JobID == nil || *f.Event.JobID != f.Job.ID || f.Event.ModelVersion != 3 ||
		f.Event.Statistic != 0.3 || f.Event.Window != 1000 || f.Event.OutOfRangeShare != 0.25 {
		t.Fatalf("first alarm recorded %+v, job %+v", f.Event, f.Job)
	}

	again, err := s.RecordDrift(ctx, driftEvent("g", 0.5), driftJob("g"), time.Hour)
	if err != nil || again.Recorded {
		t.Fatalf("alarm in the cool-down: %+v, %v; want nothing recorded", again, err)
	}

	// A zero cool-down: the job is still pending and stands for the drift.
	open, err := s.RecordDrift(ctx, driftEvent("g", 0.4), driftJob("g"), 0)
	if err != nil || open.Recorded || open.JobCreated || open.Job.ID != f.Job.ID {
		t.Fatalf("alarm with an open job: %+v, %v; want nothing recorded", open, err)
	}
	// Once the job is done, the next alarm out of the cool-down files
	// again.
	if _, ok, err := s.ClaimJob(ctx, "w"); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	if err := s.FinishJob(ctx, f.Job.ID, nil); err != nil {
		t.Fatal(err)
	}
	next, err := s.RecordDrift(ctx, driftEvent("g", 0.6), driftJob("g"), 0)
	if err != nil || !next.Recorded || !next.JobCreated || next.Job.ID == f.Job.ID ||
		*next.Event.JobID != next.Job.ID {
		t.Fatalf("alarm after the job: %+v, %v", next, err)
	}

	evs, err := s.DriftEvents(ctx, "g")
	if err != nil || len(evs) != 2 || evs[0].Statistic != 0.3 || evs[1].Statistic != 0.6 {
		t.Fatalf("events %+v, %v; want the first and the last alarm", evs, err)
	}
	if all, err := s.DriftEvents(ctx, ""); err != nil || len(all) != 2 {
		t.Fatalf("all events: %d, %v", len(all), err)
	}
	if _, err := s.RecordDrift(ctx, driftEvent("g", 1), driftJob("h"), 0); err == nil {
		t.Fatal("event and job of different groups accepted")
	}
}

// TestRecordDriftConcurrent: eight detectors raise the same alarm at once;
// one event and one job are recorded.
func TestRecordDriftConcurrent(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	recorded, created := 0, 0
	for range 8 {
		wg.Go(func() {
			f, err := s.RecordDrift(ctx, driftEvent("g", 0.3), driftJob("g"), time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if f.Recorded {
				recorded++
			}
			if f.JobCreated {
				created++
			}
		})
	}
	wg.Wait()
	if recorded != 1 || created != 1 {
		t.Fatalf("%d events and %d jobs recorded, want 1 and 1", recorded, created)
	}
	counts, err := s.JobCounts(ctx)
	if err != nil || counts[store.JobPending] != 1 {
		t.Fatalf("job counts %v, %v", counts, err)
	}
}
