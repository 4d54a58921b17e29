package pipeline

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/timeseries"
)

// TestSeriesOrderAcrossPartitions replays a user's report: one in-order
// series of 3000 points sent to an 8-partition input topic with kafka-go's
// Writer and no key, so its default round-robin balancer spreads the
// messages over every partition. The ingest reads each partition's backlog
// in bursts, the series reaches the samples topic out of order, and with
// no lateness the grid refused 2622 samples as too late, silently.
//
// Keyed by series, with a balancer that hashes keys, every point is
// scored. Unkeyed messages that the ingest reads in one batch are put back
// in time order and every point is scored too. Unkeyed messages read over
// many batches still lose samples, and the loss is logged once, with the
// hint. In every case the detector's too_late and scored counts are
// exactly what the grid makes of the order on the samples topic.
func TestSeriesOrderAcrossPartitions(t *testing.T) {
	const partitions, points = 8, 3000
	// Every point from the W-th to the one before last (the last step is
	// still open) has a window to score.
	const allScored = points - testWindow
	cases := []struct {
		name      string
		keyed     bool
		batchSize int           // ingest batch; 0: the default, 1000
		batchWait time.Duration // 0: the default, 20ms
		oneBatch  bool          // every point read in one ingest batch
	}{
		{name: "keyed by series", keyed: true},
		{name: "unkeyed in one ingest batch", batchSize: 2 * points,
			batchWait: 4 * time.Second, oneBatch: true},
		{name: "unkeyed over many ingest batches"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, partitions)
			data := newDataset(31, 1, points)
			msgs := data.messages(0, points)
			w := &kafka.Writer{Addr: kafka.TCP(e.broker), Topic: inputTopic,
				BatchTimeout: 10 * time.Millisecond}
			if tc.keyed {
				w.Balancer = kafka.CRC32Balancer{} // as in the README
			} else {
				for i := range msgs {
					msgs[i].Key = nil
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("produce: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			// The ingest runs to the end first: once its group has
			// committed every input offset, the samples topic is final,
			// and what the grid makes of its order can be worked out.
			// Sessions are long, so that no rebalance makes the ingest
			// write a batch twice (delivery is at least once) or the
			// detector read one twice, which would blur the counts.
			m := NewMetrics(nil)
			in, err := NewIngest(IngestConfig{Brokers: []string{e.broker},
				Topics: []string{inputTopic}, Group: "ingest",
				Decoder:      timeseries.NewJSONDecoder(timeseries.JSONConfig{}),
				SamplesTopic: samplesTopic, DeadLetterTopic: deadTopic,
				BatchSize: tc.batchSize, BatchWait: tc.batchWait, StopTimeout: 3 * time.Second,
				SessionTimeout: 10 * time.Second, HeartbeatInterval: 500 * time.Millisecond},
				m, nil)
			if err != nil {
				t.Fatal(err)
			}
			stopIngest := stage(in.Run)
			defer stopIngest()
			waitFor(t, 30*time.Second, "every input message committed", func() bool {
				var n int64
				for _, off := range committed(t, e.broker, "ingest", inputTopic, partitions) {
					n += max(off, 0)
				}
				return n == points
			})
			if err, _ := stopIngest(); err != nil {
				t.Fatal(err)
			}
			cfg := detectorConfig(e.broker)
			samples := readTopic(t, e.broker, samplesTopic, partitions)
			want := replayGrid(t, cfg.Grid, samples)

			logs := &logRecords{}
			models := &staticModels{}
			models.set(DefaultGroup, trainedModel(1))
			cfg.SessionTimeout, cfg.RebalanceTimeout = 10*time.Second, 10*time.Second
			cfg.HeartbeatInterval = 500 * time.Millisecond
			d, err := NewDetector(cfg, e.store, models, nil, m, slog.New(logs.handler()))
			if err != nil {
				t.Fatal(err)
			}
			stopDetector := stage(d.Run)
			defer stopDetector()
			waitFor(t, 30*time.Second, "the samples topic read", func() bool {
				return value(m.messages) >= float64(len(samples))
			})
			// A stop finishes the batches in hand, so the counts are final.
			if err, _ := stopDetector(); err != nil {
				t.Fatal(err)
			}

			read := value(m.messages)
			tooLate := value(m.rejected.WithLabelValues("too_late"))
			scored := value(m.scored.WithLabelValues(DefaultGroup))
			warned := logs.find("sample refused by the series grid")
			if read != float64(len(samples)) || tooLate != float64(want.tooLate) ||
				scored != float64(want.ready) {
				t.Fatalf("detector read %v samples, refused %v as too late and scored %v; "+
					"the samples topic holds %d, of which the grid refuses %d and leaves "+
					"%d to score", read, tooLate, scored, len(samples), want.tooLate, want.ready)
			}
			if tc.keyed || tc.oneBatch {
				if len(samples) != points || tooLate != 0 || scored != allScored ||
					len(warned) != 0 {
					t.Fatalf("%d samples, too_late %v, scored %v, %d refusals logged; "+
						"want %d, 0, %d, 0", len(samples), tooLate, scored, len(warned),
						points, allScored)
				}
				return
			}

			t.Logf("unkeyed over many batches: %v of %d points too late, %v scored",
				tooLate, points, scored)
			if tooLate == 0 {
				t.Error("no sample too late; the test no longer sends the series out of order")
			}
			if len(warned) != 1 {
				t.Fatalf("%d refusals logged, want 1: %v", len(warned), warned)
			}
			got := warned[0]
			t.Logf("logged once: %v", got)
			if got["reason"] != "too_late" || got["lateness"] != "0s" ||
				got["series"] != data.keys[0] ||
				!strings.Contains(got["hint"], "key input messages by series") ||
				!strings.Contains(got["hint"], "raise scoring.lateness") {
				t.Errorf("refusal logged as %v, want reason too_late, lateness 0s, "+
					"series %s and the hint", got, data.keys[0])
			}
		})
	}
}

// gridVerdict counts what a grid makes of a sequence of samples.
type gridVerdict struct {
	tooLate int
	ready   int // steps emitted with a full window, not gap-filled
}

// replayGrid pushes the samples of msgs, in order, through one grid, as
// the detector does with the partition that holds them.
func replayGrid(t *testing.T, cfg timeseries.Config, msgs []kafka.Message) gridVerdict {
	t.Helper()
	g, err := timeseries.NewPartition(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var v gridVerdict
	for i := range msgs {
		smp, err := timeseries.DecodeSample(msgs[i].Value)
		if err != nil {
			t.Fatal(err)
		}
		s, res := g.Push(&smp)
		switch res.Reason {
		case timeseries.ReasonNone:
		case timeseries.ReasonTooLate:
			v.tooLate++
			continue
		default:
			t.Fatalf("sample at %v refused: %v", smp.Time, res.Reason)
		}
		for ago := range res.Emitted {
			if st := s.Step(ago); st.Ready && !st.Filled {
				v.ready++
			}
		}
	}
	return v
}

// readTopic returns every message of topic, partition by partition, each
// in offset order.
func readTopic(t *testing.T, broker, topic string, partitions int) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for _, po := range lastOffsets(t, broker, topic, partitions) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic,
			Partition: po.Partition, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for range po.LastOffset {
			msg, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s partition %d: %v", topic, po.Partition, err)
			}
			out = append(out, msg)
		}
		cancel()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// logRecords keeps the warnings logged through its handlers, with their
// attributes as text.
type logRecords struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	msg   string
	attrs map[string]string
}

func (l *logRecords) handler() slog.Handler { return &recordHandler{l: l} }

// find returns the attributes of every warning whose message starts with
// prefix.
func (l *logRecords) find(prefix string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.recs {
		if strings.HasPrefix(r.msg, prefix) {
			out = append(out, r.attrs)
		}
	}
	return out
}

type recordHandler struct {
	l     *logRecords
	attrs []slog.Attr
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn
}

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := map[string]string{}
	add := func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	h.l.recs = append(h.l.recs, logRecord{msg: r.Message, attrs: attrs})
	return nil
}

func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{l: h.l, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *recordHandler) WithGroup(string) slog.Handler { return h }
