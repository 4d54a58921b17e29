package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

func ptr(v float64) *float64 { return &v }

func TestSaveResultsIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	batch := store.Results{
		Anomalies: []store.Anomaly{
			{SeriesKey: "cpu{}", Group: "g", TS: t0, Value: []float64{9.5}, Score: 12,
				PValue: 0.0004, ModelVersion: 3, Explanation: []float64{0.1, 12},
				Topic: "samples", Partition: 2, Offset: 41},
			{SeriesKey: "cpu{}", Group: "g", TS: t0.Add(time.Minute), Value: []float64{1, 2},
				Score: 8, PValue: 0.002, ModelVersion: 3},
		},
		Series: []store.SeriesUpdate{{Key: "cpu{}", Name: "cpu", Group: "g",
			LastTS: t0.Add(time.Minute), LastScore: ptr(8), LastPValue: ptr(0.002)}},
	}
	for i, want := range []int64{2, 0} {
		n, err := s.SaveResults(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("write %d inserted %d, want %d", i+1, n, want)
		}
	}
	got, err := s.ListAnomalies(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d anomalies, want 2", len(got))
	}
	a := got[0]
	if !a.TS.Equal(t0) || a.Value[0] != 9.5 || a.Score != 12 || a.PValue != 0.0004 ||
		a.ModelVersion != 3 || len(a.Explanation) != 2 || a.Explanation[1] != 12 ||
		a.Topic != "samples" || a.Partition != 2 || a.Offset != 41 {
		t.Fatalf("first anomaly read back as %+v", a)
	}
	if len(got[1].Value) != 2 || len(got[1].Explanation) != 0 {
		t.Fatalf("second anomaly read back as %+v", got[1])
	}

	// An older update (a replay) must not roll the series back.
	old := store.Results{Series: []store.SeriesUpdate{{Key: "cpu{}", Name: "cpu",
		Group: "g", LastTS: t0, LastScore: ptr(1), LastPValue: ptr(0.5)}}}
	if _, err := s.SaveResults(ctx, old); err != nil {
		t.Fatal(err)
	}
	sum, err := s.SeriesByKey(ctx, "cpu{}")
	if err != nil {
		t.Fatal(err)
	}
	if !sum.LastTS.Equal(t0.Add(time.Minute)) || *sum.LastScore != 8 || *sum.LastPValue != 0.002 {
		t.Fatalf("series after an older update: ts %v score %v p %v", sum.LastTS,
			*sum.LastScore, *sum.LastPValue)
	}
}

func TestSaveResultsSeriesWithoutScore(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	up := store.Results{Series: []store.SeriesUpdate{
		{Key: `m{"a"="1"}`, Name: "m", Labels: map[string]string{"a": "1"}, Group: "d"},
		{Key: `m{"a"="1"}`, Name: "m", Labels: map[string]string{"a": "1"}, Group: "d"},
	}}
	if _, err := s.SaveResults(ctx, up); err != nil {
		t.Fatal(err)
	}
	sum, err := s.SeriesByKey(ctx, `m{"a"="1"}`)
	if err != nil {
		t.Fatal(err)
	}
	if sum.LastTS != nil || sum.LastScore != nil || string(sum.Labels) != `{"a": "1"}` {
		t.Fatalf("unscored series stored as %+v (labels %s)", sum, sum.Labels)
	}
}
