package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestTwoDetectorsShareTheGroup runs two detectors in one consumer group
// and stops one mid-stream: the other takes over its partitions, rebuilds
// their windows from the committed positions, and the stored anomalies are
// exactly those of an offline run.
func TestTwoDetectorsShareTheGroup(t *testing.T) {
	e := newEnv(t, 4)
	model := trainedModel(1)
	data := newDataset(41, 8, 200)
	want := data.expected(model, 0.005)
	models := &staticModels{}
	models.set(DefaultGroup, model)
	stopIngest := e.ingest(t, nil)
	defer stopIngest()

	ma, mb := NewMetrics(nil), NewMetrics(nil)
	da, err := NewDetector(detectorConfig(e.broker), e.store, models, nil, ma, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := NewDetector(detectorConfig(e.broker), e.store, models, nil, mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	stopA, stopB := stage(da.Run), stage(db.Run)
	defer stopA()
	defer stopB()

	waitFor(t, 20*time.Second, "both detectors in the group", func() bool {
		return groupMembers(t, e.broker, "detect") == 2
	})
	cut := 100
	e.produce(t, inputTopic, data.messages(0, cut))
	waitFor(t, 30*time.Second, "the first part scored", func() bool {
		return lastScored(t, e, data, cut-2)
	})
	a := value(ma.scored.WithLabelValues(DefaultGroup))
	b := value(mb.scored.WithLabelValues(DefaultGroup))
	if a == 0 || b == 0 {
		t.Fatalf("points scored by the two detectors: %v and %v; want both working", a, b)
	}
	if err, took := stopA(); err != nil || took > 5*time.Second {
		t.Fatalf("stopping detector A: %v after %v", err, took)
	}

	e.produce(t, inputTopic, data.messages(cut, 200))
	waitFor(t, 40*time.Second, "the rest scored by detector B", func() bool {
		return lastScored(t, e, data, 200-2)
	})
	compareAnomalies(t, e.stored(t), want)
	t.Logf("%d anomalies; A scored %v points, B %v", len(want), a,
		value(mb.scored.WithLabelValues(DefaultGroup)))
}

// groupMembers returns the members of a stable group, 0 while it
// rebalances.
func groupMembers(t *testing.T, broker, group string) int {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 5 * time.Second}
	res, err := cl.DescribeGroups(context.Background(),
		&kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(res.Groups) != 1 || res.Groups[0].GroupState != "Stable" {
		return 0
	}
	return len(res.Groups[0].Members)
}
