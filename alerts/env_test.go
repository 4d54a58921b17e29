package alerts

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/store"
)

// fastConfig is the default configuration with timings short enough for
// tests, routing every group to the named sinks.
func fastConfig(sinks ...string) config.Alerts {
	c := config.DefaultAlerts()
	c.Poll = 20 * time.Millisecond
	c.BackoffBase = 20 * time.Millisecond
	c.BackoffMax = 500 * time.Millisecond
	c.MaxAttempts = 1000
	c.SeriesRateLimit, c.GlobalRateLimit = 0, 0
	c.Routes = map[string][]string{"*": sinks}
	c.Webhook.Timeout = 2 * time.Second
	c.Alertmanager.Timeout = 2 * time.Second
	return c
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs svc until the test ends (or stop is called) and fails the test
// if Run returns an error.
func start(t *testing.T, svc *Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// point is a shorthand anomaly of group "g".
func point(series string, ts time.Time, p float64) store.Anomaly {
	return store.Anomaly{SeriesKey: series, Group: "g", TS: ts, Value: []float64{42.5},
		Score: 7.25, PValue: p, ModelVersion: 3}
}

// save writes anomalies through the detector's write path, moving each
// series' time to its newest anomaly.
func save(t testing.TB, s *store.Store, as ...store.Anomaly) {
	t.Helper()
	if _, err := s.SaveResults(context.Background(), results(as)); err != nil {
		t.Fatal(err)
	}
}

func results(as []store.Anomaly) store.Results {
	last := map[string]store.SeriesUpdate{}
	for _, a := range as {
		u := last[a.SeriesKey]
		if a.TS.After(u.LastTS) {
			last[a.SeriesKey] = store.SeriesUpdate{Key: a.SeriesKey, Name: a.SeriesKey,
				Group: a.Group, LastTS: a.TS}
		}
	}
	r := store.Results{Anomalies: as}
	for _, u := range last {
		r.Series = append(r.Series, u)
	}
	return r
}

// advance moves a series' time to ts as a normal scored point would.
func advance(t testing.TB, s *store.Store, series string, ts time.Time) {
	t.Helper()
	_, err := s.SaveResults(context.Background(), store.Results{Series: []store.SeriesUpdate{
		{Key: series, Name: series, Group: "g", LastTS: ts}}})
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recorder is a Sink that keeps what it receives and fails while fail
// says so.
type recorder struct {
	name string
	mu   sync.Mutex
	msgs []Message
	fail func(*Message) error
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Close() error { return nil }

func (r *recorder) Send(_ context.Context, m *Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(m); err != nil {
			return err
		}
	}
	r.msgs = append(r.msgs, *m)
	return nil
}

func (r *recorder) received() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

var errDown = errors.New("receiver down")
