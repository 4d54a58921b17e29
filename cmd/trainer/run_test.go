package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
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

// TestWorkerBootstrapsAChampion runs "trainer run" against an in-process
// broker and a real database: a bootstrap job gets a champion (announced on
// the models channel), and a second job on the same data gives an
// identical candidate, which is kept but not promoted (no gain).
func TestWorkerBootstrapsAChampion(t *testing.T) {
	const topic = "flowguard.samples"
	broker, err := embedkafka.Start(embedkafka.Config{Topics: []string{topic}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ss := produceNAB(t, broker.Addr(), topic, 800)

	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	models, err := s.Listen(ctx, store.ModelsChannel)
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	logs := &syncWriter{}
	go func() {
		done <- Run(runCtx, []string{"run", "--poll", "300ms", "--id", "t1", "--model.epochs", "40",
			"--kafka.brokers", broker.Addr(), "--kafka.samples_topic", topic},
			logs, logs, dbEnv(db))
	}()

	from, to := ss[0].Time, ss[len(ss)-1].Time.Add(time.Second)
	file := func(reason string) store.Job {
		t.Helper()
		details := `{"series":["machine{}"],"step":"5m0s","window":12,"max_fill":0,` +
			`"calendar":true}`
		job, created, err := s.FileJob(ctx, store.JobRequest{Group: "machines",
			Reason: reason, From: &from, To: &to, Details: []byte(details)})
		if err != nil || !created {
			t.Fatalf("file %s job: created %v, %v", reason, created, err)
		}
		return job
	}
	first := file(store.ReasonBootstrap)
	n, err := models.Next(ctx)
	if err != nil {
		t.Fatalf("no champion announced: %v\n%s", err, logs.String())
	}
	var ev store.ModelEvent
	if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil ||
		ev != (store.ModelEvent{Group: "machines", Version: 1}) {
		t.Fatalf("announcement %q, %v", n.Payload, err)
	}
	champ, err := s.Champion(ctx, "machines")
	if err != nil {
		t.Fatal(err)
	}
	m, err := scorer.Decode(champ.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Meta().Data; d.Samples != 800 || !d.To.Equal(ss[799].Time) {
		t.Fatalf("champion trained on %+v, want the 800 produced steps", d)
	}
	// The job's grid wins over the model settings, so the detector that
	// filed it can load the model.
	if f := m.Meta().Features; f.Window != 12 || f.Step != 5*time.Minute || f.MaxFill != 0 ||
		!f.Calendar {
		t.Fatalf("champion features %+v, want the job's grid", f)
	}
	waitJob(t, s, first.ID, store.JobDone)

	second := file(store.ReasonDrift)
	waitJob(t, s, second.ID, store.JobDone)
	v2, err := s.ModelVersion(ctx, "machines", 2)
	if err != nil {
		t.Fatal(err)
	}
	if v2.State != store.StateRejected || !strings.Contains(v2.Note, "below margin") {
		t.Fatalf("identical candidate: state %s note %q, want rejected below margin",
			v2.State, v2.Note)
	}
	if c, err := s.Champion(ctx, "machines"); err != nil || c.Version != 1 {
		t.Fatalf("champion after the second job: v%d, %v", c.Version, err)
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
	if !strings.Contains(logs.String(), "trainer stopped") {
		t.Fatalf("logs lack the stop:\n%s", logs.String())
	}
}

func waitJob(t *testing.T, s *store.Store, id int64, state string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		j, err := s.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return
		}
		if j.State == store.JobFailed {
			t.Fatalf("job %d failed: %s", id, j.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job %d not %s within 60s", id, state)
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

// TestWorkerReleasesJobOnStop stops the worker in the middle of training:
// it must return promptly and put the job back in the queue.
func TestWorkerReleasesJobOnStop(t *testing.T) {
	const topic = "flowguard.samples"
	broker, err := embedkafka.Start(embedkafka.Config{Topics: []string{topic}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	produceNAB(t, broker.Addr(), topic, 800)
	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	job, _, err := s.FileJob(ctx, store.JobRequest{Group: "g", Reason: store.ReasonBootstrap})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	logs := &syncWriter{}
	go func() {
		// A large model with no early stop keeps it training until stopped.
		done <- Run(runCtx, []string{"run", "--kafka.brokers", broker.Addr(),
			"--kafka.samples_topic", topic, "--model.hidden", "512", "--model.epochs", "100000"},
			logs, logs, dbEnv(db))
	}()
	for !strings.Contains(logs.String(), "replayed") {
		if ctx.Err() != nil {
			t.Fatalf("worker never replayed:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop within 10s")
	}
	j, err := s.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.JobPending || j.Attempts != 1 {
		t.Fatalf("job after stop: %s, attempt %d; want pending after 1\n%s", j.State,
			j.Attempts, logs.String())
	}
}
