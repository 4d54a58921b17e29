package forecast

import (
	"context"
	"math"
	"testing"
)

func TestSeasonalNaive(t *testing.T) {
	// Period 4 plus a trend of 1 per season: every seasonal difference is 1.
	y := make([]float64, 20)
	for i := range y {
		y[i] = float64(i%4*10) + float64(i/4)
	}
	nv := SeasonalNaive{Season: 4, Residuals: 8}
	fc, err := nv.Forecast(y, 6)
	if err != nil {
		t.Fatal(err)
	}
	// Step k after the end (index 19 + k) copies index 19+k-4 (k <= 4) or
	// 19+k-8 (k = 5, 6), and adds the differences at lag 4 or 8 of the
	// last 8 steps: all 1 at lag 4, all 2 at lag 8.
	want := []float64{y[16] + 1, y[17] + 1, y[18] + 1, y[19] + 1, y[16] + 2, y[17] + 2}
	for k, s := range fc {
		if len(s) != 8 || s[0] != want[k] || s[7] != want[k] {
			t.Errorf("step %d: samples %v, want 8 times %v", k+1, s, want[k])
		}
		if p := nv.Point(y, k+1); p != want[k]-float64(1+k/4) {
			t.Errorf("step %d: point %v, want %v", k+1, p, want[k]-float64(1+k/4))
		}
	}
	if _, err := nv.Forecast(y[:5], 6); err == nil {
		t.Error("5 steps of history accepted for a horizon needing 9")
	}
}

// TestBacktestAR1 backtests the AR(1) flow on a fresh realisation of the
// process and compares its CRPS with that of the exact predictive
// distribution on the same origins, the best any forecaster can do on
// average. The flow's CRPS must be within 3% of it (the models' quantile
// errors of up to 0.1 sd cost about 1%; 200 paths add about 0.5%); the
// naive baseline (season 1: the last value, spread from one-step
// differences) must be worse by a clear margin, and the 90% interval must
// cover between 85% and 95% of outcomes.
func TestBacktestAR1(t *testing.T) {
	m := ar1Model(t)
	hist, err := Grid(arSamples(2000, 99), m.Meta().Features)
	if err != nil {
		t.Fatal(err)
	}
	const hz = 10
	opt := BacktestOptions{Horizon: hz, Paths: 200, First: 20, Stride: 10, Season: 1,
		Seed: 5}
	rep, err := Backtest(context.Background(), m, hist, opt)
	if err != nil {
		t.Fatal(err)
	}
	var exact float64
	n := 0
	for o := opt.First; o+hz < hist.Len(); o += opt.Stride {
		x0 := hist.Values[o]
		for k := 1; k <= hz; k++ {
			h := float64(k)
			mu := math.Pow(arPhi, h) * x0
			sd := arSigma * math.Sqrt((1-math.Pow(arPhi, 2*h))/(1-arPhi*arPhi))
			exact += crpsNormal(mu, sd, hist.Values[o+k])
			n++
		}
	}
	exact /= float64(n)
	t.Logf("origins %d: CRPS flow %.4f exact %.4f naive %.4f naive point %.4f; "+
		"coverage flow %.3f naive %.3f; MAE flow %.4f naive %.4f", rep.Origins,
		rep.Flow.CRPS, exact, rep.Naive.CRPS, rep.NaivePointCRPS, rep.Flow.Coverage,
		rep.Naive.Coverage, rep.Flow.MAE, rep.Naive.MAE)
	if rep.Origins != 197 { // origins 20, 30, ..., 1980
		t.Errorf("%d origins, want 197", rep.Origins)
	}
	if rep.Flow.CRPS > 1.03*exact {
		t.Errorf("flow CRPS %.4f more than 3%% above the exact %.4f", rep.Flow.CRPS, exact)
	}
	if rep.Flow.CRPS > 0.9*rep.Naive.CRPS {
		t.Errorf("flow CRPS %.4f not 10%% below naive %.4f", rep.Flow.CRPS, rep.Naive.CRPS)
	}
	if c := rep.Flow.Coverage; c < 0.85 || c > 0.95 {
		t.Errorf("90%% interval coverage %.3f", c)
	}
	if rep.Flow.CRPSByStep[0] >= rep.Flow.CRPSByStep[hz-1] {
		t.Errorf("CRPS one step ahead %.3f not below %d steps ahead %.3f",
			rep.Flow.CRPSByStep[0], hz, rep.Flow.CRPSByStep[hz-1])
	}
}

// TestBacktestGap cuts ten steps out of the history: the two origins whose
// window or horizon would cross the cut are skipped, the others scored.
func TestBacktestGap(t *testing.T) {
	m := ar1Model(t)
	full, err := Grid(arSamples(2000, 99), m.Meta().Features)
	if err != nil {
		t.Fatal(err)
	}
	var h History
	h.Times = append(append(h.Times, full.Times[:500]...), full.Times[510:]...)
	h.Values = append(append(h.Values, full.Values[:500]...), full.Values[510:]...)
	rep, err := Backtest(context.Background(), m, h, BacktestOptions{Horizon: 10,
		Paths: 50, First: 20, Stride: 10, Season: 1, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Candidates 20, 30, ..., 1970; 490 reaches past the cut and 500 has
	// no window before it (it is the first step after the cut).
	if rep.Skipped != 2 || rep.Origins != 194 {
		t.Fatalf("skipped %d, scored %d origins; want 2 and 194", rep.Skipped, rep.Origins)
	}
}
