package scorer_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

const smallNoise = "artificialNoAnomaly/art_daily_small_noise.csv"

// mapValues returns a copy of ss with f applied to the value of row i.
func mapValues(ss []timeseries.Sample, f func(i int, v float64) float64) []timeseries.Sample {
	out := slices.Clone(ss)
	for i := range out {
		out[i].Values = []float64{f(i, ss[i].Values[0])}
	}
	return out
}

// TestFitLeavesOutAGlitch checks that one wild value in the training data
// neither breaks the fit (the linear base's sums overflowed at 1e155 and
// the calibration met an infinite score at 1e154) nor shapes it: the
// windows holding it are left out, so the model is the same whatever the
// glitch's size, and a glitch scored later flags.
func TestFitLeavesOutAGlitch(t *testing.T) {
	base := readNAB(t, smallNoise)
	var models []*scorer.Model
	for _, glitch := range []float64{1e154, 1e155} {
		ss := mapValues(base, func(i int, v float64) float64 {
			if i == 300 {
				return glitch
			}
			return v
		})
		m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss},
			scorer.Options{Seed: 1})
		if err != nil {
			t.Fatalf("glitch %g: %v", glitch, err)
		}
		meta := m.Meta()
		// Every window of 16 steps holding row 300 is left out.
		if meta.Data.Extreme != 16 {
			t.Errorf("glitch %g: %d windows left out as extreme, want 16", glitch,
				meta.Data.Extreme)
		}
		if r := meta.Range; r.Max[0] > 100 || r.Min[0] < 17 {
			t.Errorf("glitch %g: training range %+v, want the series' [18, 88]", glitch, r)
		}
		models = append(models, m)
	}
	if a, b := models[0].Meta().Calibration, models[1].Meta().Calibration; !slices.Equal(a, b) {
		t.Errorf("the glitch's size changed the model: calibration %v... and %v...", a[:3], b[:3])
	}

	m := models[1]
	win := make([]float64, 16)
	for i := range win {
		win[i] = base[1000+i].Values[0]
	}
	for _, v := range []float64{1e5, 1e155, -1e300, math.MaxFloat64, -math.MaxFloat64} {
		for _, pos := range []int{0, 15} {
			x := slices.Clone(win)
			x[pos] = v
			var sc scorer.Scores
			if err := m.Score(&sc, x, nil); err != nil {
				t.Fatalf("value %g at step %d: %v", v, pos, err)
			}
			if math.IsNaN(sc.Score[0]) || sc.Score[0] < 1e4 || sc.P[0] > 1e-300 {
				t.Errorf("value %g at step %d: score %g p %g, want a large score that flags",
					v, pos, sc.Score[0], sc.P[0])
			}
		}
	}
}

// TestFitLeavesOutFrequentGlitches: glitches in one step of 38 (2.6%, more
// than the 1% the bounds were once measured from) are still left out, so
// the model's range is the series' own.
func TestFitLeavesOutFrequentGlitches(t *testing.T) {
	ss := mapValues(readNAB(t, smallNoise), func(i int, v float64) float64 {
		if i%38 == 17 {
			return 1e12
		}
		return v
	})
	m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss},
		scorer.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	meta := m.Meta()
	if r := meta.Range; r.Max[0] > 100 || r.Min[0] < 17 || meta.Data.Extreme == 0 {
		t.Fatalf("training range %+v with %d windows left out, want the series' [18, 88]",
			r, meta.Data.Extreme)
	}
}

// TestFitRefusesUnrepresentableSpread: values alternating +-1.7e308 have
// a median (0) and a MAD (1.7e308), but 1.4826 MAD, the scale, is beyond
// float64; Fit says so instead of writing a scale of +Inf or NaN.
func TestFitRefusesUnrepresentableSpread(t *testing.T) {
	ss := mapValues(readNAB(t, smallNoise), func(i int, _ float64) float64 {
		return math.Copysign(1.7e308, float64(i%2)-0.5)
	})
	_, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss}, smallOptions())
	if err == nil || !strings.Contains(err.Error(), "spread is not representable") ||
		!strings.HasPrefix(err.Error(), "scorer: fit: channel 0: ") {
		t.Fatalf("err %v, want the channel's spread refused", err)
	}
	// Half the size is representable and fits, although the sum of the
	// absolute deviations, whose mean is the scale when half the values
	// are equal (here the median), is far beyond float64.
	half := mapValues(ss, func(_ int, v float64) float64 { return v / 2 })
	m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{half}, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Meta().Norm; math.Abs(n.Loc[0]) != 0.85e308 ||
		math.Abs(n.Scale[0]/(1.2533*0.85e308)-1) > 1e-3 {
		t.Errorf("normaliser %+v, want loc +-0.85e308 and scale 1.2533 * 0.85e308", n)
	}
}

// TestFitIsScaleFree: a series times a power of two is the same series to
// the model (the products are exact), down to 2^-664 (about 1e-200) and
// up to 2^900 (about 8e270). The absolute scale floor of 1e-9 used to
// flatten everything below about 1e-10 to zeros.
func TestFitIsScaleFree(t *testing.T) {
	base := readNAB(t, "artificialWithAnomaly/art_daily_jumpsup.csv")
	fit := func(e int) ([]float64, scorer.Meta) {
		ss := mapValues(base, func(_ int, v float64) float64 { return math.Ldexp(v, e) })
		m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss[:1500]},
			smallOptions())
		if err != nil {
			t.Fatalf("2^%d: %v", e, err)
		}
		_, sc := score(t, m, ss)
		return slices.Clone(sc.Surprise), m.Meta()
	}
	want, wantMeta := fit(0)
	for _, e := range []int{-40, -50, -664, 900} {
		got, meta := fit(e)
		if !slices.Equal(got, want) {
			t.Errorf("2^%d: surprises differ from the unscaled series'", e)
		}
		if l, s := math.Ldexp(wantMeta.Norm.Loc[0], e), math.Ldexp(wantMeta.Norm.Scale[0], e); meta.Norm.Loc[0] != l || meta.Norm.Scale[0] != s {
			t.Errorf("2^%d: normaliser %+v, want loc %g scale %g", e, meta.Norm, l, s)
		}
	}
}

// TestFitConstantSeries keeps the documented handling of a series that is
// constant: its scale is 1e-6 of its level, or 1e-9 at zero.
func TestFitConstantSeries(t *testing.T) {
	base := readNAB(t, smallNoise)
	for _, level := range []float64{0, 3e-200, 45} {
		ss := mapValues(base[:1500], func(int, float64) float64 { return level })
		m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss}, smallOptions())
		if err != nil {
			t.Fatalf("level %g: %v", level, err)
		}
		want := 1e-6 * level
		if level == 0 {
			want = 1e-9
		}
		if n := m.Meta().Norm; n.Loc[0] != level || math.Abs(n.Scale[0]/want-1) > 1e-12 {
			t.Errorf("level %g: normaliser %+v, want scale %g", level, n, want)
		}
	}
}
