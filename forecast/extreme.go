package forecast

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/flowguard/flowguard/scorer"
)

// extremeSpan is the scorer's rule for a value no sensor of the series
// produced (scorer.ExtremeSpan): beyond 1000 central ranges of the training
// data outside them. The scorer leaves windows holding one out of its fits,
// so the flow has never seen one, and a forecast conditioned on it is an
// extrapolation of an extrapolation: on art_daily_small_noise, a 1e300 in
// the window gave 5%, 50% and 95% quantiles all equal to 1e298.
const extremeSpan = scorer.ExtremeSpan

// ErrExtremeHistory is returned (wrapped) by Sample when a value of the
// steps a forecast starts from (the newest W-1) is extreme: more than
// 1000 ranges outside the model's training values and the history's own
// median and spread (see extremesOf). Such a value is a glitch, not a
// state the series can go on from: the flow never saw one, and clamping
// it to any bound would condition the forecast on a value that was never
// measured. The error names it, and forecasts resume once it has left
// the window. Older extreme values are left out of the lag context and
// the bound, with a warning.
var ErrExtremeHistory = errors.New("forecast: the history holds an extreme value")

// extremes holds, per channel in raw units, the interval outside which a
// value is extreme.
type extremes struct{ lo, hi []float64 }

// extremesOf puts the bounds extremeSpan ranges outside the range of the
// model's training values (Meta.Range), widened to take in the history's
// robust centre and spread (median +- 1.4826 MAD) and at least one robust
// training scale wide. The scorer measures from the 5% and 95% training
// quantiles, which lie inside that, so what is extreme here is extreme to
// the scorer too. The history's own centre and spread are in it so that a
// history in other units than the training's (1000 times its scale,
// which FarFromTraining warns about) is not one glitch from end to end,
// while a glitch, one value, moves neither. A format 1 model, without a
// range, measures from the normaliser's centre.
func extremesOf(meta scorer.Meta, hs spread) extremes {
	c := meta.Features.Channels
	ex := extremes{lo: make([]float64, c), hi: make([]float64, c)}
	for ch := range c {
		lo, hi := trainingRange(meta, ch)
		if med, s := hs.Loc, hs.Scale; hs.ok && finite(med[ch]) && finite(s[ch]) {
			lo, hi = min(lo, med[ch]-s[ch]), max(hi, med[ch]+s[ch])
		}
		// Raw units, so that normalising cannot overflow; a bound past
		// the float64 range is infinite and bounds nothing, rightly.
		span := extremeSpan * max(hi-lo, meta.Norm.Scale[ch])
		ex.lo[ch], ex.hi[ch] = lo-span, hi+span
	}
	return ex
}

// trainingRange is the range of channel ch's training values, or the
// normaliser's centre for a format 1 model, which records none.
func trainingRange(meta scorer.Meta, ch int) (lo, hi float64) {
	if r := meta.Range; len(r.Min) == meta.Features.Channels {
		return r.Min[ch], r.Max[ch]
	}
	return meta.Norm.Loc[ch], meta.Norm.Loc[ch]
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// is reports whether v, a raw value of channel ch, is extreme (NaN is).
func (ex extremes) is(ch int, v float64) bool { return !(v >= ex.lo[ch] && v <= ex.hi[ch]) }

// find returns the index of the newest value of rows (C values a row) that
// is extreme, or -1.
func (ex extremes) find(rows []float64) int {
	c := len(ex.lo)
	for i := len(rows) - 1; i >= 0; i-- {
		if ex.is(i%c, rows[i]) {
			return i
		}
	}
	return -1
}

// checkExtreme refuses a history whose newest need steps hold an extreme
// value, naming the newest such value and when forecasts can resume.
func checkExtreme(h *History, ex extremes, need int, step time.Duration,
	meta scorer.Meta) error {
	c := len(ex.lo)
	from := len(h.Times) - need
	i := ex.find(h.Values[from*c:])
	if i < 0 {
		return nil
	}
	row, ch := from+i/c, i%c
	lo, hi := trainingRange(meta, ch)
	return fmt.Errorf("%w: %v at %s (channel %d) lies more than %g ranges outside the "+
		"model's training values [%.6g, %.6g] and the history's own (below %.6g or above "+
		"%.6g): "+
		"a glitch, not a state the series can go on from, and one the model never saw "+
		"(fits leave such windows out); it is in the newest %d steps a forecast starts "+
		"from, so forecasts resume from %s, when it has left them; or correct the value",
		ErrExtremeHistory, h.Values[row*c+ch], h.Times[row].Format(time.RFC3339), ch,
		extremeSpan, lo, hi, ex.lo[ch], ex.hi[ch], need,
		h.Times[row].Add(time.Duration(need)*step).Format(time.RFC3339))
}

// checkFinite reports the first non-finite number of fc, which JSON cannot
// carry: Sample returns an error rather than such a forecast.
func checkFinite(fc *Forecast) error {
	bad := func(what string, v []float64) error {
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				k, c := i/fc.Channels, i%fc.Channels
				if what == "path" {
					k = i / fc.Channels % len(fc.Times)
				}
				return fmt.Errorf("forecast: the %s of step %d, channel %d, is %v: the "+
					"paths left the float64 range", what, k+1, c, x)
			}
		}
		return nil
	}
	for j, q := range fc.Quantiles {
		if err := bad(fmt.Sprintf("%v quantile", fc.Levels[j]), q); err != nil {
			return err
		}
	}
	if err := bad("mean", fc.Mean); err != nil {
		return err
	}
	return bad("path", fc.Paths)
}
