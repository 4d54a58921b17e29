package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const alertsTopic = "flowguard.alerts"

// fakeKafka starts an in-process Kafka-protocol broker on loopback TCP with
// a three-partition alerts topic.
func fakeKafka(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, alertsTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// consume reads n records of the alerts topic from the start.
func consume(t *testing.T, brokers []string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(alertsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records before the timeout", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

// TestKafkaSink writes three revisions of three series' incidents through
// kafka-go to a kfake broker over TCP: each record is keyed by series,
// carries the message id, and one series' records share a partition in
// the order sent.
func TestKafkaSink(t *testing.T) {
	brokers := fakeKafka(t)
	k := NewKafka(brokers, alertsTopic, 5*time.Second)
	defer k.Close()

	var sent []*Message
	for rev := 1; rev <= 3; rev++ {
		for id := int64(1); id <= 3; id++ {
			m := &Message{ID: MessageID(id, rev), Kind: KindUpdate, IncidentID: id,
				Revision: rev, Series: fmt.Sprintf(`cpu{host="h%d"}`, id)}
			if err := k.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, m)
		}
	}

	recs := consume(t, brokers, len(sent))
	if len(recs) != len(sent) {
		t.Fatalf("got %d records, want %d", len(recs), len(sent))
	}
	partition := map[string]int32{}
	lastRev := map[string]int{}
	for _, r := range recs {
		var m Message
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != m.Series || m.ID != MessageID(m.IncidentID, m.Revision) {
			t.Errorf("record key %q carries %+v", r.Key, m)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != HeaderMessageID ||
			string(r.Headers[0].Value) != m.ID {
			t.Errorf("record of %s has headers %v", m.ID, r.Headers)
		}
		if p, ok := partition[m.Series]; ok && p != r.Partition {
			t.Errorf("%s on partitions %d and %d", m.Series, p, r.Partition)
		}
		partition[m.Series] = r.Partition
		if m.Revision <= lastRev[m.Series] {
			t.Errorf("%s: revision %d after %d", m.Series, m.Revision, lastRev[m.Series])
		}
		lastRev[m.Series] = m.Revision
	}
}

// TestKafkaThroughService: an anomaly row becomes a record on the topic.
func TestKafkaThroughService(t *testing.T) {
	brokers := fakeKafka(t)
	s := pgtest.NewStore(t)
	cfg := fastConfig(SinkKafka, SinkLog)
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Topic = alertsTopic
	svc, err := New(s, cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	start(t, svc)
	save(t, s, point("disk.io", t0, 1e-3))

	recs := consume(t, brokers, 1)
	var m Message
	if err := json.Unmarshal(recs[0].Value, &m); err != nil {
		t.Fatal(err)
	}
	if string(recs[0].Key) != "disk.io" || m.Kind != KindOpen || m.PValue != 1e-3 {
		t.Errorf("record %q: %+v", recs[0].Key, m)
	}
}
