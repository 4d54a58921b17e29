package demo

import (
	"context"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

func TestGenerate(t *testing.T) {
	ss, faults := Generate(DefaultGen())
	if len(ss) != 14*288 {
		t.Fatalf("%d samples, want %d", len(ss), 14*288)
	}
	if got := scorer.MedianSpacing(ss); got != 5*time.Minute {
		t.Errorf("median step %v, want 5m", got)
	}
	again, _ := Generate(DefaultGen())
	for i := range ss {
		if ss[i].Values[0] != again[i].Values[0] {
			t.Fatalf("sample %d differs between two runs with one seed", i)
		}
	}
	if len(faults) != 4 {
		t.Fatalf("%d faults, want 4", len(faults))
	}
	week := DefaultGen().Start.Add(7 * 24 * time.Hour)
	at := map[time.Time]float64{}
	for _, s := range ss {
		at[s.Time] = s.Values[0]
	}
	for _, f := range faults {
		if f.From.Before(week) {
			t.Errorf("%s at %v is in the clean first week", f.Kind, f.From)
		}
		switch f.Kind {
		case FaultSpike:
			// The spike is 6 above its neighbours' level, whose noise
			// and drift move less than 1.5 in 5 minutes.
			if d := at[f.From] - at[f.From.Add(-5*time.Minute)]; d < 4 {
				t.Errorf("spike rises %v, want at least 4", d)
			}
		case FaultStuckSensor:
			for t1 := f.From; !t1.After(f.To); t1 = t1.Add(5 * time.Minute) {
				if at[t1] != at[f.From.Add(-5*time.Minute)] {
					t.Fatalf("stuck sensor moves at %v", t1)
				}
			}
		}
	}
	short, faults := Generate(GenConfig{Days: 9})
	if len(short) != 9*288 || len(faults) != 1 || faults[0].Kind != FaultSpike {
		t.Errorf("9 days: %d samples and %v, want %d and the spike only", len(short), faults,
			9*288)
	}
}

func TestCaught(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := Fault{From: t0, To: t0.Add(time.Hour)}
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{-time.Minute, false}, {0, true}, {time.Hour, true}, {90 * time.Minute, true},
		{91 * time.Minute, false}} {
		if got := f.Caught([]time.Time{t0.Add(c.at)}, 30*time.Minute); got != c.want {
			t.Errorf("flag at %v: caught %v, want %v", c.at, got, c.want)
		}
	}
}

func TestLastStepAndMerge(t *testing.T) {
	id := timeseries.NewSeriesID("a", nil)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(mins ...int) []timeseries.Sample {
		var out []timeseries.Sample
		for _, m := range mins {
			out = append(out, timeseries.Sample{Series: id,
				Time: t0.Add(time.Duration(m) * time.Minute), Values: []float64{1}})
		}
		return out
	}
	// Samples at 0, 5, 12 and 13 on a 5-minute grid: 12 and 13 share the
	// step at 10, which is never final; the newest final step is 5.
	got, ok := LastStep(mk(0, 5, 12, 13), 5*time.Minute)
	if !ok || !got.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("last step %v %v, want %v", got, ok, t0.Add(5*time.Minute))
	}
	if _, ok := LastStep(mk(1, 2), 5*time.Minute); ok {
		t.Error("one step only: want no final step")
	}
	m := Merge(mk(0, 10), mk(5, 10))
	for i, want := range []int{0, 5, 10, 10} {
		if m[i].Time != t0.Add(time.Duration(want)*time.Minute) {
			t.Errorf("merged %d at %v, want minute %d", i, m[i].Time, want)
		}
	}
	// A series that goes back in time is sent in its own order: its 3
	// stays after its 20, interleaved by time with the other series.
	m = Merge(mk(0, 20, 3, 25), mk(1, 21))
	for i, want := range []int{0, 1, 20, 3, 21, 25} {
		if m[i].Time != t0.Add(time.Duration(want)*time.Minute) {
			t.Errorf("merged out of order %d at %v, want minute %d", i, m[i].Time, want)
		}
	}
}

// TestReplay writes a series into the embedded broker and reads it back:
// every sample once, keyed by series, in order, with Ahead bounding what
// the consumer has not taken yet.
func TestReplay(t *testing.T) {
	addr, ss, ctx := replayBroker(t, 2)

	var consumed atomic.Int64
	done := make(chan error, 1)
	go func() {
		n, err := Replay(ctx, ReplayConfig{Brokers: []string{addr}, Topic: "in",
			Batch: 50, Consumed: consumed.Load,
			Ahead: func(context.Context) (int, error) { return 100, nil }}, ss)
		if err == nil && n != len(ss) {
			t.Errorf("replay wrote %d samples, want %d", n, len(ss))
		}
		done <- err
	}()
	got := readAll(t, ctx, addr, len(ss), &consumed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ss) {
		t.Fatalf("read %d samples, want %d", len(got), len(ss))
	}
	for i := range ss {
		if !got[i].Time.Equal(ss[i].Time) || math.Abs(got[i].Values[0]-ss[i].Values[0]) > 0 {
			t.Fatalf("sample %d: got %v %v, want %v %v", i, got[i].Time, got[i].Values,
				ss[i].Time, ss[i].Values)
		}
	}
}

// replayBroker starts an embedded broker with topic "in" on the given
// number of partitions, and returns its address, one generated day of
// samples and a 30-second context; both end when the test does.
func replayBroker(t *testing.T, partitions int) (string, []timeseries.Sample,
	context.Context) {
	t.Helper()
	b, err := embedkafka.Start(embedkafka.Config{Partitions: partitions,
		Topics: []string{"in"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ss, _ := Generate(GenConfig{Days: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return b.Addr(), ss, ctx
}

// readAll reads n samples from whichever partition of "in" holds them,
// counting each in consumed as it is taken.
func readAll(t *testing.T, ctx context.Context, addr string, n int,
	consumed *atomic.Int64) []timeseries.Sample {
	t.Helper()
	var out []timeseries.Sample
	readers := []*kafka.Reader{}
	for p := range 2 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: "in",
			Partition: p, MaxWait: 20 * time.Millisecond})
		defer r.Close()
		readers = append(readers, r)
	}
	msgs := make(chan kafka.Message, 100)
	for _, r := range readers {
		go func() {
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				msgs <- m
			}
		}()
	}
	for len(out) < n {
		select {
		case m := <-msgs:
			s, err := timeseries.DecodeSample(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Key) != s.Series.Key() {
				t.Fatalf("key %q, want the series key %q", m.Key, s.Series.Key())
			}
			out = append(out, s)
			consumed.Add(1)
		case <-ctx.Done():
			t.Fatalf("read %d of %d samples before the deadline", len(out), n)
		}
	}
	return out
}

// TestReplayPaced replays one day at 345,600 times real time (a quarter
// second) after Ahead held it for 300 ms at the start: the replay cannot
// end before both have passed, as event time stands still while held.
func TestReplayPaced(t *testing.T) {
	addr, ss, ctx := replayBroker(t, 1)
	var consumed atomic.Int64
	held := false
	start := time.Now()
	n, err := Replay(ctx, ReplayConfig{Brokers: []string{addr}, Topic: "in",
		Speed: 4 * 86400, Consumed: func() int64 { return consumed.Load() },
		Ahead: func(context.Context) (int, error) {
			if !held {
				held = true
				time.Sleep(300 * time.Millisecond)
			}
			consumed.Store(int64(len(ss))) // no consumer: never wait for one
			return len(ss), nil
		}}, ss)
	if err != nil || n != len(ss) {
		t.Fatalf("replay: %d samples, %v; want %d", n, err, len(ss))
	}
	// The last sample is due 23h55m of event time after the first.
	least := 300*time.Millisecond + time.Duration(float64(ss[len(ss)-1].Time.Sub(ss[0].Time))/
		(4*86400))
	if got := time.Since(start); got < least {
		t.Errorf("paced replay took %v, want at least %v", got, least)
	}
}

// writeCSV writes rows under NAB's header to a temporary file.
func writeCSV(t *testing.T, rows string) string {
	t.Helper()
	p := t.TempDir() + "/rows.csv"
	if err := os.WriteFile(p, []byte("timestamp,value\n"+rows), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// backHour is machine_temperature_system_failure.csv's clock problem in
// small: after 00:15 the clock goes back to 00:00 and repeats 00:00 to
// 00:15 before moving on.
const backHour = "2014-01-01 00:00:00,1\n" +
	"2014-01-01 00:05:00,2\n" +
	"2014-01-01 00:10:00,3\n" +
	"2014-01-01 00:15:00,4\n" +
	"2014-01-01 00:00:00,11\n" +
	"2014-01-01 00:05:00,12\n" +
	"2014-01-01 00:10:00,13\n" +
	"2014-01-01 00:15:00,14\n" +
	"2014-01-01 00:20:00,5\n"

// TestReadCSVRows: rows are kept in file order, none dropped, and the
// report counts the rows that go back in time and repeat a timestamp.
func TestReadCSVRows(t *testing.T) {
	ss, rep, err := ReadCSVRows(writeCSV(t, backHour))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 2, 3, 4, 11, 12, 13, 14, 5}
	if len(ss) != len(want) {
		t.Fatalf("%d samples, want %d", len(ss), len(want))
	}
	for i, s := range ss {
		if s.Values[0] != want[i] {
			t.Errorf("sample %d: value %v, want %v (file order)", i, s.Values[0], want[i])
		}
	}
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	if rep.Backward != 3 || rep.Repeated != 4 || !rep.BackFrom.Equal(t0) ||
		!rep.BackAfter.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("report %+v, want 3 backward from 00:00 after 00:15, 4 repeated", rep)
	}
	const text = "3 rows go back in time (the first, 2014-01-01 00:00:00, after " +
		"2014-01-01 00:15:00), 4 rows repeat an earlier row's timestamp"
	if got := rep.String(); got != text {
		t.Errorf("report text %q, want %q", got, text)
	}
	// A file in order reports nothing.
	_, rep, err = ReadCSVRows(writeCSV(t, "2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n"))
	if err != nil || rep != (CSVReport{}) || rep.String() != "" {
		t.Errorf("clean file: report %+v %q, %v; want none", rep, rep.String(), err)
	}
	if _, _, err := ReadCSVRows(writeCSV(t, "2014-01-01 00:00:00,1\n"+
		"2014-01-01 00:00:00,2\n")); err == nil ||
		!strings.Contains(err.Error(), "1 distinct times, want at least 2") {
		t.Errorf("one distinct time: %v", err)
	}
}

// TestReadCSVClean: ReadCSV still returns a clean series: in time order,
// the first row of each timestamp.
func TestReadCSVClean(t *testing.T) {
	ss, err := ReadCSV(writeCSV(t, backHour))
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, s := range ss {
		got = append(got, s.Values[0])
	}
	if want := []float64{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("values %v, want %v", got, want)
	}
	if got := scorer.MedianSpacing(ss); got != 5*time.Minute {
		t.Errorf("median step %v, want 5m", got)
	}
}

// TestUnready: on a 5-minute grid with windows of 4 steps, the samples of
// the first 3 steps fill the window and the 2 samples of the last step
// are still open.
func TestUnready(t *testing.T) {
	id := timeseries.NewSeriesID("a", nil)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ss []timeseries.Sample
	for _, m := range []int{0, 5, 10, 15, 20, 25, 27} {
		ss = append(ss, timeseries.Sample{Series: id,
			Time: t0.Add(time.Duration(m) * time.Minute), Values: []float64{1}})
	}
	filling, open := Unready(ss, 5*time.Minute, 4)
	if filling != 3 || open != 2 {
		t.Errorf("filling %d, open %d, want 3 and 2", filling, open)
	}
}

// TestReplayStalled: a pipeline that takes no sample makes Replay fail
// with ErrStalled after Stall instead of waiting forever.
func TestReplayStalled(t *testing.T) {
	addr, ss, ctx := replayBroker(t, 1)
	start := time.Now()
	n, err := Replay(ctx, ReplayConfig{Brokers: []string{addr}, Topic: "in",
		Consumed: func() int64 { return 0 }, Stall: 200 * time.Millisecond,
		Ahead: func(context.Context) (int, error) { return 10, nil }}, ss)
	if !errors.Is(err, ErrStalled) || n != 10 {
		t.Fatalf("replay: %d samples, %v; want 10 and ErrStalled", n, err)
	}
	if got := time.Since(start); got > 10*time.Second {
		t.Errorf("stalled replay took %v, want about 200ms", got)
	}
}
