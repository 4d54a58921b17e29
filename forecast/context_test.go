package forecast

import (
	"math"
	"testing"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// TestContextMatchesTimeseries checks that the context of a step built by
// the forecaster from the steps before it equals the one timeseries builds
// online for the same step, which is what the flow was trained on.
func TestContextMatchesTimeseries(t *testing.T) {
	f := scorer.Features{Window: 4, Channels: 2, Step: 30 * time.Minute, Calendar: true,
		TimeZone: "Europe/Paris", Lags: []time.Duration{3 * time.Hour, 24 * time.Hour},
		LagResolution: time.Hour}
	id := timeseries.NewSeriesID("ctx", nil)
	start := time.Date(2024, 3, 28, 0, 0, 0, 0, time.UTC) // spans a DST change
	var samples []timeseries.Sample
	for i := range 4 * 48 {
		ts := start.Add(time.Duration(i) * 30 * time.Minute)
		samples = append(samples, timeseries.Sample{Series: id, Time: ts,
			Values: []float64{math.Sin(float64(i) / 5), float64(i % 7)}})
	}
	win, _, err := f.Build([][]timeseries.Sample{samples}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := Grid(samples, f)
	if err != nil {
		t.Fatal(err)
	}
	norm := timeseries.Normaliser{Loc: []float64{0.5, 3}, Scale: []float64{2, 4}}
	cw := f.ContextWidth()
	got := make([]float64, cw)
	checked := 0
	for i := 0; i < win.Len(); i += 7 {
		if win.Time[i].Before(start.Add(25 * time.Hour)) {
			// The lag buckets are empty and timeseries falls back to the
			// step's own values, which a forecast cannot know; tested below.
			continue
		}
		want := append([]float64(nil), win.Context[i*cw:(i+1)*cw]...)
		norm.Apply(want[timeseries.CalendarWidth:])
		// The history the forecaster would have: every step before this one.
		j := 0
		for hist.Times[j].Before(win.Time[i]) {
			j++
		}
		before := hist.Slice(0, j)
		cx, err := newContexter(f, norm, &before, noExtremes(2))
		if err != nil {
			t.Fatal(err)
		}
		tn := win.Time[i].UnixNano()
		cx.prepare(tn)
		cx.write(got, tn, nil, 0, before.Values[len(before.Values)-2:])
		for k := range got {
			if math.Abs(got[k]-want[k]) > 1e-12 {
				t.Fatalf("step %v: context[%d] = %v, timeseries gives %v", win.Time[i], k,
					got[k], want[k])
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d steps checked", checked)
	}

	// With no lagged data the forecaster takes the previous step instead.
	first := hist.Slice(0, 3)
	cx, err := newContexter(f, norm, &first, noExtremes(2))
	if err != nil {
		t.Fatal(err)
	}
	tn := hist.Times[3].UnixNano()
	cx.prepare(tn)
	prev := []float64{4.5, 7}
	cx.write(got, tn, nil, 0, prev)
	lag := got[timeseries.CalendarWidth:]
	if lag[0] != 2 || lag[1] != 1 || lag[2] != 2 || lag[3] != 1 {
		t.Fatalf("fallback lag values %v, want the normalised previous step [2 1 2 1]", lag)
	}

	// A lag bucket after the origin is the path's own: step k = 7 is 4h
	// after the newest observed step (on the hour), so its 3h lag is the
	// bucket [origin+1h, origin+2h), sampled steps 1 and 2.
	last := hist.Times[48]
	if last.Minute() != 0 {
		t.Fatalf("test setup: step 48 at %v, want on the hour", last)
	}
	upTo := hist.Slice(0, 49)
	cx, err = newContexter(f, norm, &upTo, noExtremes(2))
	if err != nil {
		t.Fatal(err)
	}
	path := make([]float64, 2*8)
	for s := range 8 {
		path[2*s], path[2*s+1] = float64(10*s), float64(-s)
	}
	tn = last.Add(4 * time.Hour).UnixNano()
	cx.prepare(tn)
	cx.write(got, tn, path, 7, path[12:14])
	lag = got[timeseries.CalendarWidth:]
	if want0, want1 := (15-0.5)/2, (-1.5-3)/4; lag[0] != want0 || lag[1] != want1 {
		t.Fatalf("in-path lag %v, want the normalised mean of steps 1 and 2 (%v, %v)",
			lag[:2], want0, want1)
	}
}

// noExtremes bounds nothing: every finite value of c channels is ordinary.
func noExtremes(c int) extremes {
	ex := extremes{lo: make([]float64, c), hi: make([]float64, c)}
	for ch := range c {
		ex.lo[ch], ex.hi[ch] = math.Inf(-1), math.Inf(1)
	}
	return ex
}
