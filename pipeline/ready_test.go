package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

// TestReadyWhileWritesFail runs a detector against a live database whose
// tables are missing: every write fails with the connection up, and the
// detector must report not ready until the schema exists and a write
// succeeds again.
func TestReadyWhileWritesFail(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	bare, err := store.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()

	models := &staticModels{}
	models.set(DefaultGroup, trainedModel(1))
	stopIngest := e.ingest(t, nil)
	defer stopIngest()
	data := newDataset(13, 3, 80)
	e.produce(t, inputTopic, data.messages(0, 80))
	m := NewMetrics(nil)
	d, err := NewDetector(detectorConfig(e.broker), bare, models, nil, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := stage(d.Run)
	defer stop()
	waitFor(t, 30*time.Second, "failed writes", func() bool { return value(m.pgErrors) >= 2 })
	waitFor(t, 10*time.Second, "the consumer group joined", func() bool {
		err := d.Ready()
		return err == nil || !strings.Contains(err.Error(), "joined")
	})
	if err := d.Ready(); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("Ready while every write fails = %v, want a PostgreSQL error", err)
	}
	if _, err := bare.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "readiness after the schema exists", func() bool {
		return d.Ready() == nil
	})
	if err, took := stop(); err != nil || took > 5*time.Second {
		t.Fatalf("stop returned %v after %v", err, took)
	}
}
