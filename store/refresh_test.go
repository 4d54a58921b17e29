package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

func TestFileJobCooled(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	to := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	from := to.Add(-time.Hour)
	req := store.JobRequest{Group: "g", Reason: store.ReasonRefresh, From: &from, To: &to}

	f, err := s.FileJobCooled(ctx, req, time.Hour)
	if err != nil || !f.Created || f.CoolDown != 0 || f.Job.Reason != store.ReasonRefresh ||
		!f.Job.To.Equal(to) || !f.Job.From.Equal(from) {
		t.Fatalf("first filing %+v, %v; want a refresh job over the range", f, err)
	}
	first := f.Job

	// Unfinished: returned as it is, whatever the cool-down.
	for _, cd := range []time.Duration{0, time.Hour} {
		f, err = s.FileJobCooled(ctx, req, cd)
		if err != nil || f.Created || f.CoolDown != 0 || f.Job.ID != first.ID {
			t.Fatalf("cool-down %v with an open job: %+v, %v; want job %d", cd, f, err,
				first.ID)
		}
	}

	// Finished a moment ago: an hour's cool-down holds, with under an
	// hour left; none files at once.
	if _, ok, err := s.ClaimJob(ctx, "t"); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	if err := s.FinishJob(ctx, first.ID, nil); err != nil {
		t.Fatal(err)
	}
	f, err = s.FileJobCooled(ctx, req, time.Hour)
	if err != nil || f.Created || f.Job.ID != first.ID || f.Job.State != store.JobDone ||
		!(f.CoolDown > 59*time.Minute && f.CoolDown <= time.Hour) {
		t.Fatalf("in the cool-down: %+v, %v; want job %d done and under 1h left", f, err,
			first.ID)
	}
	// Another group is not held by g's cool-down.
	other := req
	other.Group = "h"
	if f, err := s.FileJobCooled(ctx, other, time.Hour); err != nil || !f.Created {
		t.Fatalf("group h: %+v, %v; want filed", f, err)
	}
	f, err = s.FileJobCooled(ctx, req, 0)
	if err != nil || !f.Created || f.Job.ID == first.ID || f.CoolDown != 0 {
		t.Fatalf("no cool-down: %+v, %v; want a new job", f, err)
	}
	if _, err := s.FileJobCooled(ctx, store.JobRequest{Reason: store.ReasonRefresh},
		0); err == nil {
		t.Fatal("empty group filed")
	}
}

// TestRefreshMigration takes the schema down below 00003 and up again:
// the narrower check refuses refresh jobs and those stored become drift
// jobs, which the trainer treats alike.
func TestRefreshMigration(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	refresh := store.JobRequest{Group: "g", Reason: store.ReasonRefresh}
	job, created, err := s.FileJob(ctx, refresh)
	if err != nil || !created {
		t.Fatalf("file refresh: %v, %v", created, err)
	}
	if err := s.MigrateDownTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Job(ctx, job.ID); err != nil || j.Reason != store.ReasonDrift {
		t.Fatalf("after down: job %+v, %v; want reason drift", j, err)
	}
	if _, _, err := s.FileJob(ctx, store.JobRequest{Group: "h",
		Reason: store.ReasonRefresh}); err == nil {
		t.Fatal("a refresh job was accepted below 00003")
	}
	if v, err := s.Migrate(ctx); err != nil || v < 3 {
		t.Fatalf("up again: version %d, %v", v, err)
	}
	if _, created, err := s.FileJob(ctx, store.JobRequest{Group: "h",
		Reason: store.ReasonRefresh}); err != nil || !created {
		t.Fatalf("refresh after up: %v, %v", created, err)
	}
}
