package flowmodel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSampleSuffixMixing: with channel mixing and ActNorm, conditional
// samples of a 2-channel step follow the model's own conditional. The
// marginal CDF of the first channel comes from a midpoint quadrature of
// exp(step term) over both channels on [-8, 8]^2 (step 0.04); the
// Kolmogorov-Smirnov distance of 4000 samples must stay below the 0.1%
// critical value 1.95/sqrt(n) plus 0.005 for the quadrature.
func TestSampleSuffixMixing(t *testing.T) {
	f := mustNew(t, Spec{Window: 2, Channels: 2, Hidden: 8, Layers: 3, ActNorm: true,
		ChannelMixing: true}, 3)
	rng := rand.New(rand.NewPCG(50, 51))
	randomize(f, rng, 0.5)
	const n = 4000
	prefix := slices.Repeat([]float64{0.3, -0.6}, n)
	dst := make([]float64, 4*n)
	if _, err := f.SampleSuffix(dst, prefix, 1, nil, rng); err != nil {
		t.Fatal(err)
	}
	samples := make([]float64, n)
	for i := range n {
		samples[i] = dst[4*i+2]
	}
	slices.Sort(samples)

	const lim, h = 8.0, 0.04
	var g []float64
	for v := -lim + h/2; v < lim; v += h {
		g = append(g, v)
	}
	x := make([]float64, 0, 4*len(g)*len(g))
	for _, a := range g {
		for _, b := range g {
			x = append(x, 0.3, -0.6, a, b)
		}
	}
	steps, err := f.StepLogProb(nil, x, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cdf, ks float64
	si := 0
	for ia := range g {
		for ib := range g {
			cdf += math.Exp(steps[2*(ia*len(g)+ib)+1]) * h * h
		}
		upper := -lim + float64(ia+1)*h
		for si < n && samples[si] <= upper {
			si++
		}
		ks = math.Max(ks, math.Abs(float64(si)/n-cdf))
	}
	t.Logf("KS distance %.4f, total mass %.5f", ks, cdf)
	if math.Abs(cdf-1) > 2e-3 || ks > 1.95/math.Sqrt(n)+0.005 {
		t.Errorf("KS distance %.4f, mass %.5f", ks, cdf)
	}
}
