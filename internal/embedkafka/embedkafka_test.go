package embedkafka_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/embedkafka"
)

func start(t *testing.T, cfg embedkafka.Config) *embedkafka.Broker {
	t.Helper()
	b, err := embedkafka.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func write(t *testing.T, addr, topic string, n, from int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "k%d", (from+i)%7),
			Value: fmt.Appendf(nil, "%d", from+i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func groupReader(addr, topic, group string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, Topic: topic, GroupID: group,
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		RebalanceTimeout: 2 * time.Second, JoinGroupBackoff: 200 * time.Millisecond,
		MaxWait: 100 * time.Millisecond, StartOffset: kafka.FirstOffset,
	})
}

// consume fetches n messages, commits all of them and returns their values.
func consume(t *testing.T, r *kafka.Reader, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch after %d of %d: %v", len(got), n, err)
		}
		got = append(got, string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return got
}

// TestGroupCommitSurvivesRestart checks the kafka-go features the detector
// depends on: a group reader sees every message once, commits, and a new
// reader in the same group resumes after the last commit.
func TestGroupCommitSurvivesRestart(t *testing.T) {
	b := start(t, embedkafka.Config{Topics: []string{"in"}, Partitions: 3})
	write(t, b.Addr(), "in", 30, 0)

	r := groupReader(b.Addr(), "in", "g")
	first := consume(t, r, 30)
	if err := r.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if len(unique(first)) != 30 {
		t.Fatalf("first reader saw %d distinct of 30", len(unique(first)))
	}

	write(t, b.Addr(), "in", 10, 30)
	r = groupReader(b.Addr(), "in", "g")
	defer r.Close()
	second := consume(t, r, 10)
	want := map[string]bool{}
	for i := 30; i < 40; i++ {
		want[fmt.Sprint(i)] = true
	}
	for _, v := range second {
		if !want[v] {
			t.Fatalf("restarted reader got %s, want only 30..39 (got %v)", v, second)
		}
	}
	if len(unique(second)) != 10 {
		t.Fatalf("restarted reader saw %v", second)
	}
}

// TestTwoReadersSplitPartitions checks that two readers of one group share
// the partitions and together see each message once.
func TestTwoReadersSplitPartitions(t *testing.T) {
	b := start(t, embedkafka.Config{Topics: []string{"in"}, Partitions: 4})
	r1 := groupReader(b.Addr(), "in", "g2")
	r2 := groupReader(b.Addr(), "in", "g2")
	defer r1.Close()
	defer r2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Readers join when they first fetch; wait for both before writing.
	seen := make(chan kafka.Message, 400)
	for _, r := range []*kafka.Reader{r1, r2} {
		go func() {
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return
				}
				if err := r.CommitMessages(ctx, m); err != nil {
					return
				}
				seen <- m
			}
		}()
	}
	cl := &kafka.Client{Addr: kafka.TCP(b.Addr())}
	for members := 0; members != 2; {
		res, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{"g2"}})
		if err != nil {
			t.Fatalf("describe group: %v", err)
		}
		if g := res.Groups[0]; g.GroupState == "Stable" {
			members = len(g.Members)
		}
		time.Sleep(20 * time.Millisecond)
	}
	write(t, b.Addr(), "in", 200, 0)
	var vals []string
	parts := map[int]bool{}
	for len(vals) < 200 {
		select {
		case m := <-seen:
			vals = append(vals, string(m.Value))
			parts[m.Partition] = true
		case <-ctx.Done():
			t.Fatalf("got %d of 200 messages", len(vals))
		}
	}
	if len(unique(vals)) != 200 {
		t.Fatalf("distinct messages %d, want 200", len(unique(vals)))
	}
	if len(parts) != 4 {
		t.Fatalf("messages came from partitions %v, want all 4", parts)
	}
	s1, s2 := r1.Stats(), r2.Stats()
	if s1.Messages == 0 || s2.Messages == 0 {
		t.Fatalf("one reader got nothing: %d and %d messages", s1.Messages, s2.Messages)
	}
}

func TestCreateTopicsAndOffsets(t *testing.T) {
	b := start(t, embedkafka.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(b.Addr())}
	res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: "t", NumPartitions: 2, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Errors["t"]; err != nil {
		t.Fatal(err)
	}
	write(t, b.Addr(), "t", 20, 0)
	off, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{
			"t": {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range off.Topics["t"] {
		if p.Error != nil {
			t.Fatal(p.Error)
		}
		total += p.LastOffset
	}
	if total != 20 {
		t.Fatalf("end offsets sum to %d, want 20", total)
	}
}

func TestDataDirKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	b, err := embedkafka.Start(embedkafka.Config{Topics: []string{"p"}, Partitions: 1,
		DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	write(t, b.Addr(), "p", 5, 0)
	r := groupReader(b.Addr(), "p", "g")
	consume(t, r, 2)
	r.Close()
	b.Close()

	b = start(t, embedkafka.Config{Partitions: 1, DataDir: dir})
	r = groupReader(b.Addr(), "p", "g")
	defer r.Close()
	got := consume(t, r, 3)
	if fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("after restart got %v, want [2 3 4]", got)
	}
}

func TestRejectsNonLoopback(t *testing.T) {
	_, err := embedkafka.Start(embedkafka.Config{Addr: "0.0.0.0:0"})
	if err == nil {
		t.Fatal("Start on 0.0.0.0 succeeded")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = embedkafka.Start(embedkafka.Config{Addr: ln.Addr().String()})
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("Start on a taken port: %v, want a listen error", err)
	}
}

func unique(v []string) []string {
	m := map[string]bool{}
	for _, s := range v {
		m[s] = true
	}
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
