package forecast

import (
	"fmt"
	"sort"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// contexter writes the context vectors of future steps the way
// timeseries.Series.ContextAt writes them for observed ones: calendar
// terms, then per lag the mean of the steps in the lag bucket holding
// t - lag, buckets aligned to the Unix epoch.
type contexter struct {
	f      scorer.Features
	loc    *time.Location
	norm   timeseries.Normaliser
	res    int64   // lag bucket width, ns
	step   int64   // grid step, ns
	times  []int64 // history step times, ns
	values []float64
	last   int64 // time of the newest observed step, ns
	// per lag, for the step being sampled: the history's sum and count in
	// the lag bucket, and the bucket's bounds.
	hsum   [][]float64
	hcnt   []int
	lo, hi []int64
	skip   []bool // the bucket is not final yet: use the fallback
	// ex are the bounds of extreme values, which the buckets leave out as
	// if missing; left holds, per channel, the indices of the steps left
	// out, for the warning.
	ex   extremes
	left []map[int]bool
}

func newContexter(f scorer.Features, norm timeseries.Normaliser, h *History,
	ex extremes) (*contexter, error) {
	loc := time.UTC
	if f.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(f.TimeZone); err != nil {
			return nil, err
		}
	}
	res := f.LagResolution
	if res == 0 {
		res = f.Step
	}
	cx := &contexter{f: f, loc: loc, norm: norm, res: int64(res), step: int64(f.Step),
		values: h.Values, hcnt: make([]int, len(f.Lags)),
		lo: make([]int64, len(f.Lags)), hi: make([]int64, len(f.Lags)),
		skip: make([]bool, len(f.Lags)), ex: ex, left: make([]map[int]bool, f.Channels)}
	cx.times = make([]int64, len(h.Times))
	for i, t := range h.Times {
		cx.times[i] = t.UnixNano()
	}
	cx.last = cx.times[len(cx.times)-1]
	for range f.Lags {
		cx.hsum = append(cx.hsum, make([]float64, f.Channels))
	}
	return cx, nil
}

// prepare computes the history's part of every lag bucket for the step at
// time t.
func (cx *contexter) prepare(t int64) {
	c := cx.f.Channels
	for i, l := range cx.f.Lags {
		b := floorDiv(t-int64(l), cx.res)
		cx.skip[i] = b >= floorDiv(t, cx.res)
		cx.lo[i], cx.hi[i] = b*cx.res, (b+1)*cx.res
		clear(cx.hsum[i])
		cx.hcnt[i] = 0
		j := sort.Search(len(cx.times), func(k int) bool { return cx.times[k] >= cx.lo[i] })
		for ; j < len(cx.times) && cx.times[j] < cx.hi[i]; j++ {
			// A step with an extreme value is left out of the bucket
			// whole, as the grid leaves out a missing step: a glitch in
			// the mean would make the context extreme, and refusing the
			// forecast for the longest lag after it would leave a week
			// without forecasts.
			bad := false
			for ch := range c {
				if v := cx.values[j*c+ch]; cx.ex.is(ch, v) {
					bad = true
					if cx.left[ch] == nil {
						cx.left[ch] = map[int]bool{}
					}
					cx.left[ch][j] = true
				}
			}
			if bad {
				continue
			}
			for ch := range c {
				cx.hsum[i][ch] += cx.values[j*c+ch]
			}
			cx.hcnt[i]++
		}
	}
}

// write writes the normalised context of the step at time t for one path
// into dst. path holds the path's k sampled steps before t, raw; prev is
// the raw step before t (observed or sampled), the fallback for a lag
// bucket with no data.
func (cx *contexter) write(dst []float64, t int64, path []float64, k int, prev []float64) {
	if cx.f.Calendar {
		timeseries.Calendar(dst[:timeseries.CalendarWidth], t, cx.loc)
		dst = dst[timeseries.CalendarWidth:]
	}
	if len(cx.f.Lags) == 0 {
		return
	}
	c := cx.f.Channels
	for i := range cx.f.Lags {
		out := dst[i*c : (i+1)*c]
		n := cx.hcnt[i]
		copy(out, cx.hsum[i])
		if !cx.skip[i] && cx.hi[i] > cx.last+cx.step {
			// The bucket reaches into the forecast: add this path's steps.
			for s := range k {
				ts := cx.last + int64(s+1)*cx.step
				if ts >= cx.lo[i] && ts < cx.hi[i] {
					for ch := range c {
						out[ch] += path[s*c+ch]
					}
					n++
				}
			}
		}
		if cx.skip[i] || n == 0 {
			// ContextAt falls back to the step's own values, unknown here;
			// the previous step is the closest stand-in.
			copy(out, prev)
			continue
		}
		for ch := range c {
			out[ch] /= float64(n)
		}
	}
	cx.norm.Apply(dst[:len(cx.f.Lags)*c])
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// leftOutWarnings says, per channel, which extreme history values the lag
// context left out.
func (cx *contexter) leftOutWarnings(times []time.Time) []string {
	var out []string
	for ch, left := range cx.left {
		if len(left) == 0 {
			continue
		}
		newest := -1
		for j := range left {
			newest = max(newest, j)
		}
		out = append(out, fmt.Sprintf("channel %d: %d extreme history value(s), the newest "+
			"%v at %s, lie more than %g ranges outside the model's training values and "+
			"the history's own: the lag context leaves their steps out, as if missing",
			ch, len(left), cx.values[newest*cx.f.Channels+ch], times[newest].Format(time.RFC3339),
			extremeSpan))
	}
	return out
}
