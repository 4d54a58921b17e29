package pipeline

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

const (
	nSeries = 12
	nPoints = 240
)

// model fits the AR model on clean data of other seeds, as a trainer
// would.
func trainedModel(version int) *arModel {
	train := newDataset(101, 4, 2000)
	calib := newDataset(102, 4, 1000)
	return fitAR(version, testWindow, train.vals, calib.vals)
}

// poison returns n malformed input messages of three kinds, with the kind
// each must be dead-lettered with.
func poison(n int) ([]kafka.Message, []string) {
	var msgs []kafka.Message
	var kinds []string
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			msgs = append(msgs, kafka.Message{Value: []byte("not json " + strconv.Itoa(i))})
			kinds = append(kinds, "syntax")
		case 1:
			msgs = append(msgs, kafka.Message{Value: []byte(
				`{"name":"","timestamp":"2026-03-01T00:00:00Z","value":` + strconv.Itoa(i) + `}`)})
			kinds = append(kinds, "empty_series")
		case 2:
			msgs = append(msgs, kafka.Message{Value: []byte(
				`{"name":"x","timestamp":"yesterday","value":` + strconv.Itoa(i) + `}`)})
			kinds = append(kinds, "bad_timestamp")
		}
	}
	return msgs, kinds
}

// TestExactlyOnceAcrossCrash streams samples with poison messages through
// ingest and a detector whose PostgreSQL writes start failing mid-stream;
// the detector is then stopped with its last batches unwritten, as by a
// crash, and a new one resumes from the committed offsets. The stored
// anomalies must be exactly those of an offline run of the same model.
func TestExactlyOnceAcrossCrash(t *testing.T) {
	e := newEnv(t, 4)
	model := trainedModel(1)
	data := newDataset(7, nSeries, nPoints)
	want := data.expected(model, 0.005)
	if len(want) < 2*nSeries {
		t.Fatalf("offline run flags %d points; the data should give at least the %d spikes",
			len(want), 2*nSeries)
	}
	models := &staticModels{}
	models.set(DefaultGroup, model)

	im := NewMetrics(nil)
	stopIngest := e.ingest(t, im)
	defer stopIngest()

	// First 60% of the stream, with poison interleaved.
	cut := nPoints * 6 / 10
	first := data.messages(0, cut)
	bad, kinds := poison(30)
	mixed := make([]kafka.Message, 0, len(first)+len(bad))
	for i, m := range first {
		mixed = append(mixed, m)
		if i%60 == 30 && len(bad) > 0 {
			mixed = append(mixed, bad[0])
			bad = bad[1:]
		}
	}
	mixed = append(mixed, bad...)
	e.produce(t, inputTopic, mixed)

	w1 := &recordingWriter{s: e.store}
	w1.failAfter.Store(10)
	m1 := NewMetrics(nil)
	d1, err := NewDetector(detectorConfig(e.broker), w1, models, nil, m1, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop1 := stage(d1.Run)
	waitFor(t, 30*time.Second, "writes to start failing", func() bool {
		return w1.failures.Load() >= 3
	})
	held := committed(t, e.broker, "detect", samplesTopic, 4)
	time.Sleep(300 * time.Millisecond)
	if again := committed(t, e.broker, "detect", samplesTopic, 4); !equalOffsets(held, again) {
		t.Fatalf("commits moved while writes failed: %v then %v", held, again)
	}
	if value(m1.pgErrors) < 3 {
		t.Fatalf("postgres_write_errors_total = %v, want >= 3", value(m1.pgErrors))
	}
	if err, took := stop1(); err == nil || took > 5*time.Second {
		t.Fatalf("crashing detector returned %v after %v; want the write error within 5s",
			err, took)
	}
	partial := len(e.stored(t))
	if partial == 0 || partial >= len(want) {
		t.Fatalf("%d of %d anomalies before the crash; want some but not all", partial,
			len(want))
	}

	// More of the stream, and a fresh detector, stopped cleanly.
	cut2 := nPoints * 8 / 10
	e.produce(t, inputTopic, data.messages(cut, cut2))
	w2 := &recordingWriter{s: e.store}
	m2 := NewMetrics(nil)
	d2, err := NewDetector(detectorConfig(e.broker), w2, models, nil, m2, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop2 := stage(d2.Run)
	// The grid emits point cut2-2 when point cut2-1 arrives.
	waitFor(t, 30*time.Second, "the second part scored", func() bool {
		return lastScored(t, e, data, cut2-2)
	})
	if err, took := stop2(); err != nil || took > 5*time.Second {
		t.Fatalf("clean stop returned %v after %v", err, took)
	}

	// The rest: a third detector must rebuild every window from the
	// committed rebuild position, so it scores every point from cut2-1
	// on, not only those W steps after its first new message.
	e.produce(t, inputTopic, data.messages(cut2, nPoints))
	m3 := NewMetrics(nil)
	d3, err := NewDetector(detectorConfig(e.broker), e.store, models, nil, m3, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop3 := stage(d3.Run)
	waitFor(t, 30*time.Second, "the last part scored", func() bool {
		return lastScored(t, e, data, nPoints-2)
	})
	if err, took := stop3(); err != nil || took > 5*time.Second {
		t.Fatalf("clean stop returned %v after %v", err, took)
	}
	compareAnomalies(t, e.stored(t), want)
	if got, min := value(m3.scored.WithLabelValues(DefaultGroup)),
		float64(nSeries*(nPoints-cut2)); got < min {
		t.Errorf("third detector scored %v points, want at least %v: windows not rebuilt",
			got, min)
	}
	if got := value(m3.rejected.WithLabelValues("too_late")); got != 0 {
		t.Errorf("%v samples rejected as too late", got)
	}
	t.Logf("%d anomalies, %d written before the crash; third detector scored %v points",
		len(want), partial, value(m3.scored.WithLabelValues(DefaultGroup)))

	// Series rows hold the newest scored point.
	sum, err := e.store.SeriesByKey(context.Background(), data.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	lastTS := data.t0.Add(time.Duration(nPoints-2) * time.Minute)
	if sum.LastTS == nil || !sum.LastTS.Equal(lastTS) || sum.LastScore == nil ||
		sum.Group != DefaultGroup {
		t.Errorf("series row %+v, want last_ts %v with a score", sum, lastTS)
	}

	// Poison: all in the dead-letter topic with their reasons and
	// positions, counted by kind.
	checkDeadLetters(t, e, kinds)
	if got := value(im.deadLetters); got != 30 {
		t.Errorf("dead_letters_total = %v, want 30", got)
	}
	for _, k := range []string{"syntax", "empty_series", "bad_timestamp"} {
		if got := value(im.decodeFailures.WithLabelValues(k)); got != 10 {
			t.Errorf("decode_failures_total{reason=%q} = %v, want 10", k, got)
		}
	}
	if got := value(im.ingestSamples); got != nSeries*nPoints {
		t.Errorf("ingest samples_total = %v, want %d", got, nSeries*nPoints)
	}
}

func equalOffsets(a, b map[int]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkDeadLetters reads the dead-letter topic and checks each message's
// headers against the poison sent, and its source position against the
// input topic.
func checkDeadLetters(t *testing.T, e *env, kinds []string) {
	t.Helper()
	want := map[string]string{}
	bad, _ := poison(len(kinds))
	for i, m := range bad {
		want[string(m.Value)] = kinds[i]
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.broker}, Topic: deadTopic,
		GroupID: "dead-check", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for range kinds {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("dead-letter topic: %v (%d messages left unseen)", err, len(want))
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		kind, ok := want[string(m.Value)]
		if !ok {
			t.Fatalf("unexpected dead letter %q", m.Value)
		}
		delete(want, string(m.Value))
		if h[HeaderErrorKind] != kind || h[HeaderError] == "" ||
			h[HeaderSourceTopic] != inputTopic || h[HeaderFailedSamples] != "1" {
			t.Errorf("dead letter %q has headers %v, want kind %s", m.Value, h, kind)
		}
		part, _ := strconv.Atoi(h[HeaderSourcePartition])
		off, _ := strconv.ParseInt(h[HeaderSourceOffset], 10, 64)
		if src := readAt(t, e.broker, inputTopic, part, off); string(src) != string(m.Value) {
			t.Errorf("dead letter %q points at %s/%d/%d holding %q", m.Value, inputTopic,
				part, off, src)
		}
	}
	if len(want) > 0 {
		t.Errorf("%d poison messages not dead-lettered", len(want))
	}
}

func readAt(t *testing.T, broker, topic string, partition int, offset int64) []byte {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic,
		Partition: partition, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read %s/%d/%d: %v", topic, partition, offset, err)
	}
	return m.Value
}

// lastScored reports whether every series row holds a score for point i.
func lastScored(t *testing.T, e *env, data *dataset, i int) bool {
	t.Helper()
	ts := data.t0.Add(time.Duration(i) * time.Minute)
	rows, err := e.store.ListSeries(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Group != DefaultGroup || r.LastScore == nil || r.LastTS == nil {
			return false
		}
		if r.LastTS.Equal(ts) {
			n++
		}
	}
	return n == len(data.keys)
}
