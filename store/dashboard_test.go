package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

const dashboardFixture = `
INSERT INTO series (key, name, model_group, last_seen, last_ts, last_score, last_p_value)
VALUES ('a', 'a', 'g1', '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z', 3.5, 0.2),
       ('b', 'b', 'g2', '2024-01-03T00:00:00Z', NULL, NULL, NULL);
INSERT INTO models (model_group, version, state, spec, artifact)
VALUES ('g1', 1, 'retired', '{}', '\x00'), ('g1', 2, 'champion', '{}', '\x00');
INSERT INTO anomalies (series_key, model_group, ts, value, score, p_value, model_version)
VALUES ('a', 'g1', '2024-01-01T01:00:00Z', '{1}', 9, 0.001, 2),
       ('a', 'g1', '2024-01-01T02:00:00Z', '{2}', 8, 0.002, 2),
       ('b', 'g2', '2024-01-01T02:00:00Z', '{5}', 7, 0.003, 1);
INSERT INTO incidents (series_key, model_group, state, first_ts, last_ts, min_p_value,
                       max_score, resolved_at)
VALUES ('a', 'g1', 'resolved', '2023-12-01T00:00:00Z', '2023-12-01T01:00:00Z', 0.01, 5,
        '2023-12-01T02:00:00Z'),
       ('a', 'g1', 'open', '2023-11-01T00:00:00Z', '2024-01-01T02:00:00Z', 0.001, 9, NULL);
INSERT INTO drift_events (model_group, model_version, detected_at, statistic, threshold,
                          window_size, reason)
VALUES ('g1', 1, '2024-01-01T00:00:00Z', 0.3, 0.1, 500, 'ks'),
       ('g1', 2, '2024-01-02T00:00:00Z', 0.4, 0.1, 500, 'ks');
`

func TestDashboardQueries(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	if _, err := s.Pool().Exec(ctx, dashboardFixture); err != nil {
		t.Fatal(err)
	}

	list, err := s.ListSeries(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != "b" || list[1].Key != "a" {
		t.Fatalf("ListSeries order = %+v, want b then a (newest last_seen first)", list)
	}
	if list[0].ModelVersion != nil || list[0].LastScore != nil {
		t.Errorf("series b: version %v score %v, want nil, nil", list[0].ModelVersion,
			list[0].LastScore)
	}
	if v := list[1].ModelVersion; v == nil || *v != 2 {
		t.Errorf("series a champion version = %v, want 2", v)
	}
	if one, _ := s.ListSeries(ctx, 1); len(one) != 1 {
		t.Errorf("ListSeries limit 1 returned %d rows", len(one))
	}

	a, err := s.SeriesByKey(ctx, "a")
	if err != nil || a.LastScore == nil || *a.LastScore != 3.5 || a.Group != "g1" {
		t.Fatalf("SeriesByKey(a) = %+v, %v", a, err)
	}
	if _, err := s.SeriesByKey(ctx, "nope"); !errors.Is(err, store.ErrNoSeries) {
		t.Fatalf("SeriesByKey(nope) error = %v, want ErrNoSeries", err)
	}

	pts, err := s.RecentAnomalies(ctx, "a", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || pts[0].Value[0] != 2 || pts[1].Score != 9 {
		t.Fatalf("RecentAnomalies(a) = %+v, want the two points of a, newest first", pts)
	}

	inc, err := s.SeriesIncidents(ctx, "a", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(inc) != 2 || inc[0].State != "open" || inc[1].ResolvedAt == nil {
		t.Fatalf("SeriesIncidents(a) = %+v, want the open one first", inc)
	}

	drift, err := s.RecentDriftEvents(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(drift) != 1 || drift[0].ModelVersion != 2 || drift[0].WindowSize != 500 {
		t.Fatalf("RecentDriftEvents(1) = %+v, want the v2 event", drift)
	}
}
