package forecast

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSpread fits the spread of N(0, 1) paths to outcomes drawn from
// N(0, 2^2): the 90% interval must widen by the ratio of the scales, 2.
// With 2000 scores per step (pooled over 5 steps: 10000) the conformal
// quantile's standard error is about 0.03; the tolerance is 0.1.
func TestSpread(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	paths := make([]float64, 4000)
	for i := range paths {
		paths[i] = rng.NormFloat64()
	}
	slices.Sort(paths)
	const h = 6
	sf := newSpreadFitter(h, 0.9)
	for range 2000 {
		for k := range h {
			sf.add(k, paths, 2*rng.NormFloat64())
		}
	}
	sp, err := sf.fit(2)
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range sp.Scale {
		if math.Abs(s-2) > 0.1 {
			t.Errorf("step %d: spread %v, want 2", k+1, s)
		}
	}
	// Widening keeps the median and scales the interval by the factor.
	w := slices.Clone(paths)
	sp.apply(0, w)
	m0, m1 := Quantile(paths, 0.5), Quantile(w, 0.5)
	q0, q1 := Quantile(paths, 0.95)-m0, Quantile(w, 0.95)-m1
	if math.Abs(m0-m1) > 1e-12 || math.Abs(q1/q0-sp.Scale[0]) > 1e-9 {
		t.Errorf("widened median %v (was %v), half-width ratio %v (factor %v)", m1, m0,
			q1/q0, sp.Scale[0])
	}

	few := newSpreadFitter(2, 0.9)
	few.add(0, paths, 0)
	if _, err := few.fit(0); err == nil {
		t.Error("a spread fitted on one score per step")
	}
}
