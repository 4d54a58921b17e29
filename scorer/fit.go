package scorer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/timeseries"
)

// Toggle is a three-way switch whose zero value lets Fit decide.
type Toggle int8

// Toggle values.
const (
	Auto Toggle = iota
	On
	Off
)

// Options configures Fit. Zero fields take the defaults documented on
// each, several of which depend on how much data there is.
type Options struct {
	// Group is recorded in Meta.Group.
	Group string
	// Step is the grid spacing; zero infers it as the median spacing of
	// the first series, and Fit returns a *StepMismatchError if another
	// series has a different one. A set Step is taken as it is: samples
	// in no window of its grid, such as all of a series sampled more
	// sparsely than MaxFill can fill, are left out, and
	// Features.Unwindowed counts them.
	Step time.Duration
	// Window is W; zero picks 16, or 8 when there are fewer than
	// ShortSteps samples.
	Window int
	// MaxFill is the longest gap filled, in steps; zero picks 3 and a
	// negative value fills nothing.
	MaxFill int
	// Calendar adds hour-of-day and day-of-week context. Auto turns it on
	// when the data spans at least two weeks, so every weekday is seen
	// twice.
	Calendar Toggle
	// TimeZone is the IANA zone of the calendar terms (default UTC).
	TimeZone string
	// Lags are the seasonal lags offered as context (default none), such
	// as a detector grid's. Fit keeps those the data support (keepLags):
	// a lag that is a positive multiple of Step, when the data, from the
	// earliest to the newest sample of all series, span at least 2*(lag +
	// Step), so at least half of them have one lag of history. The kept
	// lags, in the offered order, are Meta.Features.Lags; windows whose
	// newest step comes less than the longest kept lag after their
	// series' first step are left out of every split (their lag values
	// would be the step itself), besides those Exclude drops. A fit that
	// keeps none has no lag context.
	Lags []time.Duration
	// Spec overrides the flow's shape; Window, Channels and Context are
	// always set by Fit. Zero Hidden and Layers pick 64 and 5, or 32 and 3
	// when data is short; an empty LayerType picks the rational-quadratic
	// spline, whose conditionals need not be Gaussian.
	Spec flowmodel.Spec
	// LinearBase puts flowmodel's linear autoregressive base under the
	// flow (Spec.LinearBase, whatever Spec says): a ridge autoregression of
	// every window value on the earlier ones and the context, fitted in
	// closed form and frozen, with the flow's layers starting at the
	// identity on top of it. Training keeps the best validation weights, so
	// the flow can only improve on the linear model where the validation
	// data agree; on short series a free flow overfits instead. Auto turns
	// it on; Off leaves it out. Train.LinearRidge sets its ridge penalty,
	// and Train.WeightDecay defaults to LinearBaseDecay with it.
	LinearBase Toggle
	// Train configures flowmodel.Train. Zero Epochs picks 60, or 200 when
	// data is short (small epochs, early stopping ends them); zero Patience
	// picks 10, or 25 when data is short; zero BatchSize picks 128, or 64
	// when short. Zero WeightDecay picks LinearBaseDecay over a linear
	// base and none without; a negative value disables decay.
	Train flowmodel.TrainOptions
	// ValidFrac and CalibFrac are the shares of each series' windows, taken
	// in time order after the training part, for validation and
	// calibration (defaults 0.15 and 0.2).
	ValidFrac, CalibFrac float64
	// Exclude, if not nil, reports steps to leave out of training, such as
	// points the detector flagged; every window holding one is dropped.
	Exclude func(id timeseries.SeriesID, t time.Time) bool
	// Seed fixes the flow's initial weights and the minibatch order; one
	// seed gives one model.
	Seed uint64
}

// LinearBaseDecay is the AdamW weight decay Fit uses over a linear base.
// The layers above the base start at the identity, where their output
// weights are zero, so decay pulls them back towards the linear model:
// at the default learning rate (1e-3) it takes 1% of every weight a step,
// and only what the data keep asking for stays. On NAB's development files
// (evaluate, 3 affine layers of 32 units) 3 and 30 did worse than 10.
const LinearBaseDecay = 10

// ShortSteps is the number of samples (all series together) below which
// Fit picks its small defaults: NAB's probation periods (at most 750 rows)
// fall below it.
const ShortSteps = 2000

// Minimum windows per split; below them a fit would not mean much.
const (
	minTrain = 64
	minValid = 16
	minCalib = 32
)

// ErrTooShort is returned by Fit when the data gives too few windows to
// train, validate and calibrate.
var ErrTooShort = errors.New("scorer: not enough data to fit")

func (o Options) withDefaults(steps int, span time.Duration) Options {
	short := steps < ShortSteps
	if o.Window == 0 {
		o.Window = pick(short, 8, 16)
	}
	switch {
	case o.MaxFill == 0:
		o.MaxFill = 3
	case o.MaxFill < 0:
		o.MaxFill = 0
	}
	if o.Calendar == Auto {
		o.Calendar = Off
		if span >= 14*24*time.Hour {
			o.Calendar = On
		}
	}
	if o.LinearBase == Auto {
		o.LinearBase = On
	}
	if o.Spec.Hidden == 0 {
		o.Spec.Hidden = pick(short, 32, 64)
	}
	if o.Spec.LayerType == "" {
		o.Spec.LayerType = flowmodel.LayerSpline
	}
	if o.Spec.Layers == 0 {
		o.Spec.Layers = pick(short, 3, 5)
	}
	switch {
	case o.Train.WeightDecay == 0 && o.LinearBase == On:
		o.Train.WeightDecay = LinearBaseDecay
	case o.Train.WeightDecay < 0:
		o.Train.WeightDecay = 0
	}
	if o.Train.Epochs == 0 {
		o.Train.Epochs = pick(short, 200, 60)
	}
	if o.Train.Patience == 0 {
		o.Train.Patience = pick(short, 25, 10)
	}
	if o.Train.BatchSize == 0 {
		o.Train.BatchSize = pick(short, 64, 128)
	}
	if o.ValidFrac == 0 {
		o.ValidFrac = 0.15
	}
	if o.CalibFrac == 0 {
		o.CalibFrac = 0.2
	}
	return o
}

func pick(short bool, small, large int) int {
	if short {
		return small
	}
	return large
}

// Fit trains a model on series of samples (each slice one series in time
// order, all with the same number of channels): it builds windows with
// Features.Build, splits each series' windows in time into training,
// validation and calibration parts, fits the robust normaliser on the
// training steps, trains a time-ordered flow, and sorts the point scores of
// the calibration windows into the metadata. Calibration windows are used
// for nothing else, so the p-values are valid on data like them.
//
// It returns ErrTooShort (wrapped) when there are too few windows, a
// *StepMismatchError when it is to infer the step and the series have
// different ones, and ctx's error if cancelled during training. The result
// depends only on the data and the options (Seed included).
func Fit(ctx context.Context, series [][]timeseries.Sample, opt Options) (*Model, error) {
	m, _, err := FitHoldout(ctx, series, opt)
	return m, err
}

// FitHoldout is Fit that also returns the raw calibration windows, the
// newest data the model has not been trained on, for comparing it with
// another model (Assess).
func FitHoldout(ctx context.Context, series [][]timeseries.Sample,
	opt Options) (*Model, Windows, error) {
	steps, channels, from, to := summarise(series)
	if steps == 0 {
		return nil, Windows{}, fmt.Errorf("%w: no samples", ErrTooShort)
	}
	opt = opt.withDefaults(steps, to.Sub(from))
	if opt.Step == 0 {
		var err error
		if opt.Step, err = inferStep(series); err != nil {
			return nil, Windows{}, err
		}
	}
	lags, need := keepLags(opt.Lags, opt.Step, to.Sub(from))
	feat := Features{Window: opt.Window, Channels: channels, Step: opt.Step,
		MaxFill: opt.MaxFill, Calendar: opt.Calendar == On, TimeZone: opt.TimeZone,
		Lags: lags}
	all, excluded, err := feat.build(series, opt.Exclude, need)
	if err != nil {
		return nil, Windows{}, err
	}
	sp, err := split(&all, len(series), opt.ValidFrac, opt.CalibFrac)
	if err != nil {
		return nil, Windows{}, err
	}
	train, valid, calib := sp.take(&all, 0), sp.take(&all, 1), sp.take(&all, 2)

	meta := Meta{Format: FormatVersion, Group: opt.Group, Features: feat}
	if meta.Norm, err = fitNorm(train, feat); err != nil {
		return nil, Windows{}, err
	}
	ex := extremeBounds(train, feat, meta.Norm)
	var extreme int
	for _, w := range []*Windows{&train, &valid, &calib} {
		extreme += dropExtreme(w, feat, meta.Norm, ex)
	}
	if extreme > 0 {
		err := checkSplits(train.Len(), valid.Len(), calib.Len(),
			fmt.Sprintf(" after leaving out %d holding extreme values", extreme))
		if err != nil {
			return nil, Windows{}, err
		}
	}
	meta.Data = DataInfo{From: all.Time[0], To: all.Time[0], Series: len(series),
		Samples: steps, Excluded: excluded, Extreme: extreme, Train: train.Len(),
		Valid: valid.Len(), Calib: calib.Len()}
	for _, t := range all.Time {
		meta.Data.From, meta.Data.To = minTime(meta.Data.From, t), maxTime(meta.Data.To, t)
	}
	hold := Windows{X: slices.Clone(calib.X), Context: slices.Clone(calib.Context),
		Time: calib.Time, Series: calib.Series}
	m, err := fitFlow(ctx, meta, opt, train, valid, calib)
	if err != nil {
		return nil, Windows{}, err
	}
	if err := m.fitLevel(series, ex); err != nil {
		return nil, Windows{}, err
	}
	return m, hold, nil
}

// keepLags returns the offered lags a fit on data spanning span keeps (see
// Options.Lags), in the offered order without repeats, and the longest of
// them, the history a window needs before its lag values are real.
//
// The rule is the one the offline evaluation settled on: a lag learnt
// from less than half of the data is noise to the flow, and data shorter
// than two lags cannot tell a seasonal pattern from a one-off. Short data
// (a first model on a few days) thus get the daily lag and not the weekly
// one; refits on longer data get both.
func keepLags(offered []time.Duration, step, span time.Duration) ([]time.Duration,
	time.Duration) {
	var kept []time.Duration
	var need time.Duration
	for _, l := range offered {
		if l <= 0 || step <= 0 || l%step != 0 || slices.Contains(kept, l) {
			continue
		}
		if span >= 2*(l+step) {
			kept = append(kept, l)
			need = max(need, l)
		}
	}
	return kept, need
}

// fitFlow normalises the splits, trains and calibrates.
func fitFlow(ctx context.Context, meta Meta, opt Options, train, valid,
	calib Windows) (*Model, error) {
	feat := meta.Features
	spec := opt.Spec
	spec.Kind = flowmodel.KindTimeOrdered
	spec.LinearBase = opt.LinearBase == On
	spec.Window, spec.Channels, spec.Context = feat.Window, feat.Channels, feat.ContextWidth()
	spec.Hidden = max(spec.Hidden, spec.Window*spec.Channels)
	flow, err := flowmodel.New(spec, opt.Seed)
	if err != nil {
		return nil, fmt.Errorf("scorer: fit: %w", err)
	}
	// A placeholder calibration lets New validate; it is replaced below.
	meta.Calibration = []float64{0}
	m, err := New(flow, meta)
	if err != nil {
		return nil, err
	}
	for _, w := range []*Windows{&train, &valid, &calib} {
		m.normalise(w.X, w.Context)
	}
	topt := opt.Train
	topt.Seed = opt.Seed
	start := time.Now()
	rep, err := flowmodel.Train(ctx, flow,
		flowmodel.Data{X: train.X, Context: train.Context},
		flowmodel.Data{X: valid.X, Context: valid.Context}, topt)
	if err != nil {
		return nil, fmt.Errorf("scorer: fit: %w", err)
	}
	var sc Scores
	if err := m.ScoreNormalised(&sc, calib.X, calib.Context); err != nil {
		return nil, fmt.Errorf("scorer: calibrate: %w", err)
	}
	cal := slices.Clone(sc.Score)
	slices.Sort(cal)
	if math.IsInf(cal[len(cal)-1], 0) {
		return nil, fmt.Errorf("scorer: calibrate: %w: infinite score",
			flowmodel.ErrNonFinite)
	}
	m.meta.Calibration = cal
	if m.cal, err = NewCalibration(cal); err != nil {
		return nil, fmt.Errorf("scorer: calibrate: %w", err)
	}
	m.meta.Report = Report{TrainNLL: rep.FinalTrainNLL, ValidNLL: rep.BestValidNLL,
		CalibScore: mean(cal), Epochs: rep.Epochs, BestEpoch: rep.BestEpoch,
		Stopped: rep.Stopped, Seconds: time.Since(start).Seconds()}
	return m, nil
}

// summarise counts samples and finds the channel count and time span.
func summarise(series [][]timeseries.Sample) (n, channels int, from, to time.Time) {
	for _, ss := range series {
		for i := range ss {
			if n == 0 {
				channels, from, to = len(ss[i].Values), ss[i].Time, ss[i].Time
			}
			n++
			from, to = minTime(from, ss[i].Time), maxTime(to, ss[i].Time)
		}
	}
	return n, channels, from, to
}

// splits holds, for each window, which part it belongs to.
type splits struct{ part []uint8 }

// split assigns each series' windows, in time order, to training (first),
// validation and calibration (last).
func split(all *Windows, nseries int, validFrac, calibFrac float64) (splits, error) {
	counts := make([]int, nseries)
	for _, s := range all.Series {
		counts[s]++
	}
	seen := make([]int, nseries)
	sp := splits{part: make([]uint8, all.Len())}
	var total [3]int
	for i, s := range all.Series {
		n := counts[s]
		nCal := int(math.Round(calibFrac * float64(n)))
		nVal := int(math.Round(validFrac * float64(n)))
		k := seen[s]
		seen[s]++
		switch {
		case k >= n-nCal:
			sp.part[i] = 2
		case k >= n-nCal-nVal:
			sp.part[i] = 1
		}
		total[sp.part[i]]++
	}
	return sp, checkSplits(total[0], total[1], total[2], "")
}

// take copies the windows of one part.
func (sp splits) take(all *Windows, part uint8) Windows {
	d := len(all.X) / max(all.Len(), 1)
	cw := len(all.Context) / max(all.Len(), 1)
	var out Windows
	for i, p := range sp.part {
		if p != part {
			continue
		}
		out.X = append(out.X, all.X[i*d:(i+1)*d]...)
		out.Context = append(out.Context, all.Context[i*cw:(i+1)*cw]...)
		out.Time = append(out.Time, all.Time[i])
		out.Series = append(out.Series, all.Series[i])
	}
	return out
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
