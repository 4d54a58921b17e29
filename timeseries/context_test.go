package timeseries

import (
	"math"
	"testing"
	"time"
	_ "time/tzdata" // CI images may lack /usr/share/zoneinfo
)

func TestCalendarDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Reference wall times from the IANA rules for Europe/Berlin: clocks
	// go 02:00 CET -> 03:00 CEST on 2026-03-29 (01:00 UTC) and
	// 03:00 CEST -> 02:00 CET on 2026-10-25 (01:00 UTC). Both are Sundays,
	// day 6 with Monday = 0.
	tests := []struct {
		utc       string
		hour, day float64
	}{
		{"2026-03-29T00:30:00Z", 1.5, 6 + 1.5/24},
		{"2026-03-29T01:30:00Z", 3.5, 6 + 3.5/24}, // one hour later, two on the clock
		{"2026-10-25T00:30:00Z", 2.5, 6 + 2.5/24},
		{"2026-10-25T01:30:00Z", 2.5, 6 + 2.5/24}, // the repeated hour
		{"2026-10-25T23:30:00Z", 0.5, 0.5 / 24},   // already Monday in Berlin
	}
	s := newTestSeries(t, Config{Step: time.Hour, Window: 1, Calendar: true, Location: berlin}, 1)
	dst := make([]float64, CalendarWidth)
	for _, tc := range tests {
		// Push the step, then one an hour later to close it.
		tm := mustTime(tc.utc).Truncate(time.Hour)
		s.Push(&Sample{Time: tm, Values: []float64{1}})
		r := s.Push(&Sample{Time: tm.Add(time.Hour), Values: []float64{1}})
		if r.Emitted != 1 {
			t.Fatalf("%s: emitted %d", tc.utc, r.Emitted)
		}
		s.ContextAt(dst, 0)
		// The step starts on the hour; the test times are mid-hour.
		h, d := tc.hour-0.5, tc.day-0.5/24
		want := []float64{math.Sin(2 * math.Pi * h / 24), math.Cos(2 * math.Pi * h / 24),
			math.Sin(2 * math.Pi * d / 7), math.Cos(2 * math.Pi * d / 7)}
		for i := range want {
			if math.Abs(dst[i]-want[i]) > 1e-12 {
				t.Errorf("%s: feature %d = %v, want %v", tc.utc, i, dst[i], want[i])
			}
		}
		s = newTestSeries(t, Config{Step: time.Hour, Window: 1, Calendar: true, Location: berlin}, 1)
	}
}

func TestSeasonalLags(t *testing.T) {
	cfg := Config{Step: time.Hour, Window: 2, Lags: []time.Duration{24 * time.Hour, 48 * time.Hour}}
	s := newTestSeries(t, cfg, 2)
	ctx := make([]float64, cfg.ContextWidth(2))
	for i := range 60 {
		r := s.Push(smp(time.Duration(i)*time.Hour, float64(i), float64(100+i)))
		if r.Emitted != 1 && i > 0 {
			t.Fatalf("push %d emitted %d", i, r.Emitted)
		}
		if i == 0 {
			continue
		}
		s.ContextAt(ctx, 0)
		k := float64(i - 1) // the emitted step
		want := []float64{k - 24, 100 + k - 24, k - 48, 100 + k - 48}
		// Lags not yet seen fall back to the step's own values.
		if k < 24 {
			want[0], want[1] = k, 100+k
		}
		if k < 48 {
			want[2], want[3] = k, 100+k
		}
		for j := range want {
			if ctx[j] != want[j] {
				t.Fatalf("step %v: context %v, want %v", k, ctx, want)
			}
		}
	}
}

func TestLagResolutionAndGap(t *testing.T) {
	// Two-hour buckets at one-hour steps hold bucket means; a gap longer
	// than the fill limit leaves its buckets empty.
	cfg := Config{Step: time.Hour, Window: 1, Lags: []time.Duration{24 * time.Hour},
		LagResolution: 2 * time.Hour}
	s := newTestSeries(t, cfg, 1)
	ctx := make([]float64, 1)
	for i := range 30 {
		if i >= 4 && i < 8 {
			continue // hours 4..7 missing
		}
		r := s.Push(smp(time.Duration(i)*time.Hour, float64(i)))
		if r.Emitted == 0 {
			continue
		}
		k := int(s.Step(0).Time.Sub(base) / time.Hour)
		s.ContextAt(ctx, 0)
		if k < 24 {
			if ctx[0] != float64(k) {
				t.Errorf("step %d: lag %v, want own value", k, ctx[0])
			}
			continue
		}
		// Step k looks at hour k-24, bucket [2b, 2b+2) with mean 2b+0.5,
		// except buckets 2 and 3 (hours 4..7) that saw no data.
		b := (k - 24) / 2
		want := float64(2*b) + 0.5
		if b == 2 || b == 3 {
			want = float64(k)
		}
		if ctx[0] != want {
			t.Errorf("step %d: lag %v, want %v", k, ctx[0], want)
		}
	}
}

// TestLagPrecision: a series far from zero that varies by small amounts
// (a counter, an epoch time) keeps its lag values exactly; a bucket whose
// steps sum beyond float64 is empty, so the lag falls back to the step's
// own value instead of becoming an infinity in the model's context.
func TestLagPrecision(t *testing.T) {
	cfg := Config{Step: time.Hour, Window: 1, Lags: []time.Duration{2 * time.Hour}}
	s := newTestSeries(t, cfg, 1)
	ctx := make([]float64, 1)
	vals := []float64{1e9 + 1, 1e9 + 2.5, 1e9 + 3, 1e12 + 0.25, 7, 8}
	for i, v := range vals {
		if r := s.Push(smp(time.Duration(i)*time.Hour, v)); r.Emitted != 1 && i > 0 {
			t.Fatalf("push %d emitted %d", i, r.Emitted)
		}
		if i < 3 {
			continue
		}
		k := i - 1 // the emitted step looks at step k-2
		s.ContextAt(ctx, 0)
		if ctx[0] != vals[k-2] {
			t.Errorf("step %d: lag %v, want %v", k, ctx[0], vals[k-2])
		}
	}

	// Two-hour buckets: the mean of 1.5e308 and 1.5e308 overflows its sum.
	cfg.LagResolution, cfg.Lags = 2*time.Hour, []time.Duration{4 * time.Hour}
	s = newTestSeries(t, cfg, 1)
	vals = []float64{1.5e308, 1.5e308, 5, 6, 9, 10, 11, 12}
	// Emitted step k looks 4h back, into bucket (k-4)/2: hours 4 and 5
	// into [0, 2), whose sum overflows, and hour 6 into [2, 4).
	want := map[int]float64{4: 9, 5: 10, 6: 5.5}
	for i, v := range vals {
		s.Push(smp(time.Duration(i)*time.Hour, v))
		w, ok := want[i-1]
		if !ok {
			continue
		}
		s.ContextAt(ctx, 0)
		if ctx[0] != w {
			t.Errorf("step %d: lag %v, want %v", i-1, ctx[0], w)
		}
	}
}
