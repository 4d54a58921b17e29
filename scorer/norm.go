package scorer

import (
	"fmt"
	"math"
	"slices"

	"github.com/flowguard/flowguard/timeseries"
)

// zeroFloor is the scale of a channel whose training values are all zero,
// timeseries' default absolute floor: any scale fits such a channel, and
// this one keeps the documented handling of a constant channel.
const zeroFloor = 1e-9

// fitNorm fits the normaliser on the newest step of every training window,
// which covers the training steps that end a full window.
func fitNorm(train Windows, f Features) (timeseries.Normaliser, error) {
	d, c := f.Window*f.Channels, f.Channels
	col := make([]float64, train.Len())
	out := timeseries.Normaliser{Loc: make([]float64, c), Scale: make([]float64, c)}
	for ch := range c {
		for i := range col {
			col[i] = train.X[(i+1)*d-c+ch]
		}
		loc, scale, err := robustScale(col)
		if err != nil {
			return out, fmt.Errorf("scorer: fit: channel %d: %w", ch, err)
		}
		out.Loc[ch], out.Scale[ch] = loc, scale
	}
	return out, nil
}

// robustScale is timeseries.FitNormaliser for one channel, made
// independent of the values' magnitude in two ways:
//
//   - the values are scaled by a power of two that brings the largest to
//     [0.5, 1) before the median, the deviations and their sum are taken,
//     which is exact (no rounding differs) and cannot overflow, so values
//     near +-math.MaxFloat64 get a median and a MAD;
//   - timeseries' absolute scale floor (1e-9) would flatten every series
//     whose spread is smaller, such as a file's values times 1e-12, to
//     zeros; it is replaced by one relative to the values' magnitude
//     (1e-6 times the median of the non-zero |x|, the floor timeseries
//     puts under a constant series relative to its level). A channel of
//     zeros alone keeps the absolute floor, as it has no magnitude.
//
// The relative floor (1e-6 |median|) stays: it is what keeps a series
// constant within float64 resolution from blowing rounding noise up.
// It fails when the scale itself is beyond float64 (a spread of about
// 1.2e308 or more) or a value is not finite.
func robustScale(v []float64) (loc, scale float64, err error) {
	var top float64
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, 0, fmt.Errorf("training value %v is not finite", x)
		}
		top = max(top, math.Abs(x))
	}
	if top == 0 {
		return 0, zeroFloor, nil
	}
	_, e := math.Frexp(top)
	s := make([]float64, len(v))
	mags := make([]float64, 0, len(v))
	for i, x := range v {
		s[i] = math.Ldexp(x, -e)
		if s[i] != 0 {
			mags = append(mags, math.Abs(s[i]))
		}
	}
	slices.Sort(mags)
	floor := 1e-6 * mags[len(mags)/2]
	n, err := timeseries.FitNormaliser(s, 1, timeseries.NormConfig{Floor: floor})
	if err != nil {
		return 0, 0, err
	}
	loc, scale = math.Ldexp(n.Loc[0], e), math.Ldexp(n.Scale[0], e)
	if math.IsInf(scale, 0) {
		return 0, 0, fmt.Errorf("robust scale %.4g x 2^%d overflows float64: the "+
			"training values' spread is not representable", n.Scale[0], e)
	}
	return loc, scale, nil
}
