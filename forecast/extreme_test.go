package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// glitches are the values of the new-user trial: a series of tens with one
// reading of -1e308, the largest float64 or 1e300.
var glitches = []float64{-1e308, math.MaxFloat64, 1e300}

// TestExtremeInWindow: a glitch among the steps a forecast starts from is
// refused with ErrExtremeHistory, naming the value, its time and when
// forecasts resume, instead of paths of -Inf (-1e308) or quantiles all
// equal to 1e298 (1e300) reported as clean.
func TestExtremeInWindow(t *testing.T) {
	m := ar1Model(t)
	for _, g := range glitches {
		h := arGridHistory(200, 1)
		h.Values[198] = g // the newest W-1 = 2 steps are 198 and 199
		fc, err := Sample(m, h, Options{Horizon: 2, Paths: 200, Seed: 1})
		if !errors.Is(err, ErrExtremeHistory) {
			t.Errorf("glitch %v in the window: forecast %+v, err %v; want ErrExtremeHistory",
				g, fc, err)
			continue
		}
		at := h.Times[198].Format(time.RFC3339)
		resume := h.Times[198].Add(2 * time.Minute).Format(time.RFC3339)
		for _, want := range []string{fmt.Sprintf("%v at %s (channel 0)", g, at),
			"forecasts resume from " + resume} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("glitch %v: error %q does not say %q", g, err, want)
			}
		}
		// Once it has left the window the forecast goes on, its bound
		// (see TestExtremeBehindWindow) and numbers untouched by it.
		h.Values = append(h.Values, 0.5, -0.2)
		h.Times = append(h.Times, h.Times[199].Add(time.Minute), h.Times[199].Add(2*time.Minute))
		if _, err := Sample(m, h, Options{Horizon: 2, Paths: 200, Seed: 1}); err != nil {
			t.Errorf("glitch %v three steps back: %v", g, err)
		}
	}
}

// TestExtremeBehindWindow: a glitch older than the window does not stop
// the forecast, and does not widen the bound, which is the range of the
// other history values: with Bound 0.1 every path stays within it, as
// in TestBound, where the glitch would make the bound infinite.
func TestExtremeBehindWindow(t *testing.T) {
	m := ar1Model(t)
	for _, g := range glitches {
		h := arHistory(1) // values from -0.5 to 2: width 2.5
		h.Values[0] = g
		fc, err := Sample(m, h, Options{Horizon: 10, Paths: 200, Seed: 1, Bound: 0.1,
			KeepPaths: true})
		if err != nil {
			t.Fatalf("glitch %v behind the window: %v", g, err)
		}
		lo, hi := -0.5-0.25, 2.0+0.25
		for _, v := range fc.Paths {
			if v < lo-1e-9 || v > hi+1e-9 {
				t.Fatalf("glitch %v behind the window: path value %v outside [%v, %v]",
					g, v, lo, hi)
			}
		}
		if fc.Clamped < 100 {
			t.Errorf("glitch %v: Clamped = %d, want many as in TestBound", g, fc.Clamped)
		}
	}
}

// TestBacktestExtremeOutcome: an origin whose outcomes hold a glitch is
// left out and counted, not averaged in: the trial's backtest printed
// CRPS NaN and its JSON failed. The other origins score as without it.
func TestBacktestExtremeOutcome(t *testing.T) {
	m := ar1Model(t)
	clean, err := Grid(arSamples(300, 99), m.Meta().Features)
	if err != nil {
		t.Fatal(err)
	}
	opt := BacktestOptions{Horizon: 2, Paths: 100, First: 20, Stride: 2, Season: 1, Seed: 5}
	ref, err := Backtest(context.Background(), m, clean, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range glitches {
		h := History{Times: clean.Times, Values: append([]float64(nil), clean.Values...)}
		h.Values[298] = g // the outcome of origin 296 (steps 297, 298)
		rep, err := Backtest(context.Background(), m, h, opt)
		if err != nil {
			t.Fatalf("glitch %v: %v", g, err)
		}
		want := fmt.Sprintf("origin %s: the outcome %v at %s", h.Times[296].Format(
			time.RFC3339), g, h.Times[298].Format(time.RFC3339))
		if rep.Unscorable != 1 || rep.Origins != ref.Origins-1 ||
			!strings.HasPrefix(rep.FirstUnscorable, want) {
			t.Errorf("glitch %v: %d origins, %d unscorable (%q); want %d, 1 (%q...)", g,
				rep.Origins, rep.Unscorable, rep.FirstUnscorable, ref.Origins-1, want)
		}
		// The origins left are the reference's but its last: their mean
		// CRPS is within what one origin of 140 moves it.
		if !(math.Abs(rep.Flow.CRPS-ref.Flow.CRPS) < 0.05*ref.Flow.CRPS) ||
			!(math.Abs(rep.Naive.CRPS-ref.Naive.CRPS) < 0.05*ref.Naive.CRPS) {
			t.Errorf("glitch %v: CRPS flow %v naive %v; without it %v, %v", g,
				rep.Flow.CRPS, rep.Naive.CRPS, ref.Flow.CRPS, ref.Naive.CRPS)
		}
		if b, err := json.Marshal(rep); err != nil || !strings.Contains(string(b),
			`"unscorable":1`) {
			t.Errorf("glitch %v: JSON %.200s, %v", g, b, err)
		}
	}
}
