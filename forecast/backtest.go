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
	// CalibFrom, when positive, is the index of the first held-out origin
	// used to fit a Spread: origins CalibFrom, CalibFrom+CalibStride, ...
	// whose horizon ends by First. They must lie in data the model did not
	// train on. The report then also scores the widened forecasts.
	CalibFrom int
	// CalibStride is the step between held-out origins (default Stride/4).
	CalibStride int
	// Pool is the number of neighbouring steps on each side whose scores
	// are pooled to fit a step's spread factor (default 2).
	Pool int
	// Online, with CalibFrom, refits the spread before every origin with
	// the scores of the earlier origins whose outcomes are known by then,
	// as a running forecaster can.
	Online bool
	// Recent, when positive, keeps only the newest Recent scores per step
	// for the spread, so that it follows changes in volatility.
	Recent int
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
	// Widened scores the same forecasts widened by Spread; it and Spread
	// are set only when BacktestOptions.CalibFrom is.
	Widened *Score  `json:"widened,omitempty"`
	Spread  *Spread `json:"spread,omitempty"`
	// Skipped is the number of origins left out because their window,
	// horizon or baseline season crosses a restart of the grid.
	Skipped int `json:"skipped"`
	// Unscorable is the number of origins left out because a value they
	// need is extreme (see ErrExtremeHistory): in the steps the flow
	// starts from, among the outcomes, or the baseline's season-ago
	// values. FirstUnscorable says why for the first of them.
	Unscorable      int    `json:"unscorable"`
	FirstUnscorable string `json:"first_unscorable,omitempty"`
	// CalibOrigins is the number of held-out origins Spread was fitted on.
	CalibOrigins int `json:"calib_origins,omitempty"`
	// Naive scores the seasonal-naive baseline with bootstrapped seasonal
	// differences (SeasonalNaive).
	Naive Score `json:"naive"`
	// NaivePointCRPS is the CRPS of the plain seasonal-naive point
	// forecast, which equals its mean absolute error.
	NaivePointCRPS float64 `json:"naive_point_crps"`
	// Clamped is the number of sampled values Options.Bound moved, over
	// every origin.
	Clamped int `json:"clamped"`
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
// naive baseline on the same origins. The history may have restarts (gaps
// longer than the grid fills); an origin whose horizon, window or
// baseline season would cross one is skipped and counted. Cancelling ctx
// stops between origins with ctx's error.
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
	hz := opt.Horizon
	lag := opt.Season * ((hz + opt.Season - 1) / max(opt.Season, 1))
	runs := runLengths(h, feat.Step)
	// An origin o is usable when the steps from o-need through o+hz are
	// one contiguous run.
	need := max(feat.Window, lag)
	usable := func(o int) bool { return runs[o+hz] >= need+hz+1 }
	if opt.Season < 1 || opt.First < max(feat.Window, lag) || opt.Stride < 1 ||
		opt.First+hz >= h.Len() {
		return BacktestReport{}, errors.New("forecast: backtest: need a season, and a " +
			"first origin with a window and a season before it and a horizon after it")
	}

	rep := BacktestReport{Horizon: hz, Paths: opt.Paths, Level: opt.Level,
		Season: opt.Season}
	var sp *Spread
	var sf *spreadFitter
	if opt.CalibFrom > 0 {
		var err error
		if sf, rep.CalibOrigins, err = heldOutScores(ctx, m, h, &opt, usable); err != nil {
			return BacktestReport{}, err
		}
		s, err := sf.fit(opt.Pool)
		if err != nil {
			return BacktestReport{}, err
		}
		sp, rep.Spread = &s, &s
	}
	// pending holds the outcomes' scores of origins not yet known.
	type pendingScore struct {
		due    int // index of the last outcome
		k      int
		sorted []float64
		y      float64
	}
	var pending []pendingScore
	flow, naive, wide := newAcc(hz), newAcc(hz), newAcc(hz)
	ex := extremesOf(m.Meta(), historySpread(&h, m.Meta().Features.Channels))
	var pointAbs float64
	var pointN int
	nv := SeasonalNaive{Season: opt.Season}
	channel := make([]float64, h.Len())
	col := make([]float64, opt.Paths)
	start := time.Now()
	bases := make([][][]float64, c)
	for o := opt.First; o+hz < h.Len(); o += opt.Stride {
		if err := ctx.Err(); err != nil {
			return BacktestReport{}, err
		}
		if !usable(o) {
			rep.Skipped++
			continue
		}
		// The baseline sees the contiguous run ending at the origin only.
		from := o + 1 - runs[o]
		why := unscorable(h, o, hz, ex)
		for ch := range c {
			if why != "" {
				break
			}
			for i := from; i <= o; i++ {
				channel[i] = h.Values[i*c+ch]
			}
			base, err := nv.Forecast(channel[from:o+1], hz)
			if err != nil {
				return BacktestReport{}, err
			}
			bases[ch], why = cleanBaseline(base, ch, ex)
			for k := 0; k < hz && why == ""; k++ {
				if p := nv.Point(channel[from:o+1], k+1); ex.is(ch, p) {
					why = fmt.Sprintf("the seasonal-naive point forecast of step %d "+
						"(channel %d) copies the extreme value %v", k+1, ch, p)
				}
			}
		}
		var fc *Forecast
		if why == "" {
			var err error
			fc, err = Sample(m, h.Slice(0, o+1), Options{Horizon: hz, Paths: opt.Paths,
				KeepPaths: true, Levels: []float64{0.5}, Seed: opt.Seed + uint64(rep.Origins)})
			switch {
			case errors.Is(err, ErrExtremeHistory):
				why = err.Error()
			case err != nil:
				return BacktestReport{}, fmt.Errorf("forecast: backtest origin %v: %w",
					h.Times[o], err)
			}
		}
		if why != "" {
			if rep.Unscorable == 0 {
				rep.FirstUnscorable = fmt.Sprintf("origin %s: %s",
					h.Times[o].Format(time.RFC3339), why)
			}
			rep.Unscorable++
			continue
		}
		rep.Clamped += fc.Clamped
		if sf != nil && opt.Online {
			kept := pending[:0]
			for _, ps := range pending {
				if ps.due <= o {
					sf.add(ps.k, ps.sorted, ps.y)
				} else {
					kept = append(kept, ps)
				}
			}
			pending = kept
			s, err := sf.fit(opt.Pool)
			if err != nil {
				return BacktestReport{}, err
			}
			sp = &s
		}
		for ch := range c {
			for i := from; i <= o; i++ {
				channel[i] = h.Values[i*c+ch]
			}
			for k := range hz {
				y := h.Values[(o+1+k)*c+ch]
				for r := range opt.Paths {
					col[r] = fc.Paths[(r*hz+k)*c+ch]
				}
				slices.Sort(col)
				flow.add(k, col, y, opt.Level)
				if sp != nil {
					if opt.Online {
						pending = append(pending, pendingScore{due: o + 1 + k, k: k,
							sorted: slices.Clone(col), y: y})
					}
					sp.apply(k, col)
					wide.add(k, col, y, opt.Level)
				}
				naive.add(k, bases[ch][k], y, opt.Level)
				pointAbs += math.Abs(nv.Point(channel[from:o+1], k+1) - y)
				pointN++
			}
		}
		if rep.Origins == 0 {
			rep.From = h.Times[o]
		}
		rep.To = h.Times[o]
		rep.Origins++
	}
	if rep.Origins == 0 {
		msg := fmt.Sprintf("forecast: backtest: no origin could be scored: %d cross a "+
			"restart of the grid, %d are unscorable", rep.Skipped, rep.Unscorable)
		if rep.Unscorable > 0 {
			msg += " (the first, " + rep.FirstUnscorable + ")"
		}
		return BacktestReport{}, errors.New(msg)
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Flow, rep.Naive = flow.score(), naive.score()
	if sp != nil {
		w := wide.score()
		rep.Widened = &w
	}
	rep.NaivePointCRPS = pointAbs / float64(max(pointN, 1))
	if err := rep.checkFinite(); err != nil {
		return BacktestReport{}, err
	}
	return rep, nil
}

// unscorable says why origin o cannot be scored, or "": an outcome of its
// horizon is extreme (see ErrExtremeHistory). A score against a glitch of
// 1e300 is 1e300, and one near math.MaxFloat64 overflows to an infinite
// CRPS; either would be the whole mean, so such origins are counted
// (BacktestReport.Unscorable) and left out, for the flow and the baseline
// alike.
func unscorable(h History, o, hz int, ex extremes) string {
	c := len(ex.lo)
	if i := ex.find(h.Values[(o+1)*c : (o+1+hz)*c]); i >= 0 {
		return fmt.Sprintf("the outcome %v at %s (channel %d) is extreme, more than %g "+
			"ranges outside the model's training values and the history's own: no "+
			"forecast can be scored against it", h.Values[(o+1)*c+i],
			h.Times[o+1+i/c].Format(time.RFC3339), i%c, extremeSpan)
	}
	return ""
}

// cleanBaseline leaves out of the seasonal-naive samples of channel ch
// those that are extreme: a seasonal difference across a glitch adds the
// glitch to a sample, and the bootstrap goes on from the clean ones. When
// every sample of a step is extreme (the season-ago value the point
// forecast copies is the glitch) the baseline has no forecast, and it
// says why.
func cleanBaseline(base [][]float64, ch int, ex extremes) ([][]float64, string) {
	for k, s := range base {
		kept := s[:0]
		for _, v := range s {
			if !ex.is(ch, v) {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Sprintf("every seasonal-naive sample of step %d (channel %d) "+
				"is extreme: the value a season before it is", k+1, ch)
		}
		base[k] = kept
	}
	return base, ""
}

// checkFinite refuses a report holding a number JSON cannot carry.
func (rep *BacktestReport) checkFinite() error {
	check := func(what string, v ...float64) error {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("forecast: backtest: the %s is %v: a forecast or an "+
					"outcome left the float64 range", what, x)
			}
		}
		return nil
	}
	scores := []struct {
		name string
		s    *Score
	}{{"flow's score", &rep.Flow}, {"baseline's score", &rep.Naive},
		{"widened score", rep.Widened}}
	for _, sc := range scores {
		if sc.s == nil {
			continue
		}
		if err := check(sc.name, append([]float64{sc.s.CRPS, sc.s.MAE, sc.s.Coverage},
			sc.s.CRPSByStep...)...); err != nil {
			return err
		}
	}
	if rep.Spread != nil {
		// A degenerate interval that misses its outcome scores +Inf
		// (spreadFitter.add); the factor it picks is then infinite.
		if err := check("spread factor", rep.Spread.Scale...); err != nil {
			return err
		}
	}
	return check("seasonal-naive point CRPS", rep.NaivePointCRPS)
}

// heldOutScores collects the conformal scores of the held-out origins of
// opt.
func heldOutScores(ctx context.Context, m *scorer.Model, h History,
	opt *BacktestOptions, usable func(int) bool) (*spreadFitter, int, error) {
	hz, c := opt.Horizon, m.Meta().Features.Channels
	if opt.CalibStride == 0 {
		opt.CalibStride = max(1, opt.Stride/4)
	}
	if opt.Pool == 0 {
		opt.Pool = 2
	}
	if opt.CalibFrom < m.Meta().Features.Window || opt.CalibFrom+hz > opt.First {
		return nil, 0, errors.New("forecast: backtest: held-out origins must have a " +
			"window before them and end by the first origin")
	}
	sf := newSpreadFitter(hz, opt.Level)
	sf.keep = opt.Recent
	ex := extremesOf(m.Meta(), historySpread(&h, m.Meta().Features.Channels))
	col := make([]float64, opt.Paths)
	n := 0
	for o := opt.CalibFrom; o+hz <= opt.First; o += opt.CalibStride {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		if !usable(o) || unscorable(h, o, hz, ex) != "" {
			continue
		}
		fc, err := Sample(m, h.Slice(0, o+1), Options{Horizon: hz, Paths: opt.Paths,
			KeepPaths: true, Levels: []float64{0.5}, Seed: opt.Seed + 1<<40 + uint64(n)})
		if errors.Is(err, ErrExtremeHistory) {
			continue // as the scored origins do
		}
		if err != nil {
			return nil, 0, fmt.Errorf("forecast: backtest held-out origin %v: %w",
				h.Times[o], err)
		}
		for ch := range c {
			for k := range hz {
				for r := range opt.Paths {
					col[r] = fc.Paths[(r*hz+k)*c+ch]
				}
				slices.Sort(col)
				sf.add(k, col, h.Values[(o+1+k)*c+ch])
			}
		}
		n++
	}
	return sf, n, nil
}

// runLengths returns, for each step, the number of steps in the contiguous
// run (one grid step apart) that ends there, itself included.
func runLengths(h History, step time.Duration) []int {
	runs := make([]int, h.Len())
	for i := range runs {
		runs[i] = 1
		if i > 0 && h.Times[i].Sub(h.Times[i-1]) == step {
			runs[i] = runs[i-1] + 1
		}
	}
	return runs
}
