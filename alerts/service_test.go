package alerts

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

func summary(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%s %s %s %s %d", m.Series, m.Kind, m.Severity, m.Status, m.Points)
	}
	return out
}

// TestServiceLifecycle follows two incidents from anomaly rows to
// delivered messages: one resolved by its series' time moving past the gap,
// one by its series going silent.
func TestServiceLifecycle(t *testing.T) {
	s := pgtest.NewStore(t)
	cfg := fastConfig("rec")
	cfg.SilentResolve = 2 * time.Second
	cfg.DashboardURL = "http://dash.example/"
	rec := &recorder{name: "rec"}
	reg := prometheus.NewRegistry()
	svc, err := NewWithSinks(s, cfg, testLogger(t), reg, rec)
	if err != nil {
		t.Fatal(err)
	}
	start(t, svc)

	save(t, s, point("cpu.a", t0, 0.01), point("cpu.a", t0.Add(time.Minute), 1e-5),
		point("cpu.b", t0, 0.02))
	waitFor(t, 10*time.Second, "three messages", func() (bool, error) {
		return len(rec.received()) >= 3, nil
	})
	advance(t, s, "cpu.a", t0.Add(10*time.Minute))
	waitFor(t, 10*time.Second, "both resolves", func() (bool, error) {
		return len(rec.received()) >= 5, nil
	})
	time.Sleep(100 * time.Millisecond) // a sixth message would show up by now

	got := rec.received()
	byIncident := map[string][]Message{}
	for _, m := range got {
		byIncident[m.Series] = append(byIncident[m.Series], m)
	}
	wantA := []string{"cpu.a open warning firing 1", "cpu.a update critical firing 2",
		"cpu.a resolve critical resolved 2"}
	wantB := []string{"cpu.b open warning firing 1", "cpu.b resolve warning resolved 1"}
	if !slices.Equal(summary(byIncident["cpu.a"]), wantA) ||
		!slices.Equal(summary(byIncident["cpu.b"]), wantB) || len(got) != 5 {
		t.Fatalf("messages:\n%q\nwant cpu.a %q\nand cpu.b %q", summary(got), wantA, wantB)
	}
	for _, ms := range byIncident {
		for i, m := range ms {
			if m.ID != MessageID(m.IncidentID, i+1) || m.Revision != i+1 {
				t.Errorf("message %d of incident %d has id %q, revision %d", i, m.IncidentID,
					m.ID, m.Revision)
			}
		}
	}
	a := byIncident["cpu.a"][2]
	if a.PValue != 1e-5 || a.Score != 7.25 || a.ModelVersion != 3 ||
		a.DashboardURL != "http://dash.example/series?key=cpu.a" || a.ResolvedAt == nil ||
		!a.FirstTS.Equal(t0) || !a.LastTS.Equal(t0.Add(time.Minute)) {
		t.Errorf("resolve of cpu.a = %+v", a)
	}
	if n := metricValue(svc.m.sent.WithLabelValues("rec")); n != 5 {
		t.Errorf("sent_total = %v, want 5", n)
	}
	if n := metricValue(svc.m.incidents.WithLabelValues("open")); n != 2 {
		t.Errorf("incident_changes_total{kind=open} = %v, want 2", n)
	}
	open, err := s.OpenIncidents(context.Background())
	if err != nil || len(open) != 0 {
		t.Errorf("open incidents at the end = %v, %v; want none", open, err)
	}
	waitFor(t, 5*time.Second, "outbox depth gauge at 0", func() (bool, error) {
		return metricValue(svc.m.depth.WithLabelValues("rec")) == 0, nil
	})
}

// TestTwoServicesShareTheWork runs two detectors' alert services on one
// database while anomalies arrive: every anomaly lands in exactly one
// incident and every message is delivered once, by one of them.
func TestTwoServicesShareTheWork(t *testing.T) {
	s := pgtest.NewStore(t)
	cfg := fastConfig("rec")
	cfg.Batch = 7 // many small transactions, so the two interleave
	recs := []*recorder{{name: "rec"}, {name: "rec"}}
	for _, r := range recs {
		svc, err := NewWithSinks(s, cfg, testLogger(t), nil, r)
		if err != nil {
			t.Fatal(err)
		}
		start(t, svc)
	}

	const series, points = 20, 10
	var wg sync.WaitGroup
	for w := range 4 { // four writers, like four partitions
		wg.Go(func() {
			for i := range points {
				var batch []store.Anomaly
				for k := w; k < series; k += 4 {
					ts := t0.Add(time.Duration(i) * time.Minute)
					batch = append(batch, point(fmt.Sprintf("s%02d", k), ts, 0.01))
				}
				save(t, s, batch...)
			}
		})
	}
	wg.Wait()
	for k := range series {
		advance(t, s, fmt.Sprintf("s%02d", k), t0.Add(time.Hour))
	}

	count := func() int { return len(recs[0].received()) + len(recs[1].received()) }
	waitFor(t, 20*time.Second, "40 messages", func() (bool, error) {
		return count() >= 2*series, nil
	})
	time.Sleep(200 * time.Millisecond)
	all := append(recs[0].received(), recs[1].received()...)
	seen := map[string]int{}
	pointsOf := map[int64]int{}
	for _, m := range all {
		seen[m.ID]++
		if m.Kind == KindResolve {
			pointsOf[m.IncidentID] += m.Points
		}
	}
	if len(all) != 2*series || len(seen) != 2*series {
		t.Fatalf("%d messages with %d distinct ids, want %d of each", len(all), len(seen),
			2*series)
	}
	total := 0
	for id, n := range pointsOf {
		if n != points {
			t.Errorf("incident %d has %d points, want %d", id, n, points)
		}
		total += n
	}
	if len(pointsOf) != series || total != series*points {
		t.Errorf("%d incidents with %d points, want %d with %d", len(pointsOf), total,
			series, series*points)
	}
	t.Logf("service 1 delivered %d, service 2 delivered %d", len(recs[0].received()),
		len(recs[1].received()))
}

// TestDeadAfterMaxAttempts: a sink that keeps failing gets max_attempts
// tries, then the message is dead; a permanent refusal is dead at once.
func TestDeadAfterMaxAttempts(t *testing.T) {
	s := pgtest.NewStore(t)
	cfg := fastConfig("down", "refuses")
	cfg.MaxAttempts = 3
	down := &recorder{name: "down", fail: func(*Message) error { return errDown }}
	refuses := &recorder{name: "refuses", fail: func(*Message) error {
		return fmt.Errorf("%w: 400 Bad Request", ErrPermanent)
	}}
	svc, err := NewWithSinks(s, cfg, testLogger(t), nil, down, refuses)
	if err != nil {
		t.Fatal(err)
	}
	start(t, svc)
	save(t, s, point("x", t0, 0.01))

	for sink, attempts := range map[string]int{"down": 3, "refuses": 1} {
		waitFor(t, 10*time.Second, sink+" message dead", func() (bool, error) {
			ms, err := s.ListAlerts(context.Background(), sink)
			return len(ms) == 1 && ms[0].State == "dead", err
		})
		ms, _ := s.ListAlerts(context.Background(), sink)
		if ms[0].Attempts != attempts || ms[0].LastError == "" {
			t.Errorf("%s: attempts = %d, last error %q; want %d and the error", sink,
				ms[0].Attempts, ms[0].LastError, attempts)
		}
	}
	if n := metricValue(svc.m.dead.WithLabelValues("down")); n != 1 {
		t.Errorf("dead_total{sink=down} = %v, want 1", n)
	}
	if n := metricValue(svc.m.retried.WithLabelValues("down")); n != 2 {
		t.Errorf("retried_total{sink=down} = %v, want 2", n)
	}
	if n := metricValue(svc.m.failed.WithLabelValues("down")); n != 3 {
		t.Errorf("failed_total{sink=down} = %v, want 3", n)
	}
}

func TestBackoff(t *testing.T) {
	cfg := fastConfig()
	cfg.BackoffBase, cfg.BackoffMax = time.Second, 30*time.Second
	svc := &Service{cfg: cfg}
	for attempts, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second,
		3: 4 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 80: 30 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := svc.backoff(attempts)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempts, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Errorf("backoff(%d): %d distinct waits in 200 draws; want jitter", attempts,
				len(seen))
		}
	}
}

func TestNewRejectsUnknownSinkInRoute(t *testing.T) {
	cfg := fastConfig("log", "pagerduty")
	if _, err := New(nil, cfg, nil, nil); err == nil {
		t.Fatal("New accepted a route to a sink that is not configured")
	}
	cfg.Routes = map[string][]string{"*": {"log"}}
	if _, err := New(nil, cfg, nil, nil); err != nil {
		t.Fatalf("New with the log sink: %v", err)
	}
}

// metricValue reads a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// TestRestartResumes: a new service picks up where a stopped one left
// off; anomalies read before the stop are not read again.
func TestRestartResumes(t *testing.T) {
	s := pgtest.NewStore(t)
	cfg := fastConfig("rec")
	rec := &recorder{name: "rec"}
	svc1, err := NewWithSinks(s, cfg, testLogger(t), nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, svc1)
	save(t, s, point("r", t0, 0.01), point("r", t0.Add(time.Minute), 0.01),
		point("r", t0.Add(2*time.Minute), 0.01))
	waitFor(t, 10*time.Second, "open", func() (bool, error) {
		return len(rec.received()) == 1, nil
	})
	stop()

	save(t, s, point("r", t0.Add(3*time.Minute), 0.01), point("r", t0.Add(4*time.Minute), 0.01))
	svc2, err := NewWithSinks(s, cfg, testLogger(t), nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	start(t, svc2)
	advance(t, s, "r", t0.Add(time.Hour))
	waitFor(t, 10*time.Second, "resolve", func() (bool, error) {
		return len(rec.received()) == 2, nil
	})
	time.Sleep(100 * time.Millisecond)
	got := rec.received()
	if len(got) != 2 || got[1].Kind != KindResolve || got[1].Points != 5 ||
		got[0].IncidentID != got[1].IncidentID {
		t.Fatalf("messages %q; want one incident opened, then resolved with 5 points",
			summary(got))
	}
}

// TestRunOpensAcrossBatches: the run test sees weak anomalies read in
// earlier transactions, rebuilt from the table.
func TestRunOpensAcrossBatches(t *testing.T) {
	s := pgtest.NewStore(t)
	cfg := fastConfig("rec")
	cfg.OpenPValue, cfg.RunLength, cfg.RunPValue = 1e-3, 3, 1e-4
	rec := &recorder{name: "rec"}
	svc, err := NewWithSinks(s, cfg, testLogger(t), nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	start(t, svc)
	weak := svc.m.suppressed.WithLabelValues(reasonWeak)
	for i := range 2 {
		save(t, s, point("w", t0.Add(time.Duration(i)*time.Minute), 0.005))
		waitFor(t, 10*time.Second, "weak anomaly read", func() (bool, error) {
			return metricValue(weak) == float64(i+1), nil
		})
	}
	save(t, s, point("w", t0.Add(2*time.Minute), 0.005))
	waitFor(t, 10*time.Second, "open", func() (bool, error) {
		return len(rec.received()) == 1, nil
	})
	m := rec.received()[0]
	if m.Kind != KindOpen || m.Points != 3 || !m.FirstTS.Equal(t0) || m.PValue != 0.005 {
		t.Errorf("open = %+v; want 3 points from t0", m)
	}
}
