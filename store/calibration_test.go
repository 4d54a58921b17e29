package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

func TestLiveCalibrationRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	if got, err := s.LiveCalibration(ctx, "g", 1); err != nil || got != nil {
		t.Fatalf("nothing saved: %v, %v; want nil, nil", got, err)
	}
	scores := []float64{3.5, -1.25, 1e300, 0.1}
	save := func(version int, scores []float64) {
		t.Helper()
		r := store.Results{Calibrations: []store.LiveCalibration{
			{Group: "g", Version: version, Scores: scores},
			{Group: "h", Version: 7, Scores: []float64{2}},
		}}
		if n, err := s.SaveResults(ctx, r); err != nil || n != 0 {
			t.Fatalf("save: %d anomalies, %v", n, err)
		}
	}
	save(1, scores)
	got, err := s.LiveCalibration(ctx, "g", 1)
	if err != nil || !slices.Equal(got, scores) {
		t.Fatalf("read back %v (%v), want %v in order", got, err, scores)
	}
	if got, err := s.LiveCalibration(ctx, "h", 7); err != nil || !slices.Equal(got, []float64{2}) {
		t.Fatalf("group h: %v (%v)", got, err)
	}
	// Another version's scores are not this one's.
	if got, err := s.LiveCalibration(ctx, "g", 2); err != nil || got != nil {
		t.Fatalf("version 2 before it saved: %v, %v", got, err)
	}
	// A new champion's save replaces the group's row; none is a state.
	save(2, nil)
	if got, err := s.LiveCalibration(ctx, "g", 2); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("version 2 saved empty: %v, %v; want an empty slice", got, err)
	}
	if got, err := s.LiveCalibration(ctx, "g", 1); err != nil || got != nil {
		t.Fatalf("version 1 after version 2 saved: %v, %v; want nil", got, err)
	}
}

func TestSeriesLastSteps(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	_, err := s.SaveResults(ctx, store.Results{Series: []store.SeriesUpdate{
		{Key: "a{}", Name: "a", Group: "g", LastTS: t0},
		{Key: "b{}", Name: "b", Group: "g"}, // no step yet
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SeriesLastSteps(ctx, []string{"a{}", "b{}", "c{}"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got["a{}"].Equal(t0) {
		t.Fatalf("last steps %v, want only a{} at %v", got, t0)
	}
}
