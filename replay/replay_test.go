package replay_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/replay"
	"github.com/flowguard/flowguard/timeseries"
)

var t0 = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

// produce writes n one-minute samples of each series to topic, each
// message stamped one minute after its event, as an ingest stage would.
func produce(t *testing.T, addr, topic string, n int, series ...string) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	var msgs []kafka.Message
	for i := range n {
		for j, name := range series {
			s := timeseries.Sample{Series: timeseries.NewSeriesID(name, nil),
				Time: t0.Add(time.Duration(i) * time.Minute), Values: []float64{float64(i*10 + j)}}
			msgs = append(msgs, kafka.Message{Key: s.Series.AppendKey(nil),
				Value: timeseries.Encode(&s), Time: s.Time.Add(time.Minute)})
		}
	}
	msgs = append(msgs, kafka.Message{Key: []byte("junk{}"), Value: []byte("{not json"),
		Time: t0.Add(time.Duration(n) * time.Minute)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func TestReadRange(t *testing.T) {
	b, err := embedkafka.Start(embedkafka.Config{Topics: []string{"samples"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	produce(t, b.Addr(), "samples", 300, "a", "b", "c")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tests := []struct {
		name      string
		from, to  time.Time
		keep      []string
		series    int
		perSeries int
		first     time.Time
	}{
		{"everything", time.Time{}, time.Time{}, nil, 3, 300, t0},
		{"range of two series", t0.Add(100 * time.Minute), t0.Add(200 * time.Minute),
			[]string{"a{}", "c{}"}, 2, 100, t0.Add(100 * time.Minute)},
		{"open end", t0.Add(290 * time.Minute), time.Time{}, []string{"b{}"}, 1, 10,
			t0.Add(290 * time.Minute)},
		{"after the data", t0.Add(24 * time.Hour), time.Time{}, nil, 0, 0, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := replay.Request{Brokers: []string{b.Addr()}, Topic: "samples",
				From: tc.from, To: tc.to}
			if tc.keep != nil {
				req.Keep = replay.KeySet(tc.keep)
			}
			got, st, err := replay.Read(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.series {
				t.Fatalf("%d series, want %d (stats %+v)", len(got), tc.series, st)
			}
			for _, ss := range got {
				if len(ss) != tc.perSeries || !ss[0].Time.Equal(tc.first) {
					t.Fatalf("series %s: %d samples from %v, want %d from %v",
						ss[0].Series.Key(), len(ss), ss[0].Time, tc.perSeries, tc.first)
				}
				for i := 1; i < len(ss); i++ {
					if !ss[i].Time.After(ss[i-1].Time) {
						t.Fatalf("series %s out of order at %d", ss[0].Series.Key(), i)
					}
				}
			}
			if tc.from.IsZero() && st.Malformed != 1 {
				t.Fatalf("stats %+v: want the one malformed message counted", st)
			}
			// The lookup by time skips most of the topic: at most an hour
			// (the default lead) of messages before From is read.
			left := max(0, 300-int(tc.from.Sub(t0)/time.Minute))
			if !tc.from.IsZero() && st.Messages > 3*(left+62)+1 {
				t.Fatalf("read %d messages for a range starting at minute %v", st.Messages,
					tc.from.Sub(t0))
			}
		})
	}
}

func TestReadMissingTopic(t *testing.T) {
	b, err := embedkafka.Start(embedkafka.Config{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err = replay.Read(ctx, replay.Request{Brokers: []string{b.Addr()}, Topic: ""})
	if err == nil {
		t.Fatal("Read without a topic succeeded")
	}
}
