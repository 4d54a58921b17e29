package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/demo"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/nab"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// The shared NAB data sits beside the repository, here and in CI.
const (
	nabDir     = "../../../shared/datasets/nab"
	nabMachine = "realKnownCause/machine_temperature_system_failure.csv"
)

// nabPath returns the path of a file of the shared NAB data. Outside CI a
// checkout without it skips the test, saying so; under CI=true it fails.
func nabPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(nabDir, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NAB data missing under CI: %v", err)
		}
		t.Skipf("NAB data not found (%v); it is expected beside the repository", err)
	}
	return p
}

// trainerBinary builds cmd/trainer into a test directory.
func trainerBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trainer")
	if out, err := exec.Command("go", "build", "-o", bin, "../trainer").CombinedOutput(); err != nil {
		t.Fatalf("build trainer: %v\n%s", err, out)
	}
	return bin
}

// runEmbedded starts "detector run" on its in-process broker and any
// free ports, with the database db and more flags, and returns the
// broker's and the HTTP listener's addresses once both are up, and the
// detector's log.
func runEmbedded(t *testing.T, db string, flags ...string) (broker, httpAddr string,
	log *syncBuffer) {
	t.Helper()
	args := append([]string{"run", "--kafka.embedded_addr=127.0.0.1:0",
		"--http.addr=127.0.0.1:0", "--shutdown_timeout=6s"}, flags...)
	det := exec.Command(detectorBinary(t), args...)
	det.Env = append(os.Environ(), "FLOWGUARD_DATABASE_URL="+db)
	log = &syncBuffer{}
	det.Stderr = log
	if err := det.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = det.Process.Kill(); _ = det.Wait() })
	await(t, 20*time.Second, "detector start-up", func() bool {
		broker = logValue(log.String(), "in-process kafka broker started", "addr")
		httpAddr = logValue(log.String(), "detector started", "http_addr")
		return broker != "" && httpAddr != ""
	})
	return broker, httpAddr, log
}

// inputWriter writes to the detector's input topic on broker.
func inputWriter(broker string) *kafka.Writer {
	return &kafka.Writer{Addr: kafka.TCP(broker), Topic: "flowguard.input",
		Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, BatchSize: 1000,
		RequiredAcks: kafka.RequireAll}
}

// writeSamples writes ss to w as JSON messages keyed by series.
func writeSamples(t *testing.T, w *kafka.Writer, ss []timeseries.Sample) {
	t.Helper()
	msgs := make([]kafka.Message, len(ss))
	for i := range ss {
		msgs[i] = kafka.Message{Key: []byte(ss[i].Series.Key()), Value: timeseries.Encode(&ss[i])}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// scoredAnomalies waits until the detector has scored the newest step it
// emits for ss (one series) on a grid of step, and returns the stored
// anomalies.
func scoredAnomalies(t *testing.T, s *store.Store, ss []timeseries.Sample,
	step time.Duration) []store.Anomaly {
	t.Helper()
	ctx := context.Background()
	last, _ := demo.LastStep(ss, step)
	await(t, 60*time.Second, "the whole file scored", func() bool {
		sum, err := s.SeriesByKey(ctx, ss[0].Series.Key())
		return err == nil && sum.LastTS != nil && !sum.LastTS.Before(last)
	})
	as, err := s.ListAnomalies(ctx, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// TestNABMachineTemperature is issue 6's end-to-end check on real data,
// with the detector and the trainer as separate processes on the
// detector's in-process broker and a fresh PostgreSQL database. The
// detector starts without a model; after 2000 windows (the default
// bootstrap, a week of this 5-minute series, before its first labelled
// window) it files a bootstrap job, which the trainer claims, replays
// from Kafka, fits with its default spline flow and promotes; the
// detector loads it without restarting. The rest of the file is then
// scored, and at least 3 of the 4 labelled windows must hold a flagged
// point.
func TestNABMachineTemperature(t *testing.T) {
	csv := nabPath(t, nabMachine)
	labels, err := nab.LoadLabels(nabPath(t, "combined_windows_dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	windows := labels[nabMachine]
	if len(windows) != 4 {
		t.Fatalf("%d labelled windows, want 4", len(windows))
	}
	ss, err := demo.ReadCSV(csv)
	if err != nil {
		t.Fatal(err)
	}
	if step := scorer.MedianSpacing(ss); step != 5*time.Minute {
		t.Fatalf("step %v, want 5m", step)
	}
	trainer := trainerBinary(t)
	db := pgtest.NewDatabase(t)

	broker, httpAddr, _ := runEmbedded(t, db, "--kafka.partitions=2", "--scoring.step=5m")
	base := "http://" + httpAddr

	tr := exec.Command(trainer, "run", "--kafka.brokers="+broker, "--poll=1s",
		"--database.migrate=false")
	tr.Env = append(os.Environ(), "FLOWGUARD_DATABASE_URL="+db)
	var trLog syncBuffer
	tr.Stderr = &trLog
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Process.Kill(); _ = tr.Wait() })

	w := inputWriter(broker)
	defer w.Close()
	write := func(part []timeseries.Sample) { t.Helper(); writeSamples(t, w, part) }
	// Enough for the bootstrap (2000 windows of 16 steps) and no more, so
	// that the rest is scored by the model rather than counted unscored.
	const head = 2100
	write(ss[:head])
	await(t, 60*time.Second, "the bootstrapped model in the detector", func() bool {
		return metric(t, base, `flowguard_detector_model_version{group="default"}`) == 1
	})
	write(ss[head:])

	ctx := context.Background()
	s := openStore(t, ctx, db)
	defer s.Close()
	as := scoredAnomalies(t, s, ss, 5*time.Minute)
	hit, inside, insidePts := 0, 0, 0
	for _, win := range windows {
		insidePts += int(win.Last.Sub(win.First)/(5*time.Minute)) + 1
		n := 0
		for _, a := range as {
			if !a.TS.Before(win.First) && !a.TS.After(win.Last) {
				n++
			}
		}
		t.Logf("window %s .. %s: %d flagged points", win.First.Format(time.DateTime),
			win.Last.Format(time.DateTime), n)
		if n > 0 {
			hit++
		}
		inside += n
	}
	scored := metric(t, base, `flowguard_detector_points_scored_total{group="default"}`)
	unscored := metric(t, base, `flowguard_detector_points_unscored_total{group="default"}`)
	t.Logf("%d points: %v scored, %v unscored before the model; %d anomalies", len(ss),
		scored, unscored, len(as))
	// Flags must also be denser inside the windows than outside them: a
	// detector flagging at random would hit wide windows too.
	in := float64(inside) / float64(insidePts)
	out := float64(len(as)-inside) / (scored - float64(insidePts))
	t.Logf("flagged share inside the windows %.3f, outside %.3f", in, out)
	if in < 2*out {
		t.Errorf("flagged share inside the windows %.3f, want at least twice the %.3f "+
			"outside", in, out)
	}
	if hit < 3 {
		t.Errorf("%d of 4 labelled windows flagged, want at least 3", hit)
	}
	if scored < float64(len(ss)-head-16) {
		t.Errorf("%v points scored, want at least the %d after the bootstrap", scored,
			len(ss)-head-16)
	}
	models, err := s.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(models) == 0 || models[len(models)-1].Version != 1 {
		t.Fatalf("registry: %+v, want version 1 from the trainer", models)
	}
}
