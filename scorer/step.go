package scorer

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

// errNoStep is returned when no grid step can be inferred.
var errNoStep = errors.New("scorer: cannot infer the grid step: no two samples at " +
	"different times")

// StepMismatchError is returned by Fit when Options.Step is zero and the
// series are not sampled at one step. A model has one grid, and on the grid
// of another series a series is either averaged into fewer, coarser steps
// or, sampled more sparsely than MaxFill can fill, left with no window at
// all. Fit refuses rather than reshape or drop data nobody asked it to.
type StepMismatchError struct {
	// First is the index, into Fit's series, of the series the step was
	// inferred from; FirstKey is its key and FirstStep its median spacing.
	First     int
	FirstKey  string
	FirstStep time.Duration
	// Series is the index of the first series whose median spacing, Step,
	// is another step; Key is its key.
	Series int
	Key    string
	Step   time.Duration
}

func (e *StepMismatchError) Error() string {
	return fmt.Sprintf("scorer: series %s has a %s step, %s %s: one model needs one step; "+
		"fit them apart or set Options.Step", e.Key, e.Step, e.FirstKey, e.FirstStep)
}

// inferStep returns the median spacing of the first series that has two
// samples at different times. It returns a *StepMismatchError if another
// series has a different median spacing (sameStep), and errNoStep if no
// series has two such samples.
func inferStep(series [][]timeseries.Sample) (time.Duration, error) {
	first := -1
	var step time.Duration
	for i, ss := range series {
		d := MedianSpacing(ss)
		switch {
		case d == 0:
			continue
		case first < 0:
			first, step = i, d
		case !sameStep(d, step):
			return 0, &StepMismatchError{First: first, FirstKey: series[first][0].Series.Key(),
				FirstStep: step, Series: i, Key: ss[0].Series.Key(), Step: d}
		}
	}
	if first < 0 {
		return 0, errNoStep
	}
	return step, nil
}

// MedianSpacing returns the median of the positive time differences between
// consecutive samples of ss (one series, in time order), the step the
// series was recorded at. It is zero when no two samples differ in time.
func MedianSpacing(ss []timeseries.Sample) time.Duration {
	return medianSpacing(len(ss), func(i int) time.Time { return ss[i].Time })
}

// MedianGap is MedianSpacing for the times of a series' steps.
func MedianGap(times []time.Time) time.Duration {
	return medianSpacing(len(times), func(i int) time.Time { return times[i] })
}

func medianSpacing(n int, at func(int) time.Time) time.Duration {
	var d []time.Duration
	for i := 1; i < n; i++ {
		if dt := at(i).Sub(at(i - 1)); dt > 0 {
			d = append(d, dt)
		}
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// sameStep reports whether two median spacings are one grid step: they
// may differ by a tenth of the longer one, so that clock jitter in live
// data does not split a group, while 5 and 30 minutes, or 1 and 2, differ.
func sameStep(a, b time.Duration) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= max(a, b)/10
}

// Unwindowed returns, for each series (in the order given), how many of its
// samples lie in no window that Build makes from series with these
// features, and so in none that Fit trains, validates or calibrates on
// (Options.Exclude aside). Those are the samples the grid refuses (too
// late, invalid), those in runs of steps shorter than a window between gaps
// longer than MaxFill, and, with Lags, those of the first longest lag of a
// series. A series sampled more sparsely than MaxFill+1 steps has every
// sample unwindowed.
//
// Fit leaves such samples out without error; Unwindowed lets a caller that
// chose the step say so. It needs a grid: Step must be positive.
func (f Features) Unwindowed(series [][]timeseries.Sample) ([]int, error) {
	if f.Step <= 0 {
		return nil, fmt.Errorf("scorer: unwindowed samples: step %s is not a grid", f.Step)
	}
	cfg, err := f.SeriesConfig()
	if err != nil {
		return nil, err
	}
	refused := make([][]bool, len(series))
	b := builder{f: f, win: make([]float64, f.Window*f.Channels),
		ctx: make([]float64, f.ContextWidth()),
		refused: func(s, i int) {
			if refused[s] == nil {
				refused[s] = make([]bool, len(series[s]))
			}
			refused[s][i] = true
		}}
	if len(f.Lags) > 0 {
		b.need = slices.Max(f.Lags) // as Fit builds with the lags it kept
	}
	for i, ss := range series {
		if len(ss) == 0 {
			continue
		}
		if err := b.series(i, ss, cfg); err != nil {
			return nil, err
		}
	}

	// Windows come per series in grid order, so the first one ending at or
	// after a sample's step is the one to cover it if any does.
	ends := make([][]int64, len(series))
	for i, t := range b.out.Time {
		s := b.out.Series[i]
		ends[s] = append(ends[s], t.UnixNano())
	}
	step := int64(f.Step)
	span := int64(f.Window-1) * step
	out := make([]int, len(series))
	for s, ss := range series {
		e := ends[s]
		for i := range ss {
			if refused[s] != nil && refused[s][i] {
				out[s]++
				continue
			}
			g := gridTime(ss[i].Time.UnixNano(), step)
			j := sort.Search(len(e), func(k int) bool { return e[k] >= g })
			if j == len(e) || e[j]-span > g {
				out[s]++
			}
		}
	}
	return out, nil
}

// gridTime is the start of the grid step holding t, both in Unix
// nanoseconds, rounding down as timeseries does for times before 1970 too.
func gridTime(t, step int64) int64 {
	q := t / step
	if t%step < 0 {
		q--
	}
	return q * step
}
