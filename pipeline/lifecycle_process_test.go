package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
	"github.com/flowguard/flowguard/training"
)

// lockedBuffer collects a process's log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// buildCommands builds cmd/detector and cmd/trainer into a temporary
// directory and returns their paths.
func buildCommands(t *testing.T) (detector, trainer string) {
	t.Helper()
	dir := t.TempDir()
	start := time.Now()
	for _, name := range []string{"detector", "trainer"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name),
			"../cmd/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	t.Logf("built the detector and the trainer in %v", time.Since(start).Round(time.Millisecond))
	return filepath.Join(dir, "detector"), filepath.Join(dir, "trainer")
}

// startProcess runs bin with args and the database URL, logging to a
// buffer that is printed if the test fails; it is killed at cleanup.
func startProcess(t *testing.T, dbURL, bin string, args ...string) *lockedBuffer {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "FLOWGUARD_DATABASE_URL="+dbURL)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", filepath.Base(bin), logs.String())
		}
	})
	return logs
}

var httpAddrRE = regexp.MustCompile(`msg="detector started".* http_addr=(\S+)`)

// scrape returns the value of the series named exactly name (with its
// labels) on the metrics page at addr; 0 if absent.
func scrape(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// TestDriftLifecycleProcesses is TestDriftRetrainAndSwap with the detector
// and the trainer as separate processes, built from cmd/ and configured
// by flags, around the in-process broker (over TCP) and PostgreSQL. The
// input goes through the detector's ingest stage. Points are counted by
// the detector's metrics: with no restart or rebalance, points scored
// must equal the points the grid emits, none unscored.
func TestDriftLifecycleProcesses(t *testing.T) {
	detectorBin, trainerBin := buildCommands(t)
	b, err := embedkafka.Start(embedkafka.Config{Partitions: 2, Topics: []string{
		"flowguard.input", "flowguard.samples", "flowguard.dead-letter"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	gen := newARStream(7, 2, 10, 1)
	champ, _ := fitDriftModel(t, gen.take(1500), 1)
	if _, ok, err := training.Publish(ctx, s, champ, nil, nil, "test champion"); err != nil ||
		!ok {
		t.Fatalf("publish champion: %v, %v", ok, err)
	}
	stationary := gen.take(1000)
	gen.mu, gen.sigma = 16, 3
	changed := gen.take(1500)
	after := gen.take(1500)

	brokers := "--kafka.brokers=" + b.Addr()
	detLogs := startProcess(t, dbURL, detectorBin, "run", brokers, "--kafka.partitions=2",
		"--http.addr=127.0.0.1:0", "--scoring.window=8", "--scoring.max_fill=0",
		"--scoring.alpha=0.01", "--drift.settle_steps=1000", "--drift.cooldown=1ms",
		"--alerts.enabled=false", "--shutdown_timeout=5s")
	startProcess(t, dbURL, trainerBin, "run", brokers, "--poll=1s",
		"--training.lookback_steps=1600", "--model.epochs=40", "--model.seed=1")
	var addr string
	waitFor(t, 20*time.Second, "the detector's http address", func() bool {
		if m := httpAddrRE.FindStringSubmatch(detLogs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})

	input := func(series [][]timeseries.Sample) {
		w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: "flowguard.input",
			Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
			BatchTimeout: time.Millisecond, BatchSize: 500}
		defer w.Close()
		if err := w.WriteMessages(ctx, sampleMessages(series)...); err != nil {
			t.Fatal(err)
		}
	}
	const version = `flowguard_detector_model_version{group="default"}`
	const scored = `flowguard_detector_points_scored_total{group="default"}`
	start := time.Now()
	input(stationary)
	input(changed)
	var job store.Job
	waitFor(t, 60*time.Second, "the drift job to finish", func() bool {
		evs, err := s.DriftEvents(ctx, DefaultGroup)
		if err != nil || len(evs) == 0 || evs[0].JobID == nil {
			return false
		}
		job, err = s.Job(ctx, *evs[0].JobID)
		return err == nil && (job.State == store.JobDone || job.State == store.JobFailed)
	})
	waitFor(t, 20*time.Second, "the detector to load v2", func() bool {
		return scrape(t, addr, version) == 2
	})
	t.Logf("v2 in use %v after the first sample", time.Since(start).Round(time.Millisecond))
	atSwap := scrape(t, addr, scored)
	input(after)
	total := float64(2 * (1000 + 1500 + 1500 - driftWindow))
	waitFor(t, 30*time.Second, "every point scored", func() bool {
		return scrape(t, addr, scored) >= total
	})
	time.Sleep(500 * time.Millisecond) // a second scoring would show by now

	if got := scrape(t, addr, scored); got != total {
		t.Fatalf("%v points scored, want %v: some lost or scored twice", got, total)
	}
	if got := scrape(t, addr,
		`flowguard_detector_points_unscored_total{group="default"}`); got != 0 {
		t.Fatalf("%v points unscored", got)
	}
	evs, err := s.DriftEvents(ctx, "")
	if err != nil || len(evs) != 1 || evs[0].ModelVersion != 1 {
		t.Fatalf("drift events %+v (%v), want one of v1", evs, err)
	}
	counts, err := s.JobCounts(ctx)
	if err != nil || counts[store.JobDone] != 1 || len(counts) != 1 {
		t.Fatalf("jobs by state %v (%v), want one done", counts, err)
	}
	var det struct {
		Outcome training.Outcome `json:"outcome"`
	}
	if err := json.Unmarshal(job.Details, &det); err != nil || !det.Outcome.Promoted {
		t.Fatalf("job outcome %+v (%v), want promoted", det.Outcome, err)
	}
	t.Logf("drift event %+v; outcome: %s", evs[0], det.Outcome.Reason)
	as, err := s.ListAnomalies(ctx, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[int]int{}
	for _, a := range as {
		flags[a.ModelVersion]++
	}
	n2 := total - atSwap
	rate := float64(flags[2]) / n2
	t.Logf("v1 flagged %d of %v points; v2 flagged %d of %v: rate %.4f (alpha 0.01)",
		flags[1], atSwap, flags[2], n2, rate)
	if n2 < 2*1500-2 || rate > 2*0.01 {
		t.Fatalf("v2 flag rate %.4f over %v points, want at most 0.02", rate, n2)
	}
	if got := scrape(t, addr, `flowguard_detector_drift_events_total{group="default"}`); got != 1 {
		t.Errorf("drift events metric %v, want 1", got)
	}
}
