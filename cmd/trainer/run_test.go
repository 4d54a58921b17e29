package main

import (
	"context"
	"log/slog"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// produceNAB writes the first n rows of the NAB machine temperature file to
// topic as canonical samples of series machine{}, stamped with their event
// times, as the detector's ingest stage would.
func produceNAB(t *testing.T, addr, topic string, n int) []timeseries.Sample {
	t.Helper()
	b, err := os.ReadFile(nabFile)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := timeseries.NewCSVDecoder(timeseries.CSVConfig{
		Series: timeseries.NewSeriesID("machine", nil)})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	ss = ss[:n]
	msgs := make([]kafka.Message, len(ss))
	for i := range ss {
		msgs[i] = kafka.Message{Key: ss[i].Series.AppendKey(nil),
			Value: timeseries.Encode(&ss[i]), Time: ss[i].Time}
	}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	return ss
}

// TestRunStartsAndStops checks the wiring of "trainer run": settings,
// store, metrics listener and worker start, and all stop when ctx ends.
func TestRunStartsAndStops(t *testing.T) {
	db := pgtest.NewDatabase(t)
	logs := startRun(t, db, "--kafka.brokers", "127.0.0.1:1", "--id", "t1",
		"--metrics_addr", "127.0.0.1:0", "--training.lookback", "48h")
	for _, want := range []string{"serving metrics", "trainer=t1", "trainer stopped",
		// Nothing listens on port 1: the trainer runs on, but says so.
		`level=WARN msg="cannot reach any kafka broker; retrain jobs will fail until one ` +
			`answers" brokers=[127.0.0.1:1]`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	var b strings.Builder
	err := Run(context.Background(), []string{"run"}, &b, &b, dbEnv(db))
	if err == nil || !strings.Contains(err.Error(), "kafka.brokers") {
		t.Errorf("run without brokers: %v", err)
	}
}

// startRun starts "trainer run" with args and the database db, waits
// until it has started, stops it, checks that it stopped cleanly within
// 10s and returns its logs.
func startRun(t *testing.T, db string, args ...string) string {
	t.Helper()
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	done := make(chan error, 1)
	logs := &syncWriter{}
	go func() { done <- Run(ctx, append([]string{"run"}, args...), logs, logs, dbEnv(db)) }()
	for !strings.Contains(logs.String(), "trainer started") {
		select {
		case err := <-done:
			t.Fatalf("trainer run returned %v before starting:\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("trainer run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("trainer run did not stop within 10s of its context ending")
	}
	return logs.String()
}

// TestRunChecksKafka: at start the trainer says whether its brokers
// answer and hold the samples topic, and which environment variables it
// ignores, through its configured logger.
func TestRunChecksKafka(t *testing.T) {
	db := pgtest.NewDatabase(t)
	broker, err := embedkafka.Start(embedkafka.Config{Topics: []string{"other"}})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	environ = func() []string { return []string{"FLOWGUARD_KAFKA_BROKER=x"} }
	defer func() { environ = func() []string { return nil } }()
	logs := startRun(t, db, "--kafka.brokers", broker.Addr(), "--log.format", "json",
		"--kafka.samples_topic", "samples")
	for _, want := range []string{
		`"level":"WARN","msg":"ignoring environment variables that name no setting of the ` +
			`detector or the trainer","variables":"FLOWGUARD_KAFKA_BROKER"}`,
		`"level":"WARN","msg":"the samples topic is not on the kafka brokers; retrain jobs ` +
			`will find no data until a detector creates it","topic":"samples"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	environ = func() []string { return nil }
	// Two brokers, one dead: the live one answers for both.
	logs = startRun(t, db, "--kafka.brokers", "127.0.0.1:1,"+broker.Addr(),
		"--kafka.samples_topic", "other")
	want := `level=INFO msg="kafka brokers reachable" brokers="[127.0.0.1:1 ` + broker.Addr() +
		`]" topic=other`
	if !strings.Contains(logs, want) || strings.Contains(logs, "cannot reach") ||
		strings.Contains(logs, "ignoring environment") {
		t.Errorf("logs lack %s or warn:\n%s", want, logs)
	}
}

// syncWriter collects the trainer's output, written from its goroutine
// while the test reads it.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestTrainFromKafkaRange(t *testing.T) {
	const topic = "flowguard.samples"
	broker, err := embedkafka.Start(embedkafka.Config{Topics: []string{topic}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ss := produceNAB(t, broker.Addr(), topic, 900)
	out := t.TempDir() + "/m.fgm"
	var b strings.Builder
	// The range leaves out the first 100 rows.
	err = Run(context.Background(), []string{"train", "--kafka.brokers", broker.Addr(),
		"--from", ss[100].Time.Format(time.RFC3339), "--series", "machine", "--out", out,
		"--model.epochs", "30"},
		&b, &b, func(string) string { return "" })
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if !strings.Contains(b.String(), "replayed 800 samples of 1 series") {
		t.Fatalf("output:\n%s", b.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := scorer.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Meta().Data; d.Samples != 800 || d.From.Before(ss[100].Time) {
		t.Fatalf("model trained on %+v", d)
	}
}

// TestMaxFlaggedShareZero: the setting's 0 (flagged points always trained
// on) must not reach the library as 0, which it reads as its default 0.1.
func TestMaxFlaggedShareZero(t *testing.T) {
	for _, tc := range []struct {
		share, want float64
	}{{0, math.SmallestNonzeroFloat64}, {0.3, 0.3}, {1, 1}} {
		cfg := config.DefaultTrainer()
		cfg.Training.MaxFlaggedShare = tc.share
		wc, err := workerConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if wc.MaxFlaggedShare != tc.want {
			t.Errorf("share %v: worker gets %v, want %v", tc.share, wc.MaxFlaggedShare, tc.want)
		}
	}
}

// TestCheckKafkaIsBounded: a broker that accepts connections but never
// answers costs the start kafkaCheckTimeout, then a warning.
func TestCheckKafkaIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn // held open, never answered
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func(d time.Duration) { kafkaCheckTimeout = d }(kafkaCheckTimeout)
	kafkaCheckTimeout = 300 * time.Millisecond
	logs := &syncWriter{}
	start := time.Now()
	checkKafka(context.Background(), slog.New(slog.NewTextHandler(logs, nil)),
		[]string{ln.Addr().String()}, "flowguard.samples")
	if took := time.Since(start); took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("the check took %v, want about 300ms", took)
	}
	want := `level=WARN msg="cannot reach any kafka broker; retrain jobs will fail until one ` +
		`answers" brokers=[` + ln.Addr().String() + `] timeout=300ms`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("logs %q lack %q", logs.String(), want)
	}
}
