package training

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

const nabFile = "../../shared/datasets/nab/realKnownCause/" +
	"machine_temperature_system_failure.csv"

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

// syncWriter collects the worker's logs, written from its goroutine while
// the test reads them.
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

func waitJob(t *testing.T, s *store.Store, id int64, state string) store.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		j, err := s.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return j
		}
		if j.State == store.JobFailed {
			t.Fatalf("job %d failed: %s", id, j.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job %d not %s within 60s", id, state)
	return store.Job{}
}

// gathered returns the value of the metric name with the given label
// values, in the order of the label names sorted, and whether it exists.
func gathered(t *testing.T, reg *prometheus.Registry, name string,
	labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetValue() != labels[i] {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// TestWorkerBootstrapsAChampion runs a Worker against an in-process broker
// and a real database: a bootstrap job gets a champion (announced on the
// models channel), and a second job on the same data gives a candidate
// that is kept but not promoted, as it does not beat the champion by the
// margin on the newest data.
func TestWorkerBootstrapsAChampion(t *testing.T) {
	const topic = "flowguard.samples"
	broker, err := embedkafka.Start(embedkafka.Config{Topics: []string{topic}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ss := produceNAB(t, broker.Addr(), topic, 800)

	s := pgtest.NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	models, err := s.Listen(ctx, store.ModelsChannel)
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close()

	cfg := DefaultWorkerConfig()
	cfg.ID, cfg.Brokers, cfg.Topic, cfg.Poll = "t1", []string{broker.Addr()}, topic,
		300*time.Millisecond
	cfg.Fit.Train.Epochs = 40
	// A candidate fitted on the same data as the champion differs from it
	// by the noise of training alone, well under 0.5 nats.
	cfg.Policy.Margin = 0.5
	logs := &syncWriter{}
	reg := prometheus.NewRegistry()
	w, err := NewWorker(s, cfg, slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

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

	second := file(store.ReasonManual)
	j := waitJob(t, s, second.ID, store.JobDone)
	v2, err := s.ModelVersion(ctx, "machines", 2)
	if err != nil {
		t.Fatal(err)
	}
	if v2.State != store.StateRejected || !strings.Contains(v2.Note, "below margin") {
		t.Fatalf("candidate on the same data: state %s note %q, want rejected below margin",
			v2.State, v2.Note)
	}
	var det struct{ Outcome Outcome }
	if err := json.Unmarshal(j.Details, &det); err != nil {
		t.Fatal(err)
	}
	// 20% of 800 samples are held out; windows end at every one of them.
	if o := det.Outcome; o.Version != 2 || o.Promoted || o.Evaluation == nil ||
		o.Evaluation.Candidate.Windows != 160 || o.Evaluation.Champion.Windows != 160 ||
		!o.Evaluation.ChampionSawHeldOut {
		t.Fatalf("job outcome %+v", det.Outcome)
	}
	if c, err := s.Champion(ctx, "machines"); err != nil || c.Version != 1 {
		t.Fatalf("champion after the second job: v%d, %v", c.Version, err)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop within 10s of its context ending")
	}
	if !strings.Contains(logs.String(), "trainer stopped") {
		t.Fatalf("logs lack the stop:\n%s", logs.String())
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"flowguard_trainer_jobs", []string{store.JobDone}, 2},
		{"flowguard_trainer_jobs", []string{store.JobPending}, 0},
		{"flowguard_trainer_jobs_finished_total", []string{"promoted", "bootstrap"}, 1},
		{"flowguard_trainer_jobs_finished_total", []string{"rejected", "manual"}, 1},
		{"flowguard_trainer_job_seconds", []string{"manual"}, 1},
		{"flowguard_trainer_champion_version", []string{"machines"}, 1},
	} {
		if got, ok := gathered(t, reg, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
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
	s := pgtest.NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	job, _, err := s.FileJob(ctx, store.JobRequest{Group: "g", Reason: store.ReasonBootstrap})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultWorkerConfig()
	cfg.Brokers, cfg.Topic = []string{broker.Addr()}, topic
	// A large model with no early stop keeps it training until stopped.
	cfg.Fit.Spec.Hidden, cfg.Fit.Train.Epochs = 512, 100000
	logs := &syncWriter{}
	w, err := NewWorker(s, cfg, slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
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

func TestNewWorkerRejectsBadConfig(t *testing.T) {
	for name, mod := range map[string]func(*WorkerConfig){
		"no source":    func(c *WorkerConfig) { c.Brokers = nil },
		"holdout":      func(c *WorkerConfig) { c.Holdout = 0.95 },
		"lookback":     func(c *WorkerConfig) { c.LookbackSteps = -1 },
		"ks tolerance": func(c *WorkerConfig) { c.Policy.KSTolerance = -0.1 },
	} {
		cfg := DefaultWorkerConfig()
		cfg.Brokers, cfg.Topic = []string{"127.0.0.1:1"}, "t"
		mod(&cfg)
		if _, err := NewWorker(nil, cfg, nil, nil); err == nil {
			t.Errorf("%s: NewWorker accepted %+v", name, cfg)
		}
	}
	// The metrics of two workers cannot share a registry.
	cfg := DefaultWorkerConfig()
	cfg.Brokers, cfg.Topic = []string{"127.0.0.1:1"}, "t"
	reg := prometheus.NewRegistry()
	if _, err := NewWorker(nil, cfg, nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWorker(nil, cfg, nil, reg); err == nil {
		t.Error("second worker registered the same metrics")
	}
}

// TestJobWithoutDataFails: a job whose range holds no samples fails with
// the reason on the job, is counted, and frees the group for a new job.
func TestJobWithoutDataFails(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	src := &fakeReplay{ss: minutes("cpu", 0, 100)}
	cfg := DefaultWorkerConfig()
	cfg.Replay = src.read
	reg := prometheus.NewRegistry()
	w, err := NewWorker(s, cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	from := t0.Add(time.Hour * 24)
	job, _, err := s.FileJob(ctx, store.JobRequest{Group: "g", Reason: store.ReasonDrift,
		From: &from})
	if err != nil {
		t.Fatal(err)
	}
	claimed, _, err := s.ClaimJob(ctx, "test")
	if err != nil || claimed.ID != job.ID {
		t.Fatalf("claim: %+v, %v", claimed, err)
	}
	w.handle(ctx, claimed)
	j, err := s.Job(ctx, job.ID)
	if err != nil || j.State != store.JobFailed || !strings.Contains(j.Error, "no samples") {
		t.Fatalf("job %s error %q (%v), want failed for lack of samples", j.State, j.Error, err)
	}
	if n, ok := gathered(t, reg, "flowguard_trainer_jobs_failed_total", "drift"); n != 1 {
		t.Fatalf("failed jobs counter %v (present %v), want 1", n, ok)
	}
	if _, created, err := s.FileJob(ctx, store.JobRequest{Group: "g",
		Reason: store.ReasonManual}); err != nil || !created {
		t.Fatalf("file after failure: %v, %v", created, err)
	}
}
