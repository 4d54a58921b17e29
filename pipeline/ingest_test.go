package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// endOffsets returns the sum of the end offsets of topic, its message
// count for a topic written once.
func endOffsets(t *testing.T, broker, topic string, partitions int) int64 {
	t.Helper()
	var n int64
	for _, p := range lastOffsets(t, broker, topic, partitions) {
		n += p.LastOffset
	}
	return n
}

// lastOffsets returns the end offset of each partition of topic.
func lastOffsets(t *testing.T, broker, topic string, partitions int) []kafka.PartitionOffsets {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 5 * time.Second}
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range reqs {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	res, err := cl.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatal(p.Error)
		}
	}
	return res.Topics[topic]
}

// TestIngestPoisonAtScale sends 100 malformed messages among 100,000 good
// ones: every good sample reaches the samples topic, every bad message
// the dead-letter topic, the metrics count both, and the detector then
// scores every good point that has a full window.
func TestIngestPoisonAtScale(t *testing.T) {
	e := newEnv(t, 4)
	const good, bad = 100_000, 100
	msgs := make([]kafka.Message, 0, good+bad)
	poisoned, kinds := poison(bad)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := 0; i < good; i++ {
		// Keyed by series: unkeyed input spread over four partitions is
		// consumed at uneven speeds, and a backlog like this one would
		// reorder a series by more than any lateness setting absorbs.
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "%d", i%500), Value: fmt.Appendf(nil,
			`{"name":"m","labels":{"s":"%d"},"timestamp":%d,"value":%d}`, i%500,
			t0+int64(i/500)*60, i)})
		if i%1000 == 500 {
			msgs = append(msgs, poisoned[i/1000])
		}
	}
	e.produce(t, inputTopic, msgs)

	m := NewMetrics(nil)
	stop := e.ingest(t, m)
	waitFor(t, 60*time.Second, "every message ingested", func() bool {
		return value(m.ingestMessages.WithLabelValues(inputTopic)) == good+bad
	})
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}
	if got := endOffsets(t, e.broker, samplesTopic, 4); got != good {
		t.Errorf("samples topic holds %d messages, want %d", got, good)
	}
	if got := endOffsets(t, e.broker, deadTopic, 4); got != bad {
		t.Errorf("dead-letter topic holds %d messages, want %d", got, bad)
	}
	if got := value(m.ingestSamples); got != good {
		t.Errorf("samples_total = %v, want %d", got, good)
	}
	want := map[string]int{}
	for _, k := range kinds {
		want[k]++
	}
	for k, n := range want {
		if got := value(m.decodeFailures.WithLabelValues(k)); got != float64(n) {
			t.Errorf("decode_failures_total{reason=%q} = %v, want %d", k, got, n)
		}
	}

	// Each of the 500 series has 200 points: the first testWindow-1 only
	// fill its window and its newest step is still open, so
	// 500 * (200 - testWindow) points are scored.
	const scorable = 500 * (good/500 - testWindow)
	models := &staticModels{}
	models.set(DefaultGroup, trainedModel(1))
	cfg := detectorConfig(e.broker)
	cfg.BatchSize = 5000
	dm := NewMetrics(nil)
	d, err := NewDetector(cfg, e.store, models, nil, dm, nil)
	if err != nil {
		t.Fatal(err)
	}
	stopDetector := stage(d.Run)
	waitFor(t, 90*time.Second, "every good point scored", func() bool {
		return value(dm.scored.WithLabelValues(DefaultGroup)) >= scorable
	})
	if err, _ := stopDetector(); err != nil {
		t.Fatal(err)
	}
	if got := value(dm.scored.WithLabelValues(DefaultGroup)); got != scorable {
		t.Errorf("scored %v points, want %d", got, scorable)
	}
	if got := len(e.stored(t)); float64(got) != value(dm.anomalies.WithLabelValues(DefaultGroup)) {
		t.Errorf("%d anomalies stored, metrics count %v", got,
			value(dm.anomalies.WithLabelValues(DefaultGroup)))
	}
}
