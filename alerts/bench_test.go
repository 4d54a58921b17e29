package alerts

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

// BenchmarkGrouperAdd measures the grouping rules alone, per anomaly.
func BenchmarkGrouperAdd(b *testing.B) {
	for _, bc := range []struct {
		name string
		step time.Duration // series time between anomalies of the series
	}{{"run", time.Minute}, {"isolated", time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := config.DefaultAlerts()
			cfg.SeriesRateLimit, cfg.GlobalRateLimit = 0, 0
			g := &grouper{cfg: cfg}
			st := &seriesState{}
			a := store.NewAnomaly{Anomaly: store.Anomaly{SeriesKey: "s", Group: "g",
				Value: []float64{1}, Score: 9, PValue: 0.001}}
			now := t0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a.TS = t0.Add(time.Duration(i) * bc.step)
				g.add(st, a, now)
				i++
			}
		})
	}
}

// BenchmarkBuild measures one build transaction over 500 new anomalies of
// 50 series (10 points each, one incident per series) routed to one sink:
// reading, grouping, writing incidents and the outbox, moving the cursor.
// It reports the time per anomaly.
func BenchmarkBuild(b *testing.B) {
	const series, perSeries = 50, 10
	s := pgtest.NewStore(b)
	cfg := fastConfig("rec")
	svc, err := NewWithSinks(s, cfg, nil, nil, &recorder{name: "rec"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	round := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var as []store.Anomaly
		for k := range series {
			for i := range perSeries {
				ts := t0.Add(time.Duration(round*100+i) * time.Minute)
				as = append(as, point(fmt.Sprintf("s%02d", k), ts, 0.001))
			}
		}
		save(b, s, as...)
		round++
		b.StartTimer()
		for n := 0; n < len(as); {
			got, err := svc.buildOnce(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += got
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*series*perSeries),
		"ns/anomaly")
}

// BenchmarkScoringWrites measures the detector's write path (SaveResults
// of 20 series updates and one anomaly per batch) with no alerts service,
// with one delivering to a webhook that answers, and with one whose webhook
// is down. The three should match: alerts never sit in the write path.
// Allocations count the whole process, the alerts goroutines included.
func BenchmarkScoringWrites(b *testing.B) {
	for _, mode := range []string{"alerts-off", "webhook-up", "webhook-down"} {
		b.Run(mode, func(b *testing.B) {
			s := pgtest.NewStore(b)
			if mode != "alerts-off" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter,
					_ *http.Request) {
					w.WriteHeader(http.StatusNoContent)
				}))
				defer srv.Close()
				cfg := config.DefaultAlerts() // the production poll and backoff
				cfg.Routes = map[string][]string{"*": {SinkWebhook}}
				cfg.Webhook.URL = srv.URL
				if mode == "webhook-down" {
					cfg.Webhook.URL = "http://" + freeAddr(b)
				}
				svc, err := New(s, cfg, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- svc.Run(ctx) }()
				defer func() { cancel(); <-done }()
			}
			load := &scoringLoad{s: s, nSeries: 20}
			b.ReportAllocs()
			for b.Loop() {
				load.batch(b)
			}
		})
	}
}
