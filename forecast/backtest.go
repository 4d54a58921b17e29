package forecast

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flowguard/flowguard/scorer"
)

// BacktestOptions configures Backtest.
type BacktestOptions struct {
	// Horizon is h, the steps forecast from each origin (default 48).
	Horizon int
	// Paths is the number of sampled futures per origin (default 200).
	Paths int
	// First is the index, in the history, of the first origin: the newest
	// step the first forecast may see. It must leave the model's window
	// and the baseline's season before it.
	First int
	// Stride is the number of steps between origins (default Horizon).
	Stride int
	// Season is the baseline's season in steps (required).
	Season int
	// Level is the central probability of the interval whose coverage is
	// reported (default 0.9).
	Level float64
	// Seed drives the sampling; origin i uses Seed+i.
	Seed uint64
}

// Score summarises one method over every origin, step and channel. CRPS
// and MAE are in the series' units.
type Score struct {
	// CRPS is the mean CRPS of the method's samples.
	CRPS float64 `json:"crps"`
	// MAE is the mean absolute error of the median.
	MAE float64 `json:"mae"`
	// Coverage is the share of outcomes inside the central interval.
	Coverage float64 `json:"coverage"`
	// CRPSByStep is the mean CRPS at each step ahead (index 0 is one step).
	CRPSByStep []float64 `json:"crps_by_step"`
}

// BacktestReport is the result of Backtest.
type BacktestReport struct {
	Origins int       `json:"origins"`
	Horizon int       `json:"horizon"`
	Paths   int       `json:"paths"`
	Level   float64   `json:"level"`
	Season  int       `json:"season"`
	From    time.Time `json:"from"` // first origin
	To      time.Time `json:"to"`   // last origin
	// Flow scores the model's sampled forecasts.
	Flow Score `json:"flow"`
	// Naive scores the seasonal-naive baseline with bootstrapped seasonal
	// differences (SeasonalNaive).
	Naive Score `json:"naive"`
	// NaivePointCRPS is the CRPS of the plain seasonal-naive point
	// forecast, which equals its mean absolute error.
	NaivePointCRPS float64 `json:"naive_point_crps"`
	// Seconds is the wall time spent sampling the flow's forecasts.
	Seconds float64 `json:"seconds"`
}

// scoreAcc accumulates one method's numbers.
type scoreAcc struct {
	crps, mae float64
	covered   int
	n         int
	byStep    []float64
	stepN     []int
}

func newAcc(h int) *scoreAcc {
	return &scoreAcc{byStep: make([]float64, h), stepN: make([]int, h)}
}

func (a *scoreAcc) add(k int, sorted []float64, y, level float64) {
	c := CRPS(sorted, y)
	a.crps += c
	a.byStep[k] += c
	a.stepN[k]++
	a.mae += math.Abs(Quantile(sorted, 0.5) - y)
	if Covered(sorted, level, y) {
		a.covered++
	}
	a.n++
}

func (a *scoreAcc) score() Score {
	n := float64(max(a.n, 1))
	s := Score{CRPS: a.crps / n, MAE: a.mae / n, Coverage: float64(a.covered) / n,
		CRPSByStep: make([]float64, len(a.byStep))}
	for k := range a.byStep {
		s.CRPSByStep[k] = a.byStep[k] / float64(max(a.stepN[k], 1))
	}
	return s
}

// Backtest evaluates the model's forecasts by rolling origin: from each
// origin it forecasts the next Horizon steps from the history up to the
// origin only, and scores them against what followed, beside the seasonal
// naive baseline on the same origins. The history must be one contiguous
// grid (no restarts) in the model's step. Cancelling ctx stops between
// origins with ctx's error.
func Backtest(ctx context.Context, m *scorer.Model, h History,
	opt BacktestOptions) (BacktestReport, error) {
	if opt.Horizon == 0 {
		opt.Horizon = 48
	}
	if opt.Paths == 0 {
		opt.Paths = 200
	}
	if opt.Stride == 0 {
		opt.Stride = opt.Horizon
	}
	if opt.Level == 0 {
		opt.Level = 0.9
	}
	feat := m.Meta().Features
	c := feat.Channels
	for i := 1; i < h.Len(); i++ {
		if h.Times[i].Sub(h.Times[i-1]) != feat.Step {
			return BacktestReport{}, fmt.Errorf("forecast: backtest: history not contiguous "+
				"at %v", h.Times[i])
		}
	}
	hz := opt.Horizon
	lag := opt.Season * ((hz + opt.Season - 1) / max(opt.Season, 1))
	if opt.Season < 1 || opt.First < max(feat.Window, lag) || opt.Stride < 1 ||
		opt.First+hz >= h.Len() {
		return BacktestReport{}, errors.New("forecast: backtest: need a season, and a " +
			"first origin with a window and a season before it and a horizon after it")
	}

	rep := BacktestReport{Horizon: hz, Paths: opt.Paths, Level: opt.Level,
		Season: opt.Season}
	flow, naive := newAcc(hz), newAcc(hz)
	var pointAbs float64
	var pointN int
	nv := SeasonalNaive{Season: opt.Season}
	channel := make([]float64, h.Len())
	col := make([]float64, opt.Paths)
	start := time.Now()
	for o := opt.First; o+hz < h.Len(); o += opt.Stride {
		if err := ctx.Err(); err != nil {
			return BacktestReport{}, err
		}
		fc, err := Sample(m, h.Slice(0, o+1), Options{Horizon: hz, Paths: opt.Paths,
			KeepPaths: true, Levels: []float64{0.5}, Seed: opt.Seed + uint64(rep.Origins)})
		if err != nil {
			return BacktestReport{}, fmt.Errorf("forecast: backtest origin %v: %w",
				h.Times[o], err)
		}
		for ch := range c {
			for i := range o + 1 {
				channel[i] = h.Values[i*c+ch]
			}
			base, err := nv.Forecast(channel[:o+1], hz)
			if err != nil {
				return BacktestReport{}, err
			}
			for k := range hz {
				y := h.Values[(o+1+k)*c+ch]
				for r := range opt.Paths {
					col[r] = fc.Paths[(r*hz+k)*c+ch]
				}
				slices.Sort(col)
				flow.add(k, col, y, opt.Level)
				naive.add(k, base[k], y, opt.Level)
				pointAbs += math.Abs(nv.Point(channel[:o+1], k+1) - y)
				pointN++
			}
		}
		if rep.Origins == 0 {
			rep.From = h.Times[o]
		}
		rep.To = h.Times[o]
		rep.Origins++
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Flow, rep.Naive = flow.score(), naive.score()
	rep.NaivePointCRPS = pointAbs / float64(max(pointN, 1))
	return rep, nil
}
