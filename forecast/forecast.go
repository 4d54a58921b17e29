package forecast

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// Options configures Sample. Zero fields take the defaults given.
type Options struct {
	// Horizon is h, the number of future steps (default 24).
	Horizon int
	// Paths is N, the number of sampled futures (default 1000).
	Paths int
	// Levels are the quantile levels reported, each in (0, 1) and none
	// twice (default 0.05, 0.5, 0.95). They are reported in ascending
	// order, whatever the order given, so that the first and last
	// quantiles bound the band.
	Levels []float64
	// KeepPaths keeps every sampled path in Forecast.Paths.
	KeepPaths bool
	// Seed drives the sampling: one seed, model and history give one
	// forecast, bit for bit.
	Seed uint64
	// Spread, if not nil, widens the paths around their per-step median
	// by its factors (see Spread); it needs a factor for every step.
	Spread *Spread
	// Bound keeps every sampled value within the range of the history
	// (extreme values, see ErrExtremeHistory, left out), widened on each
	// side by Bound times its width (default 1; negative
	// turns the bound off). An affine flow extrapolates linearly, so a
	// path that wanders far from anything seen in training can feed on
	// itself and run off to huge or non-finite values; the bound stops
	// that (a NaN restarts at the middle of the range), and
	// Forecast.Clamped counts how often it did. Without the bound a
	// non-finite sample is an error.
	Bound float64
}

// Limits on Options, so that a request cannot ask for unbounded work.
const (
	MaxHorizon = 10_000
	MaxPaths   = 100_000
)

// DefaultLevels are the quantile levels reported when Options.Levels is
// empty: the median and the edges of the central 90% interval.
var DefaultLevels = []float64{0.05, 0.5, 0.95}

func (o Options) withDefaults() (Options, error) {
	if o.Horizon == 0 {
		o.Horizon = 24
	}
	if o.Paths == 0 {
		o.Paths = 1000
	}
	if o.Bound == 0 {
		o.Bound = 1
	}
	if len(o.Levels) == 0 {
		o.Levels = DefaultLevels
	}
	switch {
	case o.Horizon < 1 || o.Horizon > MaxHorizon:
		return o, fmt.Errorf("forecast: horizon %d: want 1 to %d steps", o.Horizon, MaxHorizon)
	case o.Paths < 1 || o.Paths > MaxPaths:
		return o, fmt.Errorf("forecast: paths %d: want 1 to %d", o.Paths, MaxPaths)
	}
	if o.Spread != nil && len(o.Spread.Scale) < o.Horizon {
		return o, fmt.Errorf("forecast: spread has %d steps, horizon is %d",
			len(o.Spread.Scale), o.Horizon)
	}
	for _, p := range o.Levels {
		if !(p > 0 && p < 1) {
			return o, fmt.Errorf("forecast: quantile level %v not in (0, 1)", p)
		}
	}
	o.Levels = slices.Clone(o.Levels)
	slices.Sort(o.Levels)
	for i := 1; i < len(o.Levels); i++ {
		if o.Levels[i] == o.Levels[i-1] {
			return o, fmt.Errorf("forecast: quantile level %v given twice", o.Levels[i])
		}
	}
	return o, nil
}

// Forecast is the result of Sample, in the series' original units. Values
// of step k (0-based, k = 0 is the first future step) and channel c are at
// index k*Channels + c of each per-step slice.
type Forecast struct {
	// Origin is the time of the newest observed step.
	Origin time.Time `json:"origin"`
	// Times are the times of the future steps.
	Times    []time.Time `json:"times"`
	Channels int         `json:"channels"`
	// Levels are the quantile levels, in the order of Quantiles.
	Levels []float64 `json:"levels"`
	// Quantiles[j] holds the quantile at Levels[j] of every step and
	// channel, estimated from the paths (type 7: linear interpolation
	// between order statistics).
	Quantiles [][]float64 `json:"quantiles"`
	// Mean holds the mean across paths of every step and channel.
	Mean []float64 `json:"mean"`
	// Paths holds N*h*C sampled values, path after path, when
	// Options.KeepPaths is set; nil otherwise.
	Paths []float64 `json:"paths,omitempty"`
	// NumPaths is N.
	NumPaths int `json:"num_paths"`
	// Clamped is the number of sampled values Options.Bound moved.
	Clamped int `json:"clamped"`
	// Warnings say why the forecast may mean little: a history far
	// outside the values the model was trained on (see FarFromTraining),
	// or extreme values left out of the lag context (ErrExtremeHistory).
	Warnings []string `json:"warnings,omitempty"`
}

// At returns the quantile at level index j of step k and channel c.
func (f *Forecast) At(j, k, c int) float64 { return f.Quantiles[j][k*f.Channels+c] }

// ErrShortHistory is returned (wrapped) by Sample when the history does not
// end in W-1 contiguous steps.
var ErrShortHistory = errors.New("forecast: history too short")

// ErrStepMismatch is returned (wrapped) by Sample when the history's steps
// are further apart than the model's grid step: data sampled more coarsely
// than the model's grid leaves a gap between every two steps, so no W-1
// contiguous steps open a forecast.
var ErrStepMismatch = errors.New("forecast: history step differs from the model's")

// Sample draws N future paths of h steps for the series whose grid is h
// (see Grid), from the model's flow, and summarises them. Step by step,
// every path's newest W-1 steps are normalised with the model's
// normaliser, the next step's context is built, and the flow samples the
// next step given both (flowmodel.Flow.SampleSuffix with one step); the
// sample is mapped back to original units and the window slides.
//
// Sample uses the model's flow and its buffers: it must not run
// concurrently with any other use of m (give each goroutine m.Clone()).
// It returns ErrShortHistory (wrapped) when h does not end in W-1
// contiguous steps (ErrStepMismatch when that is because h's steps are
// further apart than the model's), ErrExtremeHistory (wrapped) when those
// steps hold a value far outside anything the model was trained on (see
// ErrExtremeHistory), and, when Options.Bound is off, an error wrapping
// flowmodel.ErrNonFinite if a path leaves the finite numbers. Every number
// of a forecast it returns is finite: a forecast that left the float64
// range (a flow whose arithmetic overflows) is an error.
func Sample(m *scorer.Model, h History, opt Options) (*Forecast, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	meta := m.Meta()
	feat := meta.Features
	w, c := feat.Window, feat.Channels
	if err := checkHistory(&h, feat.Step, w, c); err != nil {
		return nil, err
	}
	hs := historySpread(&h, c)
	ex := extremesOf(meta, hs)
	if err := checkExtreme(&h, ex, max(w-1, 1), feat.Step, meta); err != nil {
		return nil, err
	}
	cx, err := newContexter(feat, meta.Norm, &h, ex)
	if err != nil {
		return nil, fmt.Errorf("forecast: %w", err)
	}

	n, hz, d, cw := opt.Paths, opt.Horizon, w*c, feat.ContextWidth()
	p := (w - 1) * c
	// win holds every path's current window, normalised; its first W-1
	// steps are the prefix of the next draw.
	win := make([]float64, n*d)
	seed := h.Values[len(h.Values)-p:]
	for r := range n {
		copy(win[r*d+c:r*d+d], seed)
	}
	meta.Norm.Apply(win) // the zero first step normalises harmlessly
	prefix := make([]float64, n*p)
	ctx := make([]float64, n*cw)
	paths := make([]float64, n*hz*c) // raw, path-major
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6f7265636173))
	flow := m.Flow()
	last := h.Times[len(h.Times)-1]
	lastRaw := h.Values[len(h.Values)-c:]

	fc := &Forecast{Origin: last, Channels: c, NumPaths: n,
		Levels: slices.Clone(opt.Levels), Warnings: farFromTraining(hs, meta.Norm)}
	lo, hi := bounds(h.Values, c, opt.Bound, meta.Norm.Apply, ex)
	for k := range hz {
		t := last.Add(time.Duration(k+1) * feat.Step)
		fc.Times = append(fc.Times, t)
		cx.prepare(t.UnixNano())
		for r := range n {
			copy(prefix[r*p:(r+1)*p], win[r*d+c:r*d+d])
			path := paths[r*hz*c : (r+1)*hz*c]
			prev := lastRaw
			if k > 0 {
				prev = path[(k-1)*c : k*c]
			}
			cx.write(ctx[r*cw:(r+1)*cw], t.UnixNano(), path, k, prev)
		}
		_, err := flow.SampleSuffix(win, prefix, 1, ctx, rng)
		if err != nil && (opt.Bound < 0 || !errors.Is(err, flowmodel.ErrNonFinite)) {
			return nil, fmt.Errorf("forecast: step %d: %w", k+1, err)
		}
		for r := range n {
			step := win[r*d+d-c : r*d+d]
			for ch, v := range step {
				if math.IsNaN(v) {
					// Overflow inside the flow: the path has left anything
					// the model knows; restart it from the bound's middle.
					v = (lo[ch] + hi[ch]) / 2
					step[ch] = v
					fc.Clamped++
				}
				if v < lo[ch] || v > hi[ch] {
					step[ch] = min(max(v, lo[ch]), hi[ch])
					fc.Clamped++
				}
			}
			out := paths[r*hz*c+k*c : r*hz*c+(k+1)*c]
			copy(out, step)
			meta.Norm.Invert(out)
		}
	}
	if opt.Spread != nil {
		widen(paths, n, hz, c, opt.Spread)
	}
	summarise(fc, paths, hz, opt.Levels)
	if opt.KeepPaths {
		fc.Paths = paths
	}
	fc.Warnings = append(fc.Warnings, cx.leftOutWarnings(h.Times)...)
	if err := checkFinite(fc); err != nil {
		return nil, err
	}
	return fc, nil
}

// bounds returns, per channel, the normalised range of the history values
// widened by bound times its width on each side; infinite when bound is
// negative. Extreme values are left out: one glitch of 1e300 would
// otherwise widen the bound to where it bounds nothing.
func bounds(values []float64, c int, bound float64, norm func([]float64),
	ex extremes) (lo, hi []float64) {
	lo, hi = make([]float64, c), make([]float64, c)
	for ch := range c {
		lo[ch], hi[ch] = math.Inf(1), math.Inf(-1)
	}
	row := make([]float64, c)
	for i := 0; i < len(values); i += c {
		copy(row, values[i:i+c])
		norm(row)
		for ch, v := range row {
			if !ex.is(ch, values[i+ch]) {
				lo[ch], hi[ch] = min(lo[ch], v), max(hi[ch], v)
			}
		}
	}
	for ch := range c {
		w := hi[ch] - lo[ch]
		if bound < 0 {
			lo[ch], hi[ch] = math.Inf(-1), math.Inf(1)
			continue
		}
		// A constant history still leaves room: one normalised unit.
		w = max(w, 1)
		lo[ch], hi[ch] = lo[ch]-bound*w, hi[ch]+bound*w
	}
	return lo, hi
}

// checkHistory verifies that h ends in W-1 steps one grid step apart.
func checkHistory(h *History, step time.Duration, w, c int) error {
	if len(h.Values) != len(h.Times)*c {
		return fmt.Errorf("forecast: history has %d values for %d steps of %d channels",
			len(h.Values), len(h.Times), c)
	}
	need := max(w-1, 1)
	if len(h.Times) < need {
		return fmt.Errorf("%w: %d steps, need %d", ErrShortHistory, len(h.Times), need)
	}
	for i := len(h.Times) - need + 1; i < len(h.Times); i++ {
		if h.Times[i].Sub(h.Times[i-1]) != step {
			if typical := scorer.MedianGap(h.Times); typical > step {
				return fmt.Errorf("%w: the history's steps are %v apart (median), the "+
					"model's grid step is %v, so the newest %d steps are not contiguous: "+
					"give history sampled every %v, or use a model fitted at %v",
					ErrStepMismatch, typical, step, need, step, typical)
			}
			return fmt.Errorf("%w: the newest %d steps are not contiguous at %v",
				ErrShortHistory, need, step)
		}
	}
	return nil
}

// Thresholds of FarFromTraining, in the model's robust units: a model's
// windows are normalised to a median of 0 and a robust spread of 1, and
// a history that sits 10 of those from the training median, or spreads
// 10 times as wide, is in a range the flow has not seen.
const (
	FarZ      = 10.0
	FarSpread = 10.0
)

// FarFromTraining compares, per channel, the history's robust location and
// spread (median, and 1.4826 times the median absolute deviation) with the
// model's normaliser, fitted on its training data, and returns a warning
// for each channel whose median lies more than FarZ training scales from
// the training median (robust z) or whose spread is more than FarSpread
// times the training's. Such a history is in other units or another
// regime than the model knows: the flow's output there is an
// extrapolation, often a band far too narrow or wide, while the bound
// (Forecast.Clamped) may not move a single value.
func FarFromTraining(h History, norm timeseries.Normaliser) []string {
	return farFromTraining(historySpread(&h, norm.Channels()), norm)
}

// spread is a history's own robust centre and spread per channel, by the
// rule the training's were fitted with; ok is false when there is none
// (no history, or a non-finite value, which Sample refuses).
type spread struct {
	timeseries.Normaliser
	ok bool
}

func historySpread(h *History, c int) spread {
	if c == 0 || len(h.Times) == 0 || len(h.Values) != len(h.Times)*c {
		return spread{}
	}
	hn, err := timeseries.FitNormaliser(h.Values, c, timeseries.NormConfig{})
	return spread{hn, err == nil}
}

// farFromTraining is FarFromTraining with the history's spread fitted.
func farFromTraining(hn spread, norm timeseries.Normaliser) []string {
	if !hn.ok {
		return nil
	}
	var out []string
	for ch := range norm.Channels() {
		med, spread := hn.Loc[ch], hn.Scale[ch]
		loc, scale := norm.Loc[ch], norm.Scale[ch]
		z, ratio := (med-loc)/scale, spread/scale
		if !(math.Abs(z) <= FarZ) || !(ratio <= FarSpread) {
			out = append(out, fmt.Sprintf("channel %d: the history is far outside the "+
				"model's training data: its median %.4g is %.3g training scales from the "+
				"training median %.4g (robust z; beyond %g is far) and its spread %.4g is "+
				"%.3g times the training's %.4g (beyond %g is far): the forecast "+
				"extrapolates and its quantiles mean little; forecast with a model "+
				"trained on data like this history", ch, med, z, loc, FarZ, spread, ratio,
				scale, FarSpread))
		}
	}
	return out
}

// summarise fills the quantiles and means of fc from the paths.
func summarise(fc *Forecast, paths []float64, hz int, levels []float64) {
	n, c := fc.NumPaths, fc.Channels
	fc.Mean = make([]float64, hz*c)
	fc.Quantiles = make([][]float64, len(levels))
	for j := range levels {
		fc.Quantiles[j] = make([]float64, hz*c)
	}
	col := make([]float64, n)
	for i := range hz * c {
		var sum float64
		for r := range n {
			col[r] = paths[r*hz*c+i]
			sum += col[r]
		}
		fc.Mean[i] = sum / float64(n)
		if math.IsInf(sum, 0) {
			// Values near math.MaxFloat64 overflow the sum, not the mean.
			sum = 0
			for _, v := range col {
				sum += v / float64(n)
			}
			fc.Mean[i] = sum
		}
		slices.Sort(col)
		for j, p := range levels {
			fc.Quantiles[j][i] = Quantile(col, p)
		}
	}
}

// widen applies sp to every step and channel of the paths.
func widen(paths []float64, n, hz, c int, sp *Spread) {
	col := make([]float64, n)
	for k := range hz {
		for ch := range c {
			i := k*c + ch
			for r := range n {
				col[r] = paths[r*hz*c+i]
			}
			slices.Sort(col)
			m, s := Quantile(col, 0.5), sp.Scale[k]
			for r := range n {
				paths[r*hz*c+i] = m + s*(paths[r*hz*c+i]-m)
			}
		}
	}
}
