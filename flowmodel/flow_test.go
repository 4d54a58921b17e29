package flowmodel

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestTimeOrder changes every value after step t and requires the step terms
// up to t to stay exactly equal (flow-math section 9.3), for plain and
// residual conditioners, with and without context.
func TestTimeOrder(t *testing.T) {
	specs := []Spec{
		{Window: 6, Channels: 2, Context: 2, Hidden: 14, Layers: 3},
		{Window: 5, Channels: 1, Hidden: 8, Layers: 2, ResidualBlocks: 2, Activation: ActTanh},
		{Window: 7, Channels: 3, Context: 1, Hidden: 24, Layers: 4, HiddenLayers: 1},
		{Window: 6, Channels: 1, Context: 1, Hidden: 8, Layers: 3, LayerType: LayerSpline,
			TailBound: 2},
		{Window: 5, Channels: 2, Hidden: 12, Layers: 2, ActNorm: true},
		{Window: 4, Channels: 3, Context: 1, Hidden: 12, Layers: 3, ActNorm: true,
			ChannelMixing: true, LayerType: LayerSpline, TailBound: 2},
		{Window: 5, Channels: 2, Context: 2, Hidden: 12, Layers: 2, LinearBase: true,
			ActNorm: true},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const rows = 9
	for si, s := range specs {
		f := mustNew(t, s, uint64(si))
		randomize(f, rng, 0.5)
		w, d, nc := f.spec.Window, f.spec.Dim(), f.spec.Context
		x, c := normals(rng, rows*d), normals(rng, rows*nc)
		base, err := f.StepLogProb(nil, x, c)
		if err != nil {
			t.Fatal(err)
		}
		lp, _ := f.LogProb(nil, x, c)
		for n := range rows {
			var s float64
			for _, v := range base[n*w : n*w+w] {
				s += v
			}
			if math.Abs(s-lp[n]) > 1e-10*math.Max(1, math.Abs(lp[n])) {
				t.Errorf("spec %d window %d: step terms sum to %v, LogProb %v", si, n, s, lp[n])
			}
		}
		for step := range w - 1 {
			x2 := append([]float64(nil), x...)
			ch := f.spec.Channels
			for n := range rows {
				for i := (step + 1) * ch; i < d; i++ {
					x2[n*d+i] += 3 * rng.NormFloat64()
				}
			}
			got, _ := f.StepLogProb(nil, x2, c)
			for n := range rows {
				for u := 0; u <= step; u++ {
					if got[n*w+u] != base[n*w+u] {
						t.Fatalf("spec %d: changing steps > %d changed step %d of window %d",
							si, step, u, n)
					}
				}
				if got[n*w+step+1] == base[n*w+step+1] {
					t.Errorf("spec %d: step %d ignores its own value", si, step+1)
				}
			}
		}
	}
}

// TestMAFNoStepTerms: the reversing stack refuses per-step terms and
// conditional sampling, but scores and samples whole windows.
func TestMAFNoStepTerms(t *testing.T) {
	for _, kind := range []string{KindMAF, KindRealNVP} {
		t.Run(kind, func(t *testing.T) { checkNoStepTerms(t, kind) })
	}
}

func checkNoStepTerms(t *testing.T, kind string) {
	f := mustNew(t, Spec{Kind: kind, Window: 4, Hidden: 8, Layers: 2}, 1)
	x := make([]float64, 8)
	if _, err := f.StepLogProb(nil, x, nil); !errors.Is(err, ErrNotTimeOrdered) {
		t.Errorf("StepLogProb error = %v, want ErrNotTimeOrdered", err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	_, err := f.SampleSuffix(make([]float64, 8), make([]float64, 6), 1, nil, rng)
	if !errors.Is(err, ErrNotTimeOrdered) {
		t.Errorf("SampleSuffix error = %v, want ErrNotTimeOrdered", err)
	}
	if _, err := f.LogProb(nil, x, nil); err != nil {
		t.Errorf("LogProb: %v", err)
	}
	if _, err := f.Sample(make([]float64, 8), nil, rng); err != nil {
		t.Errorf("Sample: %v", err)
	}
}

// TestInverse maps windows to the base and back: the round trip must return
// x to 1e-9, for both stack kinds.
func TestInverse(t *testing.T) {
	specs := []Spec{
		{Window: 5, Channels: 2, Context: 2, Hidden: 12, Layers: 4},
		{Kind: KindMAF, Window: 6, Context: 1, Hidden: 8, Layers: 5, ResidualBlocks: 1},
		{Window: 4, Channels: 2, Context: 1, Hidden: 10, Layers: 3, LayerType: LayerSpline,
			TailBound: 2},
		{Kind: KindMAF, Window: 5, Hidden: 8, Layers: 3, LayerType: LayerSpline, Bins: 6,
			TailBound: 1.5},
		{Kind: KindRealNVP, Window: 5, Context: 2, Hidden: 8, Layers: 4},
		{Kind: KindMAF, Window: 6, Hidden: 8, Layers: 3, Permutation: PermRandom,
			PermutationSeed: 4},
		{Window: 5, Context: 1, Hidden: 8, Layers: 3, ActNorm: true, LayerType: LayerSpline,
			TailBound: 2},
		{Window: 3, Channels: 3, Context: 1, Hidden: 9, Layers: 3, ActNorm: true,
			ChannelMixing: true},
		{Kind: KindMAF, Window: 3, Channels: 2, Hidden: 8, Layers: 3, ChannelMixing: true},
		{Window: 4, Channels: 2, Context: 2, Hidden: 10, Layers: 3, LinearBase: true,
			ActNorm: true},
		{Window: 5, Context: 1, Hidden: 8, Layers: 2, LinearBase: true, LayerType: LayerSpline,
			TailBound: 2},
		{Kind: KindRealNVP, Window: 4, Context: 1, Hidden: 8, Layers: 3, LinearBase: true},
	}
	rng := rand.New(rand.NewPCG(8, 9))
	const rows = 20
	for si, s := range specs {
		f := mustNew(t, s, uint64(si))
		randomize(f, rng, 0.5)
		d, nc := f.spec.Dim(), f.spec.Context
		x, c := normals(rng, rows*d), normals(rng, rows*nc)
		ws := f.newWorkspace(rows, true)
		z := f.forward(x, c, rows, ws)
		f.sws = f.newWorkspace(chunkRows, true)
		copy(f.sws.h[len(f.layers)-1], z)
		back := make([]float64, rows*d)
		f.invertFromBase(back, c, rows)
		for i := range x {
			if math.Abs(back[i]-x[i]) > 1e-9 {
				t.Fatalf("spec %d: inverse(forward(x))[%d] = %v, x = %v", si, i, back[i], x[i])
			}
		}
	}
}

// TestLogDetJacobian compares the analytic log-determinant with the one of a
// central-difference Jacobian of x -> z, factorised by gonum's LU.
func TestLogDetJacobian(t *testing.T) {
	specs := []Spec{
		{Window: 3, Channels: 2, Context: 2, Hidden: 8, Layers: 3, Activation: ActTanh},
		{Kind: KindMAF, Window: 5, Hidden: 8, Layers: 3, Activation: ActTanh},
		{Window: 4, Context: 1, Hidden: 8, Layers: 2, Activation: ActTanh, LayerType: LayerSpline,
			Bins: 5, TailBound: 3},
		{Kind: KindRealNVP, Window: 6, Hidden: 8, Layers: 4, Activation: ActTanh},
		{Kind: KindMAF, Window: 5, Context: 1, Hidden: 8, Layers: 3, Activation: ActTanh,
			Permutation: PermRandom, PermutationSeed: 1},
		{Window: 4, Hidden: 8, Layers: 2, Activation: ActTanh, ActNorm: true},
		{Window: 2, Channels: 3, Hidden: 8, Layers: 2, Activation: ActTanh, ChannelMixing: true},
		{Kind: KindRealNVP, Window: 5, Hidden: 8, Layers: 3, Activation: ActTanh,
			WindowMixing: true},
		{Window: 3, Channels: 2, Context: 2, Hidden: 8, Layers: 2, Activation: ActTanh,
			LinearBase: true},
		{Kind: KindMAF, Window: 5, Context: 1, Hidden: 8, Layers: 2, Activation: ActTanh,
			LinearBase: true, ActNorm: true},
	}
	rng := rand.New(rand.NewPCG(10, 11))
	for si, s := range specs {
		f := mustNew(t, s, uint64(si))
		randomize(f, rng, 0.7)
		d, nc := f.spec.Dim(), f.spec.Context
		x, c := normals(rng, d), normals(rng, nc)
		ws := f.newWorkspace(1, true)
		z := append([]float64(nil), f.forward(x, c, 1, ws)...)
		var analytic float64
		for i := range d {
			analytic += ws.terms[i] + 0.5*z[i]*z[i] + logSqrt2Pi
		}
		jac := mat.NewDense(d, d, nil)
		const h = 1e-6
		for j := range d {
			old := x[j]
			x[j] = old + h
			up := append([]float64(nil), f.forward(x, c, 1, ws)...)
			x[j] = old - h
			down := f.forward(x, c, 1, ws)
			x[j] = old
			for i := range d {
				jac.Set(i, j, (up[i]-down[i])/(2*h))
			}
		}
		var lu mat.LU
		lu.Factorize(jac)
		numeric, sign := lu.LogDet()
		if sign <= 0 || math.Abs(numeric-analytic) > 1e-6 {
			t.Errorf("spec %d: log|det J| analytic %.10f, numeric %.10f (sign %v)",
				si, analytic, numeric, sign)
		}
	}
}

// TestNormalised integrates exp(log p) by the midpoint rule on a grid that
// holds the mass of these random flows: 1-D (a window of one value with a
// context) and 2-D for each stack kind, and the last-step conditional of a
// time-ordered 3-step window given its prefix. Each must be 1 within 1e-3.
func TestNormalised(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	const lim, h1 = 16.0, 1e-3
	grid := func(h float64) []float64 {
		var g []float64
		for v := -lim + h/2; v < lim; v += h {
			g = append(g, v)
		}
		return g
	}
	g1 := grid(h1)

	for _, layer := range []string{LayerAffine, LayerSpline} {
		t.Run("1d-"+layer, func(t *testing.T) {
			f := mustNew(t, Spec{Window: 1, Context: 2, Hidden: 6, Layers: 3, LayerType: layer}, 1)
			randomize(f, rng, 0.5)
			c := make([]float64, 2*len(g1))
			for n := range g1 {
				c[2*n], c[2*n+1] = 0.3, -1.2
			}
			lp, err := f.LogProb(nil, g1, c)
			checkIntegral(t, lp, h1, err)
		})
	}
	// Affine stacks can stretch the base by e^(3*layers); the splines of
	// these specs are the identity beyond |x| = 3, so their mass is inside
	// [-8, 8].
	for _, tc := range []struct {
		spec   Spec
		lim, h float64
	}{
		{Spec{Window: 2, Hidden: 6, Layers: 3, LayerType: LayerSpline, Bins: 6, TailBound: 3},
			8, 0.02},
		{Spec{Kind: KindMAF, Window: 2, Hidden: 6, Layers: 3, LayerType: LayerSpline, TailBound: 3},
			8, 0.03},
		{Spec{Window: 2, Hidden: 6, Layers: 3}, 16, 0.04},
		{Spec{Window: 1, Channels: 2, Context: 1, Hidden: 6, Layers: 2, ResidualBlocks: 1},
			16, 0.04},
		{Spec{Kind: KindMAF, Window: 2, Hidden: 6, Layers: 4}, 16, 0.04},
		{Spec{Kind: KindRealNVP, Window: 2, Hidden: 6, Layers: 4}, 16, 0.04},
		{Spec{Window: 2, Hidden: 6, Layers: 2, ActNorm: true}, 16, 0.04},
		{Spec{Window: 1, Channels: 2, Context: 1, Hidden: 6, Layers: 2, ChannelMixing: true},
			16, 0.04},
		{Spec{Kind: KindRealNVP, Window: 2, Hidden: 6, Layers: 3, WindowMixing: true}, 16, 0.04},
	} {
		f := mustNew(t, tc.spec, 2)
		s := f.Spec()
		name := fmt.Sprintf("2d-%s-%s-%dx%d", s.Kind, s.LayerType, s.Window, s.Channels)
		t.Run(name, func(t *testing.T) {
			randomize(f, rng, 0.5)
			var g2 []float64
			for v := -tc.lim + tc.h/2; v < tc.lim; v += tc.h {
				g2 = append(g2, v)
			}
			x := make([]float64, 0, 2*len(g2)*len(g2))
			for _, a := range g2 {
				for _, b := range g2 {
					x = append(x, a, b)
				}
			}
			c := make([]float64, len(x)/2*f.spec.Context)
			for i := range c {
				c[i] = 0.7
			}
			lp, err := f.LogProb(nil, x, c)
			checkIntegral(t, lp, tc.h*tc.h, err)
		})
	}
	t.Run("conditional", func(t *testing.T) {
		f := mustNew(t, Spec{Window: 3, Context: 1, Hidden: 8, Layers: 3}, 3)
		randomize(f, rng, 0.5)
		x := make([]float64, 0, 3*len(g1))
		for _, v := range g1 {
			x = append(x, 0.4, -0.9, v)
		}
		c := make([]float64, len(g1))
		steps, err := f.StepLogProb(nil, x, c)
		last := make([]float64, len(g1))
		for n := range last {
			last[n] = steps[3*n+2]
		}
		checkIntegral(t, last, h1, err)
	})
}

func checkIntegral(t *testing.T, lp []float64, cell float64, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	for _, v := range lp {
		s += math.Exp(v) * cell
	}
	t.Logf("integral %.7f", s)
	if math.Abs(s-1) > 1e-3 {
		t.Errorf("density integrates to %.6f, want 1 within 1e-3", s)
	}
}

// TestBatchInvariance: a window scores bit-identically alone and inside
// batches of any size (chunking and row blocking must not change rounding).
func TestBatchInvariance(t *testing.T) {
	for _, lin := range []bool{false, true} {
		checkBatchInvariance(t, Spec{Window: 8, Channels: 2, Context: 3, Hidden: 20, Layers: 3,
			LinearBase: lin})
	}
}

func checkBatchInvariance(t *testing.T, s Spec) {
	f := mustNew(t, s, 4)
	rng := rand.New(rand.NewPCG(14, 15))
	randomize(f, rng, 0.4)
	const rows = 150
	x, c := normals(rng, rows*16), normals(rng, rows*3)
	all, err := f.StepLogProb(nil, x, c)
	if err != nil {
		t.Fatal(err)
	}
	one := make([]float64, 8)
	for n := range rows {
		if _, err := f.StepLogProb(one, x[n*16:n*16+16], c[n*3:n*3+3]); err != nil {
			t.Fatal(err)
		}
		for i, v := range one {
			if all[n*8+i] != v {
				t.Fatalf("window %d step %d: %v in batch, %v alone", n, i, all[n*8+i], v)
			}
		}
	}
}

// TestDeterministic: one seed, one flow; another seed, another flow.
func TestDeterministic(t *testing.T) {
	s := Spec{Window: 6, Context: 1, Hidden: 10, Layers: 2}
	a, b, c := mustNew(t, s, 42), mustNew(t, s, 42), mustNew(t, s, 43)
	same, diff := true, false
	for i := range a.theta {
		same = same && a.theta[i] == b.theta[i]
		diff = diff || a.theta[i] != c.theta[i]
	}
	if !same || !diff {
		t.Errorf("seed 42 twice identical: %v; seeds 42 and 43 differ: %v", same, diff)
	}
}

// TestIdentityAtInit: with the output layers zeroed every layer is the
// identity, so log p(x) is the standard normal log-density (flow-math 12).
func TestIdentityAtInit(t *testing.T) {
	f := mustNew(t, Spec{Window: 4, Hidden: 8, Layers: 3}, 1)
	for _, m := range f.layers {
		clear(m.last.w)
	}
	checkStandardNormal(t, f)
}

// checkStandardNormal checks that f, of window 4 and no context, is the
// standard normal density bit for bit at one point.
func checkStandardNormal(t *testing.T, f *Flow) {
	t.Helper()
	x := []float64{0.5, -1, 2, 0}
	lp, err := f.LogProb(nil, x, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, v := range x {
		want += -0.5*v*v - logSqrt2Pi
	}
	if lp[0] != want {
		t.Errorf("log p = %v, want %v", lp[0], want)
	}
}

// TestNonFinite: an infinite input gives ErrNonFinite naming the window.
func TestNonFinite(t *testing.T) {
	f := mustNew(t, Spec{Window: 3, Hidden: 4, Layers: 1}, 1)
	x := []float64{0, 0, 0, 1, math.Inf(1), 0}
	_, err := f.LogProb(nil, x, nil)
	const want = "flowmodel: non-finite log-density: window 1"
	if !errors.Is(err, ErrNonFinite) || err.Error() != want {
		t.Errorf("LogProb error = %v", err)
	}
	if _, err := f.StepLogProb(nil, x, nil); !errors.Is(err, ErrNonFinite) {
		t.Errorf("StepLogProb error = %v", err)
	}
}

// TestShapePanics: wrong widths panic with ErrShape.
func TestShapePanics(t *testing.T) {
	f := mustNew(t, Spec{Window: 3, Context: 2, Hidden: 4, Layers: 1}, 1)
	rng := rand.New(rand.NewPCG(1, 1))
	cases := map[string]func(){
		"x width":   func() { f.LogProb(nil, make([]float64, 4), make([]float64, 2)) },
		"ctx width": func() { f.LogProb(nil, make([]float64, 6), make([]float64, 2)) },
		"dst size": func() {
			f.StepLogProb(make([]float64, 2), make([]float64, 3), make([]float64, 2))
		},
		"prefix size": func() {
			f.SampleSuffix(make([]float64, 3), make([]float64, 3), 1, make([]float64, 2), rng)
		},
		"h range": func() { f.SampleSuffix(make([]float64, 3), nil, 4, make([]float64, 2), rng) },
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != ErrShape {
					t.Errorf("recovered %v, want ErrShape", r)
				}
			}()
			fn()
		})
	}
}

// TestScoringAllocs pins the zero-allocation hot paths.
func TestScoringAllocs(t *testing.T) {
	f := mustNew(t, Spec{Window: 16, Context: 2, Hidden: 32, Layers: 3}, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	const rows = 100
	x, c := normals(rng, rows*16), normals(rng, rows*2)
	lp, steps := make([]float64, rows), make([]float64, rows*16)
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := f.LogProb(lp, x, c); err != nil {
			t.Fatal(err)
		}
		if _, err := f.StepLogProb(steps, x, c); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per LogProb+StepLogProb, want 0", allocs)
	}
}

// TestSampleSuffix: the prefix is copied unchanged, the samples are finite,
// and a sampled window's suffix maps back to standard normal draws (its step
// terms are those of a fresh density pass).
func TestSampleSuffix(t *testing.T) {
	f := mustNew(t, Spec{Window: 5, Channels: 2, Context: 1, Hidden: 12, Layers: 3}, 9)
	rng := rand.New(rand.NewPCG(16, 17))
	randomize(f, rng, 0.4)
	const rows, h = 70, 2
	prefix, c := normals(rng, rows*6), normals(rng, rows)
	dst := make([]float64, rows*10)
	if _, err := f.SampleSuffix(dst, prefix, h, c, rng); err != nil {
		t.Fatal(err)
	}
	for n := range rows {
		for i := range 6 {
			if dst[n*10+i] != prefix[n*6+i] {
				t.Fatalf("window %d: prefix value %d changed", n, i)
			}
		}
	}
	// Same seed, same draws.
	again := make([]float64, rows*10)
	f2 := f.Clone()
	rngA, rngB := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	f.SampleSuffix(dst, prefix, h, c, rngA)
	f2.SampleSuffix(again, prefix, h, c, rngB)
	for i := range dst {
		if dst[i] != again[i] {
			t.Fatalf("clone with same seed sampled %v, original %v", again[i], dst[i])
		}
	}
}

// TestSampleSuffixDistribution compares 4000 conditional samples of the last
// step of a random (untrained, non-Gaussian-free) flow with the model's own
// conditional CDF, obtained by quadrature of exp(step term) on a fine grid.
// The Kolmogorov-Smirnov distance must stay below 1.95/sqrt(n), the 0.1%
// critical value, so a correct sampler fails this test 1 time in 1000 seeds.
func TestSampleSuffixDistribution(t *testing.T) {
	f := mustNew(t, Spec{Window: 3, Context: 1, Hidden: 8, Layers: 3}, 21)
	rng := rand.New(rand.NewPCG(18, 19))
	randomize(f, rng, 0.6)
	const n = 4000
	prefix, c := make([]float64, 2*n), make([]float64, n)
	for i := range n {
		prefix[2*i], prefix[2*i+1], c[i] = 0.8, -0.4, 1.5
	}
	dst := make([]float64, 3*n)
	if _, err := f.SampleSuffix(dst, prefix, 1, c, rng); err != nil {
		t.Fatal(err)
	}
	samples := make([]float64, n)
	for i := range n {
		samples[i] = dst[3*i+2]
	}
	slices.Sort(samples)

	const lim, h = 20.0, 1e-3
	var grid []float64
	for v := -lim; v < lim; v += h {
		grid = append(grid, 0.8, -0.4, v+h/2)
	}
	steps, err := f.StepLogProb(nil, grid, slices.Repeat([]float64{1.5}, len(grid)/3))
	if err != nil {
		t.Fatal(err)
	}
	var cdf, ks float64
	si := 0
	for g := range len(grid) / 3 {
		upper := -lim + float64(g+1)*h
		cdf += math.Exp(steps[3*g+2]) * h
		for si < n && samples[si] <= upper {
			si++
		}
		ks = math.Max(ks, math.Abs(float64(si)/n-cdf))
	}
	t.Logf("KS distance %.4f, total mass %.6f", ks, cdf)
	if ks > 1.95/math.Sqrt(n) {
		t.Errorf("KS distance %.4f between samples and the model's conditional", ks)
	}
}

// TestCloneConcurrent scores the same windows from a flow and its clone on
// two goroutines at once (run with -race to check the claim in the docs):
// both give the original's numbers.
func TestCloneConcurrent(t *testing.T) {
	f := mustNew(t, DefaultSpec(8, 2, 1), 5)
	rng := rand.New(rand.NewPCG(70, 71))
	randomize(f, rng, 0.3)
	x, c := normals(rng, 100*16), normals(rng, 100)
	want, err := f.StepLogProb(nil, x, c)
	if err != nil {
		t.Fatal(err)
	}
	g := f.Clone()
	results := make(chan []float64, 2)
	for _, h := range []*Flow{f, g} {
		go func() {
			var got []float64
			for range 20 {
				got, _ = h.StepLogProb(nil, x, c)
				h.SampleSuffix(make([]float64, 10*16), x[:10*14], 1, c[:10],
					rand.New(rand.NewPCG(1, 1)))
			}
			results <- got
		}()
	}
	for range 2 {
		got := <-results
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("concurrent score %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
}
