package flowmodel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGradients checks the hand-written backward pass against central finite
// differences (flow-math section 12) for every parameter entry, every input
// value and every context value, with tanh units so the loss is smooth.
// Masked weights must get an analytic gradient of exactly zero.
func TestGradients(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
	}{
		{"made", Spec{Window: 4, Hidden: 8, Layers: 1, Activation: ActTanh}},
		{"made-context", Spec{Window: 4, Context: 2, Hidden: 8, Layers: 1, Activation: ActTanh}},
		{"made-3-hidden", Spec{Window: 3, Context: 2, Hidden: 6, Layers: 1, HiddenLayers: 3,
			Activation: ActTanh}},
		{"resmade-context", Spec{Window: 4, Context: 2, Hidden: 8, Layers: 1, ResidualBlocks: 2,
			Activation: ActTanh}},
		{"time-ordered", Spec{Window: 3, Channels: 2, Context: 2, Hidden: 8, Layers: 3,
			Activation: ActTanh}},
		{"maf", Spec{Kind: KindMAF, Window: 4, Context: 2, Hidden: 8, Layers: 3,
			Activation: ActTanh}},
		{"maf-residual", Spec{Kind: KindMAF, Window: 4, Hidden: 8, Layers: 2, ResidualBlocks: 1,
			Activation: ActTanh}},
		{"maf-random-permutation", Spec{Kind: KindMAF, Window: 5, Context: 1, Hidden: 8, Layers: 3,
			Activation: ActTanh, Permutation: PermRandom, PermutationSeed: 9}},
		{"actnorm-time-ordered", Spec{Window: 3, Channels: 2, Context: 1, Hidden: 8, Layers: 2,
			Activation: ActTanh, ActNorm: true}},
		{"actnorm-spline", Spec{Window: 4, Hidden: 8, Layers: 2, Activation: ActTanh, ActNorm: true,
			LayerType: LayerSpline, Bins: 4, TailBound: 2.5}},
		{"lu-mixing-actnorm", Spec{Window: 2, Channels: 3, Context: 1, Hidden: 8, Layers: 2,
			Activation: ActTanh, ActNorm: true, ChannelMixing: true}},
		{"lu-mixing-spline-maf", Spec{Kind: KindMAF, Window: 2, Channels: 2, Hidden: 6, Layers: 2,
			Activation: ActTanh, ChannelMixing: true, LayerType: LayerSpline, Bins: 4,
			TailBound: 2.5}},
		{"realnvp-context", Spec{Kind: KindRealNVP, Window: 5, Context: 2, Hidden: 8, Layers: 3,
			Activation: ActTanh}},
		{"realnvp-window-mixing", Spec{Kind: KindRealNVP, Window: 4, Context: 1, Hidden: 8,
			Layers: 2, Activation: ActTanh, WindowMixing: true, ActNorm: true}},
		{"realnvp-custom-mask", Spec{Kind: KindRealNVP, Window: 5, Hidden: 8, Layers: 2,
			Activation: ActTanh, CouplingMask: "11010"}},
		{"realnvp-spline", Spec{Kind: KindRealNVP, Window: 2, Channels: 2, Hidden: 6, Layers: 2,
			Activation: ActTanh, LayerType: LayerSpline, Bins: 4, TailBound: 2.5}},
		{"spline-time-ordered", Spec{Window: 3, Channels: 2, Context: 2, Hidden: 8, Layers: 2,
			Activation: ActTanh, LayerType: LayerSpline, Bins: 4, TailBound: 2.5}},
		{"linear-base", Spec{Window: 3, Channels: 2, Context: 2, Hidden: 8, Layers: 2,
			Activation: ActTanh, LinearBase: true}},
		{"linear-base-actnorm-spline", Spec{Window: 4, Context: 1, Hidden: 8, Layers: 2,
			Activation: ActTanh, LinearBase: true, ActNorm: true, LayerType: LayerSpline,
			Bins: 4, TailBound: 2.5}},
		{"linear-base-maf-mixing", Spec{Kind: KindMAF, Window: 2, Channels: 2, Context: 1,
			Hidden: 6, Layers: 2, Activation: ActTanh, ChannelMixing: true, LinearBase: true}},
		{"spline-maf-residual", Spec{Kind: KindMAF, Window: 4, Hidden: 8, Layers: 2,
			ResidualBlocks: 1, Activation: ActTanh, LayerType: LayerSpline, Bins: 5, TailBound: 3}},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			f := mustNew(t, tc.spec, uint64(ci))
			randomize(f, rng, 0.6)
			const rows = 3
			d, nc := f.spec.Dim(), f.spec.Context
			x, c := normals(rng, rows*d), normals(rng, rows*nc)

			ws := f.newWorkspace(rows, true)
			clear(f.grad)
			f.forward(x, c, rows, ws)
			dx, dc := make([]float64, rows*d), make([]float64, rows*nc)
			f.backward(x, c, rows, ws, 1.0/rows, dx, dc)
			grad := append([]float64(nil), f.grad...)
			loss := func() float64 { return nll(f, x, c) }
			l0 := loss()

			free := unmasked(f)
			bad, checked := 0, 0
			for i := range f.theta {
				if !free[i] {
					if grad[i] != 0 {
						t.Errorf("masked parameter %d has gradient %v", i, grad[i])
					}
					continue
				}
				num := central(&f.theta[i], loss)
				checked++
				if !fdClose(grad[i], num, l0) {
					bad++
					if bad <= 5 {
						t.Errorf("parameter %d: analytic %.12g, numeric %.12g", i, grad[i], num)
					}
				}
			}
			for i := range x {
				if num := central(&x[i], loss); !fdClose(dx[i], num, l0) {
					t.Errorf("input %d: analytic %.12g, numeric %.12g", i, dx[i], num)
				}
			}
			for i := range c {
				if num := central(&c[i], loss); !fdClose(dc[i], num, l0) {
					t.Errorf("context %d: analytic %.12g, numeric %.12g", i, dc[i], num)
				}
			}
			t.Logf("checked %d parameters", checked)
			if bad > 0 || checked < 50 {
				t.Errorf("%d of %d parameters failed", bad, checked)
			}
		})
	}
}

// TestGradientsReLU spot-checks the ReLU path. Pre-activations at exactly 0
// are measure-zero with random data, but a step can cross one, so entries
// whose two one-sided differences disagree are skipped and counted.
func TestGradientsReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 7))
	f := mustNew(t, Spec{Window: 4, Context: 1, Hidden: 8, Layers: 2}, 3)
	randomize(f, rng, 0.6)
	const rows = 4
	x, c := normals(rng, rows*4), normals(rng, rows)
	ws := f.newWorkspace(rows, true)
	clear(f.grad)
	f.forward(x, c, rows, ws)
	f.backward(x, c, rows, ws, 1.0/rows, nil, nil)
	grad := append([]float64(nil), f.grad...)
	loss := func() float64 { return nll(f, x, c) }
	l0 := loss()
	free := unmasked(f)
	checked, kinks := 0, 0
	for i := range f.theta {
		if !free[i] {
			continue
		}
		num := central(&f.theta[i], loss)
		old := f.theta[i]
		h := 1e-6
		f.theta[i] = old + h
		fwd := (loss() - l0) / h
		f.theta[i] = old
		if math.Abs(fwd-num) > 1e-4*math.Max(1, math.Abs(num)) {
			kinks++
			continue
		}
		checked++
		if !fdClose(grad[i], num, l0) {
			t.Errorf("parameter %d: analytic %.12g, numeric %.12g", i, grad[i], num)
		}
	}
	if kinks > checked/20 {
		t.Errorf("%d kinks among %d entries: ReLU inputs too close to 0", kinks, checked)
	}
}
