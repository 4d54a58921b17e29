package pipeline

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/flowguard/flowguard/store"
)

// TestBootstrapAndHotSwap starts with no model: the detector counts its
// points as unscored and files one bootstrap job. A champion announced
// with Reload is then used without a restart, and a second one replaces
// it between batches.
func TestBootstrapAndHotSwap(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	data := newDataset(21, 4, 150)
	v1 := trainedModel(1)
	v2 := fitAR(2, testWindow, newDataset(201, 4, 400).vals, newDataset(202, 4, 300).vals)
	models := &staticModels{}
	stopIngest := e.ingest(t, nil)
	defer stopIngest()

	cfg := detectorConfig(e.broker)
	cfg.Bootstrap = 100
	m := NewMetrics(nil)
	d, err := NewDetector(cfg, e.store, models, &Registry{Store: e.store, Grid: cfg.Grid}, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := stage(d.Run)
	defer stop()

	cut1, cut2, n := 50, 100, 150
	e.produce(t, inputTopic, data.messages(0, cut1))
	waitFor(t, 20*time.Second, "part one seen", func() bool { return lastTSIs(t, e, data, cut1-2) })
	unscored := value(m.unscored.WithLabelValues(DefaultGroup))
	if want := float64(4 * (cut1 - testWindow)); unscored != want {
		t.Fatalf("unscored points = %v, want %v", unscored, want)
	}
	job, ok, err := e.store.ClaimJob(ctx, "test")
	if err != nil || !ok {
		t.Fatalf("no bootstrap job: ok %v err %v", ok, err)
	}
	var details BootstrapDetails
	if err := json.Unmarshal(job.Details, &details); err != nil {
		t.Fatal(err)
	}
	if details.Step != "1m0s" || details.Window != testWindow || details.MaxFill != 3 {
		t.Errorf("bootstrap job asks for grid %+v, want the detector's", details)
	}
	first := data.t0 // the first sample of the first ready window
	if job.Reason != store.ReasonBootstrap || job.Group != DefaultGroup ||
		job.From == nil || !job.From.Equal(first) || len(details.Series) != 4 {
		t.Fatalf("bootstrap job %+v with series %v; want group default from %v, 4 series",
			job, details.Series, first)
	}
	// A group knowingly warming up leaves the detector ready.
	waitFor(t, 10*time.Second, "readiness while warming up", func() bool {
		return d.Ready() == nil
	})

	models.set(DefaultGroup, v1)
	d.Reload(DefaultGroup)
	e.produce(t, inputTopic, data.messages(cut1, cut2))
	waitFor(t, 20*time.Second, "part two scored", func() bool {
		return lastScored(t, e, data, cut2-2)
	})
	models.set(DefaultGroup, v2)
	d.Reload(DefaultGroup)
	e.produce(t, inputTopic, data.messages(cut2, n))
	waitFor(t, 20*time.Second, "part three scored", func() bool {
		return lastScored(t, e, data, n-2)
	})
	// Lag is end minus committed offsets; the ingest wrote one message per
	// sample, so the ends sum to the sample count.
	waitFor(t, 10*time.Second, "the lag gauge", func() bool {
		var lag, done float64
		for p, off := range committed(t, e.broker, "detect", samplesTopic, 2) {
			lag += value(m.lag.WithLabelValues(samplesTopic, strconv.Itoa(p)))
			done += float64(off)
		}
		return done > 0 && lag == float64(4*n)-done
	})
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}

	// Part one's points were never scored; part two's by v1 (from the
	// point its first message completes), part three's by v2.
	want := data.expectedBy(func(i int) *arModel {
		switch {
		case i < cut1-1:
			return nil
		case i < cut2-1:
			return v1
		}
		return v2
	}, cfg.Alpha)
	if len(want) == 0 {
		t.Fatal("no anomalies expected; the data should have spikes after part one")
	}
	compareAnomalies(t, e.stored(t), want)
	if got := value(m.modelVersion.WithLabelValues(DefaultGroup)); got != 2 {
		t.Errorf("model_version gauge = %v, want 2", got)
	}
	if got := d.ModelVersions()[DefaultGroup]; got != 2 {
		t.Errorf("ModelVersions = %v, want 2", got)
	}
}

// lastTSIs reports whether every series row has reached point i, scored
// or not.
func lastTSIs(t *testing.T, e *env, data *dataset, i int) bool {
	t.Helper()
	ts := data.t0.Add(time.Duration(i) * time.Minute)
	rows, err := e.store.ListSeries(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.LastTS != nil && r.LastTS.Equal(ts) {
			n++
		}
	}
	return n == len(data.keys)
}
