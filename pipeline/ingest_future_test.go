package pipeline

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/timeseries"
)

// TestIngestFutureAndEmpty runs through the ingest, on an embedded broker,
// what a trial found vanishing or sticking: a sample dated 2100, which
// would move series z's newest time 74 years ahead so that the grid
// refused every real sample of z after it, and an empty JSON array, which
// was neither written nor dead-lettered nor counted. Each goes to the
// dead-letter topic with its own kind, counted and logged once; z's real
// samples before and after the future one, a sample within max_future
// and a 2014 replay are all written.
func TestIngestFutureAndEmpty(t *testing.T) {
	b, err := embedkafka.Start(embedkafka.Config{Partitions: 2,
		Topics: []string{inputTopic, samplesTopic, deadTopic}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	e := &env{broker: b.Addr()}

	now := time.Now().UTC().Truncate(time.Minute)
	sample := func(name string, at time.Time, v int) string {
		return fmt.Sprintf(`{"name":%q,"timestamp":%q,"value":%d}`, name, at.Format(time.RFC3339), v)
	}
	const future = `{"name":"z","timestamp":"2100-01-01T00:00:00Z","value":99}`
	msg := func(key, value string) kafka.Message {
		return kafka.Message{Key: []byte(key), Value: []byte(value)}
	}
	// Everything keyed alike, so that it is read in this order. The
	// future sample comes in a batch of its own: within one batch the
	// ingest sorts samples by time, which would put it after the rest.
	first := []kafka.Message{msg("z", sample("z", now.Add(-10*time.Minute), 0)),
		msg("z", future)}
	var then []kafka.Message
	for i := 1; i <= 5; i++ {
		then = append(then, msg("z", sample("z", now.Add(time.Duration(i-10)*time.Minute), i)))
	}
	mixed := "[" + sample("z", now.Add(-4*time.Minute), 6) + "," + future + "]"
	then = append(then, msg("z", mixed), msg("z", "[]"),
		msg("z", sample("z", now.Add(30*time.Minute), 7)), // within an hour: kept
		msg("z", sample("nab", time.Date(2014, 2, 14, 14, 30, 0, 0, time.UTC), 8)),
		msg("z", " [ ]\n"))

	logs := &logRecords{}
	m := NewMetrics(nil)
	ing, err := NewIngest(IngestConfig{Brokers: []string{e.broker}, Topics: []string{inputTopic},
		Group: "ingest", Decoder: timeseries.NewJSONDecoder(timeseries.JSONConfig{}),
		SamplesTopic: samplesTopic, DeadLetterTopic: deadTopic, MaxFuture: time.Hour,
		StopTimeout: 5 * time.Second, SessionTimeout: 10 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond}, m, slog.New(logs.handler()))
	if err != nil {
		t.Fatal(err)
	}
	stop := stage(ing.Run)
	defer stop()
	for i, part := range [][]kafka.Message{first, then} {
		e.produce(t, inputTopic, part)
		sent := int64(len(first) + i*len(then))
		waitFor(t, 30*time.Second, "every input message committed", func() bool {
			var n int64
			for _, off := range committed(t, e.broker, "ingest", inputTopic, 2) {
				n += max(off, 0)
			}
			return n == sent
		})
	}
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}

	// The samples topic holds z's real samples, in order, and the replay.
	var got []string
	grid, err := timeseries.NewPartition(timeseries.Config{Step: time.Minute, Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, sm := range readTopic(t, e.broker, samplesTopic, 2) {
		s, err := timeseries.DecodeSample(sm.Value)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s=%g", s.Series.Name, s.Values[0]))
		if _, res := grid.Push(&s); s.Series.Name == "z" && res.Reason != timeseries.ReasonNone {
			t.Errorf("grid refused z's sample at %v: %v", s.Time, res.Reason)
		}
	}
	want := "nab=8 z=0 z=1 z=2 z=3 z=4 z=5 z=6 z=7"
	slices.Sort(got)
	if g := strings.Join(got, " "); g != want {
		t.Errorf("samples topic holds %s, want %s", g, want)
	}

	// The dead letters: the future sample alone, the mixed array for its
	// one future sample, and the two empty arrays.
	type dead struct{ kind, failed string }
	wantDead := map[string]dead{future: {"future_timestamp", "1"},
		mixed: {"future_timestamp", "1"}, "[]": {"no_samples", "1"},
		" [ ]\n": {"no_samples", "1"}}
	for _, dm := range readTopic(t, e.broker, deadTopic, 2) {
		h := map[string]string{}
		for _, x := range dm.Headers {
			h[x.Key] = string(x.Value)
		}
		w, ok := wantDead[string(dm.Value)]
		if !ok {
			t.Errorf("unexpected dead letter %q (%v)", dm.Value, h)
			continue
		}
		delete(wantDead, string(dm.Value))
		if h[HeaderErrorKind] != w.kind || h[HeaderFailedSamples] != w.failed ||
			h[HeaderSourceTopic] != inputTopic {
			t.Errorf("dead letter %q has headers %v, want kind %s, %s failed", dm.Value, h,
				w.kind, w.failed)
		}
		if w.kind == "future_timestamp" && (!strings.Contains(h[HeaderError], "2100-01-01") ||
			!strings.Contains(h[HeaderError], "max_future 1h0m0s")) {
			t.Errorf("dead letter %q: error %q names neither the time nor the bound",
				dm.Value, h[HeaderError])
		}
	}
	if len(wantDead) > 0 {
		t.Errorf("not dead-lettered: %v", wantDead)
	}

	for kind, n := range map[string]float64{"future_timestamp": 2, "no_samples": 2} {
		if got := value(m.decodeFailures.WithLabelValues(kind)); got != n {
			t.Errorf("decode_failures_total{reason=%q} = %v, want %v", kind, got, n)
		}
		if logged := logs.find("bad input"); countKind(logged, kind) != 1 {
			t.Errorf("kind %s logged %d times, want once", kind, countKind(logged, kind))
		}
	}
	if got := value(m.ingestSamples); got != 9 {
		t.Errorf("samples_total = %v, want 9", got)
	}
}

func countKind(recs []map[string]string, kind string) int {
	n := 0
	for _, r := range recs {
		if r["kind"] == kind {
			n++
		}
	}
	return n
}

// TestIngestMaxFutureBound: the bound is max_future past the clock at
// decode time, inclusive; zero is no bound, so a 2100 sample passes.
func TestIngestMaxFutureBound(t *testing.T) {
	mk := func(max time.Duration) *Ingest {
		in, err := NewIngest(IngestConfig{Brokers: []string{"127.0.0.1:1"},
			Topics: []string{"in"}, Group: "g", SamplesTopic: "s", DeadLetterTopic: "d",
			Decoder: timeseries.NewJSONDecoder(timeseries.JSONConfig{}), MaxFuture: max},
			nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) timeseries.Sample {
		return timeseries.Sample{Series: timeseries.SeriesID{Name: "x"}, Time: now.Add(d),
			Values: []float64{1}}
	}
	in := mk(time.Hour)
	ss := []timeseries.Sample{at(-time.Hour), at(time.Hour), at(time.Hour + 1), at(time.Minute)}
	kept, err := in.dropFuture(ss, nil, now)
	des := timeseries.DecodeErrors(err)
	if len(kept) != 3 || kept[2].Time != now.Add(time.Minute) || len(des) != 1 ||
		des[0].Kind != timeseries.KindFutureTimestamp ||
		!strings.Contains(des[0].Error(), "is 1h0m0s ahead of the ingest's clock") {
		t.Errorf("kept %d (%v), errors %v; want 3 kept and one future_timestamp", len(kept),
			kept, err)
	}

	_, err = in.dropFuture([]timeseries.Sample{at(100 * 24 * time.Hour)}, nil, now)
	if err == nil || !strings.Contains(err.Error(), "is 100 days ahead") {
		t.Errorf("100 days ahead: %v", err)
	}

	// Without a bound convert passes the far future on.
	out := mk(0).convert([]kafka.Message{{Topic: "in", Value: []byte(
		`{"name":"z","timestamp":"2100-01-01T00:00:00Z","value":1}`)}}, nil)
	if len(out) != 1 || out[0].Topic != "s" {
		t.Errorf("max_future 0: %d messages (%v), want the sample", len(out), out)
	}
}
