package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

var alertT0 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

func saveAnomaly(t *testing.T, s *store.Store, series string, ts time.Time) {
	t.Helper()
	_, err := s.SaveResults(context.Background(), store.Results{
		Anomalies: []store.Anomaly{{SeriesKey: series, Group: "g", TS: ts, Value: []float64{1},
			Score: 5, PValue: 0.001, ModelVersion: 1}},
		Series: []store.SeriesUpdate{{Key: series, Name: series, Group: "g", LastTS: ts}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readNew reads the anomalies after the stored cursor and moves it.
func readNew(t *testing.T, s *store.Store) []store.NewAnomaly {
	t.Helper()
	var out []store.NewAnomaly
	err := s.InAlertTx(context.Background(), func(tx *store.AlertTx) error {
		ctx := context.Background()
		cur, ok, err := tx.LockCursor(ctx, "incidents")
		if err != nil || !ok {
			return errors.Join(err, errors.New("cursor not locked"))
		}
		var next store.AlertCursor
		out, next, err = tx.AnomaliesAfter(ctx, cur, 100)
		if err != nil {
			return err
		}
		return tx.SetCursor(ctx, "incidents", next)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAnomalyCursorWaitsForOlderTransactions: an anomaly whose id was taken
// by a transaction that commits after a later one is not passed over. A
// cursor on ids alone would read id 2, move past 1 and never see it.
func TestAnomalyCursorWaitsForOlderTransactions(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	slow, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx) //nolint:errcheck // committed below
	_, err = slow.Exec(ctx, `INSERT INTO anomalies (series_key, model_group, ts, value, score,
		p_value, model_version) VALUES ('slow', 'g', $1, '{1}', 5, 0.001, 1)`, alertT0)
	if err != nil {
		t.Fatal(err)
	}
	saveAnomaly(t, s, "fast", alertT0) // takes id 2 and commits first

	if got := readNew(t, s); len(got) != 0 {
		t.Fatalf("read %d anomalies while an older writer was open, want 0", len(got))
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Other tests' transactions on the server may hold the horizon back
	// between the two; read until both came.
	var got []store.NewAnomaly
	for deadline := time.Now().Add(10 * time.Second); len(got) < 2 &&
		time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = append(got, readNew(t, s)...)
	}
	if len(got) != 2 || got[0].SeriesKey != "slow" || got[1].SeriesKey != "fast" ||
		got[0].ID >= got[1].ID {
		t.Fatalf("after the commit read %+v; want slow, then fast with a larger id", got)
	}
	if again := readNew(t, s); len(again) != 0 {
		t.Fatalf("cursor did not move: read %d again", len(again))
	}
}

// TestAlertCursorIsExclusive: while one transaction holds the cursor, a
// second one is told so at once instead of waiting.
func TestAlertCursorIsExclusive(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	inner := make(chan bool)
	err := s.InAlertTx(ctx, func(tx *store.AlertTx) error {
		if _, ok, err := tx.LockCursor(ctx, "incidents"); err != nil || !ok {
			return errors.Join(err, errors.New("first lock failed"))
		}
		go func() {
			_ = s.InAlertTx(ctx, func(tx2 *store.AlertTx) error {
				_, ok, err := tx2.LockCursor(ctx, "incidents")
				inner <- ok || err != nil
				return err
			})
		}()
		select {
		case busy := <-inner:
			if busy {
				t.Error("second transaction got the locked cursor")
			}
		case <-time.After(10 * time.Second):
			t.Error("second transaction waited for the lock")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func queueOne(t *testing.T, s *store.Store, series, msgID string, incident *int64) {
	t.Helper()
	ctx := context.Background()
	err := s.InAlertTx(ctx, func(tx *store.AlertTx) error {
		if *incident == 0 {
			inc := store.Incident{SeriesKey: series, ModelGroup: "g", State: "open",
				Severity: "warning", FirstTS: alertT0, LastTS: alertT0, Points: 1,
				MinPValue: 0.001, MaxScore: 5, Revision: 1, OpenedAt: time.Now(),
				UpdatedAt: time.Now()}
			if err := tx.InsertIncident(ctx, &inc); err != nil {
				return err
			}
			*incident = inc.ID
		}
		return tx.QueueAlert(ctx, store.OutboxMessage{MessageID: msgID, IncidentID: *incident,
			Sink: "hook", Kind: "open", Payload: []byte(`{}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func claimIDs(t *testing.T, s *store.Store, lease time.Duration) []string {
	t.Helper()
	ms, err := s.ClaimAlerts(context.Background(), "hook", 10, lease)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.MessageID)
	}
	return ids
}

// TestClaimAlertsOrderAndLease: a message waits for the earlier messages
// of its incident, claimed messages are hidden for the lease, and a
// retried message counts its attempt.
func TestClaimAlertsOrderAndLease(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	var a, b int64
	queueOne(t, s, "a", "a-1", &a)
	queueOne(t, s, "a", "a-2", &a)
	queueOne(t, s, "b", "b-1", &b)
	queueOne(t, s, "a", "a-1", &a) // queued twice: kept once

	got := claimIDs(t, s, time.Hour)
	if len(got) != 2 || got[0] != "a-1" || got[1] != "b-1" {
		t.Fatalf("first claim = %v, want [a-1 b-1] (a-2 waits for a-1)", got)
	}
	if again := claimIDs(t, s, time.Hour); len(again) != 0 {
		t.Fatalf("claimed %v while leased", again)
	}
	all, err := s.ListAlerts(ctx, "hook")
	if err != nil || len(all) != 3 {
		t.Fatalf("ListAlerts = %d rows, %v; want 3", len(all), err)
	}
	byID := map[string]int64{}
	for _, m := range all {
		byID[m.MessageID] = m.ID
	}
	if err := s.RetryAlert(ctx, byID["a-1"], 0, "503"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkAlertsSent(ctx, []int64{byID["b-1"]}); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, s, time.Hour); len(got) != 1 || got[0] != "a-1" {
		t.Fatalf("after retry: claim = %v, want [a-1]", got)
	}
	if err := s.MarkAlertsSent(ctx, []int64{byID["a-1"]}); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, s, time.Hour); len(got) != 1 || got[0] != "a-2" {
		t.Fatalf("after a-1 sent: claim = %v, want [a-2]", got)
	}
	if err := s.MarkAlertDead(ctx, byID["a-2"], "410 Gone"); err != nil {
		t.Fatal(err)
	}
	all, _ = s.ListAlerts(ctx, "hook")
	want := map[string]struct {
		state    string
		attempts int
	}{"a-1": {"sent", 2}, "a-2": {"dead", 1}, "b-1": {"sent", 1}}
	for _, m := range all {
		w := want[m.MessageID]
		if m.State != w.state || m.Attempts != w.attempts {
			t.Errorf("%s: %s after %d attempts, want %s after %d", m.MessageID, m.State,
				m.Attempts, w.state, w.attempts)
		}
	}
	pending, err := s.PendingAlerts(ctx)
	if err != nil || len(pending) != 0 {
		t.Errorf("PendingAlerts = %v, %v; want none", pending, err)
	}
}

// TestExpiryCandidates: an open incident is not offered for expiry while
// an anomaly within the gap waits beyond the cursor.
func TestExpiryCandidates(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	saveAnomaly(t, s, "x", alertT0)
	// Transactions anywhere on the server hold the read horizon back for a
	// moment; poll until the anomaly is readable.
	var cur store.AlertCursor
	for deadline := time.Now().Add(10 * time.Second); cur.AnomalyID == 0; {
		if time.Now().After(deadline) {
			t.Fatal("anomaly not readable within 10 s")
		}
		err := s.InAlertTx(ctx, func(tx *store.AlertTx) error {
			c, _, err := tx.LockCursor(ctx, "incidents")
			if err != nil {
				return err
			}
			_, cur, err = tx.AnomaliesAfter(ctx, c, 100)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := s.InAlertTx(ctx, func(tx *store.AlertTx) error {
		inc := store.Incident{SeriesKey: "x", ModelGroup: "g", State: "open",
			Severity: "warning", FirstTS: alertT0, LastTS: alertT0, Points: 1,
			MinPValue: 0.001, MaxScore: 5, Revision: 1, OpenedAt: time.Now(),
			UpdatedAt: time.Now()}
		return tx.InsertIncident(ctx, &inc)
	})
	if err != nil {
		t.Fatal(err)
	}
	candidates := func() []store.Incident {
		var out []store.Incident
		err := s.InAlertTx(ctx, func(tx *store.AlertTx) error {
			var err error
			out, err = tx.ExpiryCandidates(ctx, cur, 5*time.Minute)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if c := candidates(); len(c) != 1 || c[0].SeriesTime == nil || !c[0].SeriesTime.Equal(alertT0) {
		t.Fatalf("candidates = %+v; want the incident with series time t0", c)
	}
	saveAnomaly(t, s, "x", alertT0.Add(4*time.Minute)) // within the gap, not read yet
	if c := candidates(); len(c) != 0 {
		t.Fatalf("candidates = %+v with an anomaly waiting within the gap; want none", c)
	}
}

// BenchmarkClaimAlertsBacklog claims one message from a backlog of 4000
// (open and resolve of 2000 incidents), as a worker probing a sink that is
// down does. A zero lease leaves the message due, so every iteration sees
// the same backlog.
func BenchmarkClaimAlertsBacklog(b *testing.B) {
	ctx := context.Background()
	s := pgtest.NewStore(b)
	err := s.InAlertTx(ctx, func(tx *store.AlertTx) error {
		for i := range 2000 {
			inc := store.Incident{SeriesKey: fmt.Sprint("s", i), ModelGroup: "g",
				State: "resolved", Severity: "warning", FirstTS: alertT0, LastTS: alertT0,
				Points: 1, MinPValue: 0.001, MaxScore: 5, Revision: 2, OpenedAt: alertT0,
				UpdatedAt: alertT0}
			if err := tx.InsertIncident(ctx, &inc); err != nil {
				return err
			}
			for _, kind := range []string{"open", "resolve"} {
				err := tx.QueueAlert(ctx, store.OutboxMessage{MessageID: fmt.Sprint(inc.ID, kind),
					IncidentID: inc.ID, Sink: "hook", Kind: kind, Payload: []byte(`{}`)})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ms, err := s.ClaimAlerts(ctx, "hook", 1, 0)
		if err != nil || len(ms) != 1 {
			b.Fatalf("claimed %d, %v; want 1", len(ms), err)
		}
	}
}

// TestAlertCursorStartsAfterHistory: anomalies stored before the alerts
// migration are not turned into alerts; later ones are.
func TestAlertCursorStartsAfterHistory(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	if err := s.MigrateDownTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	_, err := s.Pool().Exec(ctx, `INSERT INTO anomalies (series_key, model_group, ts, value,
		score, p_value, model_version) VALUES ('old', 'g', $1, '{1}', 5, 0.001, 1)`, alertT0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	saveAnomaly(t, s, "new", alertT0)
	var got []store.NewAnomaly
	for deadline := time.Now().Add(10 * time.Second); len(got) == 0 &&
		time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = readNew(t, s) // see TestExpiryCandidates on the horizon
	}
	if len(got) != 1 || got[0].SeriesKey != "new" {
		t.Fatalf("read %+v; want only the anomaly stored after the migration", got)
	}
}

// TestConcurrentAlertClaims: workers claiming at the same time never get
// the same message while its lease holds.
func TestConcurrentAlertClaims(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewStore(t)
	const n = 200
	err := s.InAlertTx(ctx, func(tx *store.AlertTx) error {
		for i := range n {
			inc := store.Incident{SeriesKey: fmt.Sprint("s", i), ModelGroup: "g",
				State: "open", Severity: "warning", FirstTS: alertT0, LastTS: alertT0,
				Points: 1, MinPValue: 0.001, MaxScore: 5, Revision: 1, OpenedAt: alertT0,
				UpdatedAt: alertT0}
			if err := tx.InsertIncident(ctx, &inc); err != nil {
				return err
			}
			err := tx.QueueAlert(ctx, store.OutboxMessage{MessageID: fmt.Sprint(inc.ID),
				IncidentID: inc.ID, Sink: "hook", Kind: "open", Payload: []byte(`{}`)})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	claims := make(chan string, 2*n)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				ms, err := s.ClaimAlerts(ctx, "hook", 3, time.Hour)
				if err != nil || len(ms) == 0 {
					errs <- err
					return
				}
				for _, m := range ms {
					claims <- m.MessageID
				}
			}
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(claims)
	seen := map[string]int{}
	for id := range claims {
		seen[id]++
		if seen[id] > 1 {
			t.Errorf("message %s claimed twice", id)
		}
	}
	if len(seen) != n {
		t.Errorf("%d messages claimed, want %d", len(seen), n)
	}
}
