package timeseries

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// base is a Monday at midnight UTC, so step times are easy to read.
var base = mustTime("2026-03-02T00:00:00Z")

func at(d time.Duration) time.Time { return base.Add(d) }

func smp(d time.Duration, v ...float64) *Sample {
	return &Sample{Series: SeriesID{Name: "m"}, Time: at(d), Values: v}
}

func newTestSeries(t *testing.T, cfg Config, channels int) *Series {
	t.Helper()
	s, err := NewSeries(SeriesID{Name: "m"}, cfg, channels)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// emitted lists the steps of the last call, oldest first.
func emitted(s *Series, r Result) []Step {
	out := make([]Step, r.Emitted)
	for i := range out {
		st := s.Step(r.Emitted - 1 - i)
		st.Values = append([]float64(nil), st.Values...)
		out[i] = st
	}
	return out
}

type wantStep struct {
	at     time.Duration
	v      float64
	filled bool
}

func checkSteps(t *testing.T, label string, got []Step, want []wantStep) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: emitted %d steps %+v, want %d", label, len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if !g.Time.Equal(at(w.at)) || math.Abs(g.Values[0]-w.v) > 1e-12 || g.Filled != w.filled {
			t.Errorf("%s: step %d = {%v %v filled=%t}, want {%v %v filled=%t}",
				label, i, g.Time, g.Values, g.Filled, at(w.at), w.v, w.filled)
		}
	}
}

func TestAggregation(t *testing.T) {
	// Three samples in step 0, the newest arriving first, then one in
	// step 1 closes step 0.
	in := []*Sample{smp(50*time.Second, 5), smp(10*time.Second, 1), smp(30*time.Second, 3)}
	tests := []struct {
		agg  Aggregation
		want float64
	}{
		{AggMean, 3}, {AggLast, 5}, {AggSum, 9}, {AggMax, 5},
	}
	for _, tc := range tests {
		s := newTestSeries(t, Config{Step: time.Minute, Window: 2, Lateness: time.Minute,
			Aggregation: tc.agg}, 1)
		for _, x := range in {
			if r := s.Push(x); r.Reason != ReasonNone || r.Emitted != 0 {
				t.Fatalf("agg %d: push %v = %+v", tc.agg, x.Time, r)
			}
		}
		r := s.Push(smp(2*time.Minute+time.Second, 7))
		checkSteps(t, "agg", emitted(s, r), []wantStep{{0, tc.want, false}})
		if st := s.Stats(); st.LateAccepted != 2 || st.Accepted != 4 {
			t.Errorf("agg %d: stats %+v, want 2 late of 4", tc.agg, st)
		}
	}
}

func TestLateness(t *testing.T) {
	s := newTestSeries(t, Config{Step: time.Minute, Window: 2, Lateness: 2 * time.Minute,
		MaxFill: 5}, 1)
	steps := []struct {
		in      *Sample
		reason  Reason
		emitted []wantStep
	}{
		{smp(30*time.Second, 1), ReasonNone, nil},
		// Newest 3:10, so steps ending by 1:10 are final: step 0.
		{smp(3*time.Minute+10*time.Second, 4), ReasonNone, []wantStep{{0, 1, false}}},
		// 1:30 is 1:40 late, within 2m: it updates step 1.
		{smp(90*time.Second, 2), ReasonNone, nil},
		// 0:50 belongs to step 0, already final.
		{smp(50*time.Second, 9), ReasonTooLate, nil},
		// Newest 5:00 makes steps 1 and 2 final; 2 is empty and stays
		// pending until a later step shows whether it is a gap.
		{smp(5*time.Minute, 6), ReasonNone, []wantStep{{time.Minute, 2, false}}},
		// Newest 6:30 makes 3 final; the empty step 2 is filled.
		{smp(6*time.Minute+30*time.Second, 7), ReasonNone,
			[]wantStep{{2 * time.Minute, 2, true}, {3 * time.Minute, 4, false}}},
	}
	for i, st := range steps {
		r := s.Push(st.in)
		if r.Reason != st.reason {
			t.Fatalf("push %d: reason %v, want %v", i, r.Reason, st.reason)
		}
		checkSteps(t, "push", emitted(s, r), st.emitted)
	}
	r := s.Flush()
	checkSteps(t, "flush", emitted(s, r), []wantStep{{4 * time.Minute, 4, true},
		{5 * time.Minute, 6, false}, {6 * time.Minute, 7, false}})
	if r := s.Push(smp(6*time.Minute+40*time.Second, 1)); r.Reason != ReasonTooLate {
		t.Errorf("push into a flushed step: %v, want too_late", r.Reason)
	}
	want := Stats{Accepted: 5, LateAccepted: 1, TooLate: 2, Steps: 5, GapFilled: 2}
	if got := s.Stats(); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

func TestDuplicates(t *testing.T) {
	s := newTestSeries(t, Config{Step: time.Minute, Window: 1}, 1)
	s.Push(smp(10*time.Second, 2))
	s.Push(smp(10*time.Second, 4))
	r := s.Push(smp(time.Minute, 0))
	checkSteps(t, "grid dup", emitted(s, r), []wantStep{{0, 3, false}})
	if st := s.Stats(); st.Duplicates != 1 || st.Accepted != 3 {
		t.Errorf("grid stats %+v, want 1 duplicate of 3", st)
	}

	a := newTestSeries(t, Config{Window: 2}, 1)
	seq := []struct {
		d      time.Duration
		reason Reason
	}{{0, ReasonNone}, {time.Second, ReasonNone}, {time.Second, ReasonDuplicate},
		{500 * time.Millisecond, ReasonTooLate}, {3 * time.Second, ReasonNone}}
	for _, x := range seq {
		r := a.Push(smp(x.d, float64(x.d)))
		if r.Reason != x.reason {
			t.Errorf("as it comes %v: %v, want %v", x.d, r.Reason, x.reason)
		}
		if x.reason == ReasonNone && (r.Emitted != 1 || !a.Step(0).Time.Equal(at(x.d))) {
			t.Errorf("as it comes %v: %+v, step time %v", x.d, r, a.Step(0).Time)
		}
	}
	if st := a.Stats(); st.DupRejected != 1 || st.TooLate != 1 || st.Steps != 3 {
		t.Errorf("as-it-comes stats %+v", st)
	}
}

func TestGaps(t *testing.T) {
	for _, tc := range []struct {
		fill FillMethod
		want []wantStep
	}{
		{FillCarry, []wantStep{{time.Minute, 10, true}, {2 * time.Minute, 10, true},
			{3 * time.Minute, 40, false}}},
		{FillLinear, []wantStep{{time.Minute, 20, true}, {2 * time.Minute, 30, true},
			{3 * time.Minute, 40, false}}},
	} {
		s := newTestSeries(t, Config{Step: time.Minute, Window: 3, MaxFill: 2, Fill: tc.fill}, 1)
		s.Push(smp(0, 10))
		// A gap of two steps (1 and 2) is filled.
		r := s.Push(smp(3*time.Minute, 40))
		checkSteps(t, "short gap", emitted(s, r), []wantStep{{0, 10, false}})
		r = s.Push(smp(4*time.Minute, 50))
		checkSteps(t, "short gap", emitted(s, r), tc.want)
		if !s.Ready() || !s.Step(0).Ready || s.Step(2).Ready {
			t.Errorf("fill %d: readiness %t %t %t, want window ready at step 3 only",
				tc.fill, s.Ready(), s.Step(0).Ready, s.Step(2).Ready)
		}
		w := make([]float64, 3)
		if !s.Window(w) || w[0] != tc.want[0].v || w[1] != tc.want[1].v || w[2] != 40 {
			t.Errorf("fill %d: window %v", tc.fill, w)
		}
		if !s.FilledAt(1) || !s.FilledAt(2) || s.FilledAt(0) {
			t.Errorf("fill %d: filled flags wrong", tc.fill)
		}
		// A gap of three steps (5, 6, 7) is too long: restart.
		s.Push(smp(8*time.Minute, 80))
		r = s.Push(smp(9*time.Minute, 90))
		checkSteps(t, "long gap", emitted(s, r), []wantStep{{8 * time.Minute, 80, false}})
		if s.Ready() || s.Window(w) {
			t.Errorf("fill %d: ready right after a restart", tc.fill)
		}
		st := s.Stats()
		if st.WindowRestarts != 1 || st.GapFilled != 2 || st.Steps != 4 {
			t.Errorf("fill %d: stats %+v", tc.fill, st)
		}
	}
}

func TestWindowOrder(t *testing.T) {
	// W=3, C=2, with enough pushes to wrap the ring twice.
	s := newTestSeries(t, Config{Step: time.Second, Window: 3}, 2)
	w := make([]float64, 6)
	for i := range 20 {
		s.Push(smp(time.Duration(i)*time.Second, float64(i), float64(-i)))
		ready := s.Window(w)
		if want := i >= 3; ready != want {
			t.Fatalf("push %d: ready %t, want %t", i, ready, want)
		}
		if !ready {
			continue
		}
		// Steps i-3, i-2, i-1 are complete; step i is still open.
		for k := range 3 {
			v := float64(i - 3 + k)
			if w[2*k] != v || w[2*k+1] != -v {
				t.Fatalf("push %d: window %v, want steps %d..%d", i, w, i-3, i-1)
			}
		}
	}
}

func TestCounterReset(t *testing.T) {
	s := newTestSeries(t, Config{Step: time.Minute, Window: 2, Counter: true,
		Aggregation: AggLast, MaxFill: 1, Fill: FillLinear}, 1)
	in := []float64{100, 160, 220, 10, 70}
	var got []float64
	for i, v := range in {
		r := s.Push(smp(time.Duration(i)*time.Minute, v))
		for _, st := range emitted(s, r) {
			got = append(got, st.Values[0])
		}
	}
	// Baseline at 100 emits nothing; then increases of 60/min, a reset
	// whose increase is the new value 10, then 60 again.
	want := []float64{1, 1, 10.0 / 60}
	if len(got) != len(want) {
		t.Fatalf("rates %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("rate %d = %v, want %v", i, got[i], want[i])
		}
	}
	if st := s.Stats(); st.CounterResets != 1 {
		t.Errorf("counter resets %d, want 1", st.CounterResets)
	}
	// Step 4 (70) is emitted when 6:00 arrives; step 5 is missing and
	// filled linearly on the raw counter, 70 -> 130 -> 190, so both the
	// filled step and step 6 carry 60 per minute.
	r := s.Push(smp(6*time.Minute, 190))
	if st := emitted(s, r); len(st) != 1 || math.Abs(st[0].Values[0]-1) > 1e-12 {
		t.Errorf("step 4: %+v, want rate 1", st)
	}
	r = s.Push(smp(7*time.Minute, 200))
	st := emitted(s, r)
	if len(st) != 2 || !st[0].Filled || st[1].Filled || math.Abs(st[0].Values[0]-1) > 1e-12 ||
		math.Abs(st[1].Values[0]-1) > 1e-12 {
		t.Errorf("after gap: %+v, want filled rate 1 then rate 1", st)
	}
}

func TestRejectInvalid(t *testing.T) {
	s := newTestSeries(t, Config{Step: time.Minute, Window: 2}, 2)
	if r := s.Push(smp(0, 1)); r.Reason != ReasonChannels {
		t.Errorf("one value for two channels: %v", r.Reason)
	}
	if r := s.Push(smp(0, 1, math.NaN())); r.Reason != ReasonNonFinite {
		t.Errorf("NaN: %v", r.Reason)
	}
	if r := s.Push(smp(0, math.Inf(-1), 1)); r.Reason != ReasonNonFinite {
		t.Errorf("-Inf: %v", r.Reason)
	}
	if r := s.Push(&Sample{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		Values: []float64{1, 2}}); r.Reason != ReasonBadTime {
		t.Errorf("year 2300: %v", r.Reason)
	}
	if st := s.Stats(); st.Invalid != 4 || st.Accepted != 0 {
		t.Errorf("stats %+v", st)
	}
	if ReasonTooLate.String() != "too_late" || Reason(99).String() != "reason(99)" {
		t.Error("reason names")
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{Window: 0},
		{Window: 1, Step: -time.Second},
		{Window: 1, Step: time.Minute, MaxFill: -1},
		{Window: 1, Step: time.Minute, Lateness: -1},
		{Window: 1, MaxFill: 1},
		{Window: 1, Lateness: time.Second},
		{Window: 1, Step: time.Minute, Aggregation: 9},
		{Window: 1, Step: time.Minute, Fill: 9},
		{Window: 1, Step: time.Minute, Lags: []time.Duration{90 * time.Second}},
		{Window: 1, Step: time.Minute, Lags: []time.Duration{time.Hour}, LagResolution: 90 * time.Second},
		{Window: 1, Lags: []time.Duration{time.Hour}},
		{Window: 1, Step: time.Minute, NormWarmUp: -1},
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("config %d %+v accepted", i, c)
		}
	}
	good := Config{Window: 32, Step: time.Minute, Lags: []time.Duration{24 * time.Hour},
		LagResolution: 15 * time.Minute, Calendar: true}
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
	if n := good.ContextWidth(3); n != 4+3 {
		t.Errorf("context width %d, want 7", n)
	}
}

func timeSec(i int) time.Duration { return time.Duration(i) * time.Second }

func TestAdvance(t *testing.T) {
	s := newTestSeries(t, Config{Step: time.Minute, Window: 1, Lateness: 30 * time.Second}, 1)
	if r := s.Advance(at(time.Hour)); r.Emitted != 0 {
		t.Errorf("advance before any sample emitted %d", r.Emitted)
	}
	s.Push(smp(10*time.Second, 1))
	s.Push(smp(50*time.Second, 3))
	// 1:20 minus 30s lateness is 0:50: step 0 is not over yet.
	if r := s.Advance(at(80 * time.Second)); r.Emitted != 0 {
		t.Errorf("advance to 1:20 emitted %d", r.Emitted)
	}
	r := s.Advance(at(90 * time.Second))
	checkSteps(t, "advance", emitted(s, r), []wantStep{{0, 2, false}})
	if r := s.Push(smp(55*time.Second, 9)); r.Reason != ReasonTooLate {
		t.Errorf("sample in an advanced-over step: %v", r.Reason)
	}
	if r := s.Push(smp(70*time.Second, 4)); r.Reason != ReasonNone {
		t.Errorf("sample after the advance: %v", r.Reason)
	}
}

// A random in-order stream with jitter, repeated times and gaps gives the
// windows of a direct computation: per-step means, linear fill of short
// gaps, restart after long ones. Seeded; values agree to 1e-9 relative
// because the series interpolates incrementally.
func TestGridMatchesDirect(t *testing.T) {
	const (
		w       = 8
		maxFill = 2
		n       = 8000
	)
	r := rand.New(rand.NewPCG(5, 7))
	type agg struct{ sum, n float64 }
	steps := map[int64]*agg{}
	var order []int64
	s := newTestSeries(t, Config{Step: time.Minute, Window: w, MaxFill: maxFill,
		Fill: FillLinear}, 1)
	var got [][]float64
	buf := make([]float64, w)
	collect := func(res Result) {
		for a := res.Emitted - 1; a >= 0; a-- {
			if !s.Step(a).Filled && s.WindowAt(buf, a) {
				got = append(got, slices.Clone(buf))
			}
		}
	}
	tm := int64(0)
	for range n {
		switch x := r.IntN(20); {
		case x == 0:
			tm += int64(r.IntN(5)+2) * int64(time.Minute) // a gap of 1 to 5 steps
		case x < 4:
			// same time again: a duplicate
		default:
			tm += int64(r.IntN(40)) * int64(time.Second)
		}
		v := math.Round(r.NormFloat64()*1000) / 8
		idx := tm / int64(time.Minute)
		if steps[idx] == nil {
			steps[idx] = &agg{}
			order = append(order, idx)
		}
		steps[idx].sum += v
		steps[idx].n++
		collect(s.Push(&Sample{Time: base.Add(time.Duration(tm)), Values: []float64{v}}))
	}
	collect(s.Flush())

	var want [][]float64
	var seq []float64
	for i, idx := range order {
		v := steps[idx].sum / steps[idx].n
		if i > 0 {
			gap := idx - order[i-1] - 1
			if gap > maxFill {
				seq = nil
			} else if gap > 0 {
				last := seq[len(seq)-1]
				for j := int64(1); j <= gap; j++ {
					seq = append(seq, last+(v-last)*float64(j)/float64(gap+1))
				}
			}
		}
		seq = append(seq, v)
		if len(seq) >= w {
			want = append(want, slices.Clone(seq[len(seq)-w:]))
		}
	}
	if len(want) < 1000 || len(got) != len(want) {
		t.Fatalf("%d windows, direct computation gives %d", len(got), len(want))
	}
	for i := range want {
		for k := range want[i] {
			if d := math.Abs(got[i][k] - want[i][k]); d > 1e-9*math.Max(1, math.Abs(want[i][k])) {
				t.Fatalf("window %d = %v, want %v", i, got[i], want[i])
			}
		}
	}
	if st := s.Stats(); st.Duplicates == 0 || st.GapFilled == 0 || st.WindowRestarts == 0 {
		t.Errorf("stream did not exercise duplicates, fills and restarts: %+v", st)
	}
}
