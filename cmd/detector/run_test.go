package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// syncBuffer is a log sink the test reads while the detector writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// await polls fn every 50ms until it returns true or timeout passes.
func await(t *testing.T, timeout time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logValue returns the value of key in the first log line holding msg.
func logValue(log, msg, key string) string {
	re := regexp.MustCompile(`msg="?` + regexp.QuoteMeta(msg) + `"?.* ` + key + `=(\S+)`)
	if m := re.FindStringSubmatch(log); m != nil {
		return m[1]
	}
	return ""
}

// series makes a one-minute AR(1) series around 20 with spikes of +8 at
// the given indices.
func series(seed uint64, n int, spikes ...int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, n)
	v := 0.0
	for i := range x {
		v = 0.8*v + rng.NormFloat64()
		x[i] = 20 + v
	}
	for _, i := range spikes {
		x[i] += 8
	}
	return x
}

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func samples(id timeseries.SeriesID, x []float64) []timeseries.Sample {
	out := make([]timeseries.Sample, len(x))
	for i, v := range x {
		out[i] = timeseries.Sample{Series: id, Time: t0.Add(time.Duration(i) * time.Minute),
			Values: []float64{v}}
	}
	return out
}

// publishModel trains a small flow on clean data and makes it the
// champion of the default group.
func publishModel(t *testing.T, dbURL string) {
	t.Helper()
	publish(t, dbURL, "default", trainModel(t))
}

// trainModel trains a small flow (W 8) on clean data and returns its file.
func trainModel(t *testing.T) []byte {
	t.Helper()
	ctx := context.Background()
	var train [][]timeseries.Sample
	for i := range 2 {
		id := timeseries.NewSeriesID("train", map[string]string{"i": strconv.Itoa(i)})
		train = append(train, samples(id, series(uint64(100+i), 600)))
	}
	m, err := scorer.Fit(ctx, train, scorer.Options{Group: "default", Window: 8, Seed: 1,
		Spec: flowmodel.Spec{Hidden: 16, Layers: 2}, Train: flowmodel.TrainOptions{Epochs: 15}})
	if err != nil {
		t.Fatal(err)
	}
	art, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return art
}

func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimPrefix(line, name+" "), 64)
			return v
		}
	}
	return 0
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRunEmbedded runs the detector with no brokers configured: it starts
// the in-process broker, scores JSON input with the registry's champion,
// stores the spikes as anomalies, turns them into incidents delivered to
// the log sink, serves its endpoints and the dashboard (behind the bearer
// token) and stops cleanly.
func TestRunEmbedded(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	publishModel(t, dbURL)
	env := envOf(map[string]string{"FLOWGUARD_DATABASE_URL": dbURL})
	args := []string{"run", "--kafka.embedded_addr=127.0.0.1:0", "--http.addr=127.0.0.1:0",
		"--kafka.partitions=2", "--scoring.window=8", "--scoring.max_fill=3",
		"--scoring.batch_wait=20ms", "--scoring.alpha=0.01", "--shutdown_timeout=6s",
		// Point flags only: the count below is about single spikes, and at
		// alpha 0.01 the run test also flags stretches where this small
		// model's p-values run low together.
		"--scoring.run=0",
		"--http.token=s3cret", "--alerts.poll=100ms"}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, args, io.Discard, &logs, env) }()

	var broker, httpAddr string
	await(t, 20*time.Second, "start-up", func() bool {
		broker = logValue(logs.String(), "in-process kafka broker started", "addr")
		httpAddr = logValue(logs.String(), "detector started", "http_addr")
		return broker != "" && httpAddr != ""
	})
	base := "http://" + httpAddr

	const n = 200
	spikes := map[string][]int{"a": {90, 150}, "b": {120}}
	var msgs []kafka.Message
	for name, sp := range spikes {
		id := timeseries.NewSeriesID("temp", map[string]string{"host": name})
		for _, s := range samples(id, series(uint64(len(name)+int(name[0])), n, sp...)) {
			msgs = append(msgs, kafka.Message{Key: []byte(id.Key()), Value: timeseries.Encode(&s)})
		}
	}
	msgs = append(msgs, kafka.Message{Value: []byte("garbage")})
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: "flowguard.input",
		Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	// Each series emits n-1 steps, of which the first 7 fill its window.
	want := float64(2 * (n - 1 - 7))
	await(t, 30*time.Second, "every point scored", func() bool {
		return metric(t, base, `flowguard_detector_points_scored_total{group="default"}`) >= want
	})
	scored := metric(t, base, `flowguard_detector_points_scored_total{group="default"}`)
	if got := scored; got != want {
		t.Errorf("points scored = %v, want %v", got, want)
	}
	if got := metric(t, base, `flowguard_ingest_decode_failures_total{reason="syntax"}`); got != 1 {
		t.Errorf("syntax decode failures = %v, want 1", got)
	}
	if got := metric(t, base, `flowguard_detector_model_version{group="default"}`); got != 1 {
		t.Errorf("model version gauge = %v, want 1", got)
	}
	if status(t, base+"/healthz") != http.StatusOK {
		t.Error("/healthz not OK")
	}
	await(t, 10*time.Second, "/readyz", func() bool { return status(t, base+"/readyz") == 200 })

	s := openStore(t, ctx, dbURL)
	defer s.Close()
	as, err := s.ListAnomalies(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	flagged := map[string]bool{}
	for _, a := range as {
		if a.ModelVersion != 1 || a.Group != "default" || len(a.Explanation) != 8 {
			t.Errorf("anomaly %+v", a)
		}
		flagged[fmt.Sprintf("%s@%d", a.SeriesKey, int(a.TS.Sub(t0)/time.Minute))] = true
	}
	for name, sp := range spikes {
		for _, i := range sp {
			key := fmt.Sprintf(`temp{"host"="%s"}@%d`, name, i)
			if !flagged[key] {
				t.Errorf("spike %s not flagged (flagged: %v)", key, flagged)
			}
		}
	}
	// The 3 spikes, the point after each (its window still holds the
	// spike, which throws the prediction off), and chance flags: at
	// alpha 0.01 about 4 of 384, and up to twice that with the level
	// test's Bonferroni share and a small model's calibration error.
	if len(as) > 20 {
		t.Errorf("%d anomalies among %v points at alpha 0.01; want the 3 spikes and few more",
			len(as), want)
	}

	// Alerts: every spike lies in an incident of its series, and the log
	// sink delivered the opens.
	for name, sp := range spikes {
		key := fmt.Sprintf(`temp{"host"="%s"}`, name)
		var incs []store.IncidentSummary
		await(t, 10*time.Second, "incidents of "+key, func() bool {
			incs, err = s.SeriesIncidents(ctx, key, 100)
			return err == nil && len(incs) >= len(sp)
		})
		for _, i := range sp {
			ts := t0.Add(time.Duration(i) * time.Minute)
			in := false
			for _, inc := range incs {
				in = in || (!ts.Before(inc.FirstTS) && !ts.After(inc.LastTS))
			}
			if !in {
				t.Errorf("spike %s@%d in no incident: %+v", key, i, incs)
			}
		}
	}
	await(t, 10*time.Second, "alerts sent to the log sink", func() bool {
		return metric(t, base, `flowguard_alerts_sent_total{sink="log"}`) >= 3
	})
	if !strings.Contains(logs.String(), "msg=\"alert open\"") {
		t.Error("no \"alert open\" line in the log")
	}

	// The dashboard shares the listener and wants the token; the metrics
	// and health checks do not.
	if got := status(t, base+"/"); got != http.StatusUnauthorized {
		t.Errorf("dashboard without token: status %d, want 401", got)
	}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "temp{") {
		t.Errorf("dashboard with token: status %d, page lacks the series:\n%.300s",
			resp.StatusCode, page)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("Run did not return within shutdown_timeout")
	}
}

// TestSIGTERMStopsCleanly runs the binary and stops it with SIGTERM: it
// must leave within shutdown_timeout with status 0.
func TestSIGTERMStopsCleanly(t *testing.T) {
	bin := detectorBinary(t)
	cmd := exec.Command(bin, "run", "--kafka.embedded_addr=127.0.0.1:0",
		"--http.addr=127.0.0.1:0", "--shutdown_timeout=4s")
	cmd.Env = append(os.Environ(), "FLOWGUARD_DATABASE_URL="+pgtest.NewDatabase(t))
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	await(t, 20*time.Second, "start-up", func() bool {
		return logValue(logs.String(), "detector started", "http_addr") != ""
	})
	// Let both stages join their groups before the signal.
	await(t, 10*time.Second, "stages started", func() bool {
		l := logs.String()
		return strings.Contains(l, "ingest started") && strings.Contains(l, "detector started")
	})
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running 5s after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "detector stopped") {
		t.Errorf("no clean stop in the log:\n%s", logs.String())
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// TestRunRefusesAnUnmigratedSchema: told not to migrate, the detector
// stops at start on a schema that lacks migrations, instead of reporting
// ready and failing its first write.
func TestRunRefusesAnUnmigratedSchema(t *testing.T) {
	env := envOf(map[string]string{"FLOWGUARD_DATABASE_URL": pgtest.NewDatabase(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	err := Run(ctx, []string{"run", "--database.migrate=false", "--http.addr", "127.0.0.1:0"},
		&out, &out, env)
	if err == nil || !strings.Contains(err.Error(), "the database schema lacks") ||
		!strings.Contains(err.Error(), "00001_core.sql") {
		t.Fatalf("run on an empty database without migrating: %v\n%s", err, out.String())
	}
}
