package pipeline

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/store"
)

// TestPostgresOutageHoldsCommits cuts the detector's PostgreSQL
// connections (its pool goes through a proxy whose port then refuses
// connections) mid-stream for pgOutage, the 10 s of issue 6: commits must stop while writes fail, the
// detector must report not ready, and once the port opens again it must
// recover on its own with every anomaly stored.
func TestPostgresOutageHoldsCommits(t *testing.T) {
	const pgOutage = 10 * time.Second
	e := newEnv(t, 2)
	u, err := url.Parse(e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr
	viaProxy, err := store.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer viaProxy.Close()

	model := trainedModel(1)
	data := newDataset(11, 6, 160)
	want := data.expected(model, 0.005)
	models := &staticModels{}
	models.set(DefaultGroup, model)
	stopIngest := e.ingest(t, nil)
	defer stopIngest()

	cut := 80
	e.produce(t, inputTopic, data.messages(0, cut))
	m := NewMetrics(nil)
	d, err := NewDetector(detectorConfig(e.broker), viaProxy, models, nil, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := stage(d.Run)
	defer stop()
	waitFor(t, 30*time.Second, "the first part scored", func() bool {
		return lastScored(t, e, data, cut-2)
	})
	waitFor(t, 10*time.Second, "readiness", func() bool { return d.Ready() == nil })
	before := committed(t, e.broker, "detect", samplesTopic, 2)

	px.down()
	outage := time.Now()
	e.produce(t, inputTopic, data.messages(cut, len(data.vals[0])))
	waitFor(t, 20*time.Second, "failed writes", func() bool { return value(m.pgErrors) >= 2 })
	if err := d.Ready(); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Errorf("Ready during the outage = %v, want a PostgreSQL error", err)
	}
	time.Sleep(time.Until(outage.Add(pgOutage)))
	if held := committed(t, e.broker, "detect", samplesTopic, 2); !equalOffsets(before, held) {
		t.Fatalf("offsets committed during the outage: %v, then %v", before, held)
	}

	px.up()
	waitFor(t, 30*time.Second, "the rest scored after recovery", func() bool {
		return lastScored(t, e, data, len(data.vals[0])-2)
	})
	after := committed(t, e.broker, "detect", samplesTopic, 2)
	waitFor(t, 10*time.Second, "commits after recovery", func() bool {
		after = committed(t, e.broker, "detect", samplesTopic, 2)
		return !equalOffsets(before, after)
	})
	if err, took := stop(); err != nil || took > 5*time.Second {
		t.Fatalf("stop returned %v after %v", err, took)
	}
	compareAnomalies(t, e.stored(t), want)
	if d.Ready() != nil && strings.Contains(d.Ready().Error(), "PostgreSQL") {
		t.Errorf("still not ready after recovery: %v", d.Ready())
	}
	t.Logf("%d anomalies; %v failed writes; offsets %v -> %v", len(want),
		value(m.pgErrors), before, after)
}
