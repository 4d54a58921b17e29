package scorer

import (
	"fmt"
	"math"
	"slices"

	"github.com/flowguard/flowguard/timeseries"
)

// maxLevel bounds Meta.Level: a group model trained on many long series
// keeps order statistics rather than every step, so its file stays small.
const maxLevel = 2048

// fitLevel sets the level test's reference and the training range from
// every sample Fit was given, extreme values (ex) left out, in the model's
// normalised units and raw values respectively. The level test answers
// what a model of changes alone cannot: a series that moves slowly, each
// step plausible, to a level its training data never held. Flagged
// samples (Options.Exclude) count too: a level the series has held before
// is not new, even if it was an anomaly then. An extreme value, a glitch,
// would widen both so far that no level or range alarm could fire.
//
// TODO(flowguard): the reference is the whole group's; a group of series
// at different levels would want one per series.
func (m *Model) fitLevel(series [][]timeseries.Sample, ex extreme) error {
	norm := m.meta.Norm
	c := m.meta.Features.Channels
	z := make([]float64, c)
	rng := ValueRange{Min: make([]float64, c), Max: make([]float64, c)}
	for ch := range c {
		rng.Min[ch], rng.Max[ch] = math.Inf(1), math.Inf(-1)
	}
	var lev []float64
	for _, ss := range series {
		for i := range ss {
			v := ss[i].Values
			if len(v) != c {
				continue
			}
			copy(z, v)
			norm.Apply(z)
			if ex.holds(z) {
				continue
			}
			for ch, x := range v {
				rng.Min[ch], rng.Max[ch] = min(rng.Min[ch], x), max(rng.Max[ch], x)
			}
			if s := levelScore(z); !math.IsNaN(s) && !math.IsInf(s, 0) {
				lev = append(lev, s)
			}
		}
	}
	slices.Sort(lev)
	if n := len(lev); n > maxLevel {
		// Evenly spaced order statistics, the largest kept, so the tail
		// fit still sees the top of the distribution.
		thin := make([]float64, maxLevel)
		for i := range thin {
			thin[i] = lev[(n-1)*i/(maxLevel-1)]
		}
		lev = thin
	}
	cal, err := NewCalibration(lev)
	if err != nil {
		return fmt.Errorf("scorer: level: %w", err)
	}
	m.meta.Level, m.level, m.meta.Range = lev, cal, rng
	return nil
}
