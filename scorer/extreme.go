package scorer

import (
	"fmt"
	"math"
	"slices"

	"github.com/flowguard/flowguard/timeseries"
)

// ExtremeSpan sets how far outside the bulk of the training data a value
// is extreme: beyond ExtremeSpan central ranges of its channel (see
// extremeBounds). NAB's files reach 560 robust z-scores with central
// ranges of 2 to 8, far inside; a glitch such as 1e154 in a series of
// tens is 1e152 beyond.
const ExtremeSpan = 1e3

// maxNormalised bounds the normalised values Score hands the flow. Far
// beyond it the flow's sums and squares overflow to NaN scores, which
// are no evidence (p = 1); a value clamped to it is still so far out that
// it flags: on NAB's art_daily_small_noise, 3e15 nats as the newest step
// and 5e11 or more as an older one. It is far above what a model file
// can meet in use: NAB's values reach 560 robust z-scores.
const maxNormalised = 1e8

// extreme holds, per channel in normalised units, the interval outside
// which a value is extreme.
type extreme struct{ lo, hi []float64 }

// extremeBounds puts the bounds ExtremeSpan central ranges outside the 5%
// and 95% quantiles of the normalised newest steps of the training
// windows, the range being at least one robust scale. Quantiles rather
// than the normaliser's median and MAD, so that a series of two levels
// far apart in units of its noise, where the MAD sees one level only,
// keeps both; extreme are glitches, values no sensor of this series
// produced, such as 1e155 in a series of tens.
func extremeBounds(train Windows, f Features, norm timeseries.Normaliser) extreme {
	d, c := f.Window*f.Channels, f.Channels
	ex := extreme{lo: make([]float64, c), hi: make([]float64, c)}
	col := make([]float64, train.Len())
	for ch := range c {
		for i := range col {
			col[i] = (train.X[(i+1)*d-c+ch] - norm.Loc[ch]) / norm.Scale[ch]
		}
		slices.Sort(col)
		// 5% and 95%: glitches in up to one step in twenty still lie
		// outside the quantiles they are measured from.
		lo, hi := col[len(col)/20], col[len(col)-1-len(col)/20]
		span := ExtremeSpan * max(hi-lo, 1)
		ex.lo[ch], ex.hi[ch] = lo-span, hi+span
	}
	return ex
}

// holds reports whether rows of normalised values (C a row) hold one
// outside the bounds. Infinite values (a raw value whose distance to the
// centre overflows) are outside too.
func (ex extreme) holds(z []float64) bool {
	c := len(ex.lo)
	for i, v := range z {
		if !(v >= ex.lo[i%c] && v <= ex.hi[i%c]) {
			return true
		}
	}
	return false
}

// dropExtreme leaves out of w, in place, the windows holding an extreme
// value in their steps or lag context and returns how many it left out.
//
// A glitch such as one value of 1e155 would otherwise break the fit: the
// linear base's ridge regression sums squares of it and overflows, and a
// smaller one that does not overflow still outweighs every other window
// in those sums, so the fitted autoregression is that of the glitch.
// Leaving its windows out, as Options.Exclude does with flagged steps,
// fits the model as if the glitch had not happened; clamping it to the
// bound instead would keep a window that still outweighs the rest.
func dropExtreme(w *Windows, f Features, norm timeseries.Normaliser, ex extreme) int {
	n := w.Len()
	if n == 0 {
		return 0
	}
	d, cw, off := len(w.X)/n, len(w.Context)/n, f.lagOffset()
	z := make([]float64, max(d, cw-off))
	var out Windows
	for i := range n {
		x, ctx := w.X[i*d:(i+1)*d], w.Context[i*cw:(i+1)*cw]
		zx := append(z[:0], x...)
		norm.Apply(zx)
		bad := ex.holds(zx)
		if !bad && len(f.Lags) > 0 {
			zc := append(z[:0], ctx[off:]...)
			norm.Apply(zc)
			bad = ex.holds(zc)
		}
		if bad {
			continue
		}
		out.X = append(out.X, x...)
		out.Context = append(out.Context, ctx...)
		out.Time = append(out.Time, w.Time[i])
		out.Series = append(out.Series, w.Series[i])
	}
	dropped := n - out.Len()
	if dropped > 0 {
		*w = out
	}
	return dropped
}

// checkSplits is split's check of the windows left in each part.
func checkSplits(train, valid, calib int, why string) error {
	if train < minTrain || valid < minValid || calib < minCalib {
		return fmt.Errorf("%w: %d training, %d validation, %d calibration windows%s; "+
			"need at least %d, %d and %d", ErrTooShort, train, valid, calib, why,
			minTrain, minValid, minCalib)
	}
	return nil
}

// clampNormalised bounds normalised values to +-maxNormalised in place;
// NaN stays NaN.
func clampNormalised(z []float64) {
	for i, v := range z {
		if math.Abs(v) > maxNormalised {
			z[i] = math.Copysign(maxNormalised, v)
		}
	}
}
