package flowmodel

import (
	"math"
	"math/rand/v2"
	"testing"
)

func mustNew(t testing.TB, s Spec, seed uint64) *Flow {
	t.Helper()
	f, err := New(s, seed)
	if err != nil {
		t.Fatalf("New(%+v): %v", s, err)
	}
	return f
}

// unmasked reports, for every entry of theta, whether it is a free parameter
// trained by gradient (false for the structural zeros of the MADE masks and
// for the frozen linear base, whose gradient must stay exactly zero).
func unmasked(f *Flow) []bool {
	// Walks the parameters in Flow.bind's order.
	free := make([]bool, f.numFrozen(), len(f.theta))
	for _, m := range f.layers {
		if f.an != nil {
			for range 2 * f.spec.Dim() {
				free = append(free, true)
			}
		}
		if f.mix != nil {
			c := f.mix[0].c
			for range c*(c-1) + 2*c {
				free = append(free, true)
			}
		}
		for _, l := range m.dense() {
			free = append(free, l.mask...)
			for range l.out {
				free = append(free, true)
			}
		}
		for range m.v {
			free = append(free, true)
		}
	}
	return free
}

// randomize sets every free parameter uniformly in +-scale, so that tests do
// not run at the near-identity initialisation where many paths are tiny, and
// a linear base (if any) to random coefficients of the same size.
func randomize(f *Flow, rng *rand.Rand, scale float64) {
	free := unmasked(f)
	for i := range f.theta {
		if free[i] {
			f.theta[i] = scale * (2*rng.Float64() - 1)
		}
	}
	if lb := f.lin; lb != nil {
		u := func() float64 { return scale * (2*rng.Float64() - 1) }
		for i := range lb.d {
			lb.m[i], lb.logd[i] = u(), u()
			for j := range i {
				lb.l[i*lb.d+j] = u()
			}
			for k := range lb.nctx {
				lb.b[i*lb.nctx+k] = u()
			}
		}
		lb.stale = true
	}
}

func normals(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// nll is the training loss -(1/B) sum_n log p(x_n | c_n).
func nll(f *Flow, x, c []float64) float64 {
	lp, err := f.LogProb(nil, x, c)
	if err != nil {
		panic(err)
	}
	var s float64
	for _, v := range lp {
		s -= v
	}
	return s / float64(len(lp))
}

// fdClose is the gradient-check acceptance rule of flow-math section 12.
func fdClose(an, num, loss float64) bool {
	return math.Abs(an-num) <= 1e-8*math.Max(1, math.Abs(loss))+
		1e-6*math.Max(math.Abs(an), math.Abs(num))
}

// central returns the central difference of fn at *p with the step of
// flow-math section 12.
func central(p *float64, fn func() float64) float64 {
	old := *p
	h := 1e-6 * math.Max(1, math.Abs(old))
	*p = old + h
	up := fn()
	*p = old - h
	down := fn()
	*p = old
	return (up - down) / (2 * h)
}
