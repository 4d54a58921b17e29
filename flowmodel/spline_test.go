package flowmodel

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSplineInverse round-trips random splines at random points, exactly on
// every knot, at and beyond the tail bound and at 1e6, and requires the
// forward log-derivative to match a central difference.
func TestSplineInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 31))
	for trial := range 200 {
		k := 2 + rng.IntN(10)
		s := &rqs{k: k, b: 1 + 5*rng.Float64()}
		row := make([]float64, 3*k-1)
		scale := []float64{0, 0.5, 3}[trial%3] // 0: all-equal logits
		for i := range row {
			row[i] = scale * rng.NormFloat64()
		}
		s.prepare(row, 1)
		s.load(0)
		xs := []float64{-1e6, 1e6, -s.b, s.b, math.Nextafter(s.b, 0), -s.b * 1.5, 0}
		xs = append(xs, s.xk[:k+1]...)
		for range 20 {
			xs = append(xs, (2*rng.Float64()-1)*s.b)
		}
		for _, x := range xs {
			y, ld := s.forward(x)
			back := s.inverse(y)
			if math.IsNaN(y) || math.IsNaN(ld) || math.Abs(back-x) > 1e-9*math.Max(1, math.Abs(x)) {
				t.Fatalf("trial %d: x %v -> y %v (ld %v) -> %v", trial, x, y, ld, back)
			}
			if math.Abs(x) < s.b-1e-4 && !nearKnot(s, x, 1e-4) {
				const h = 1e-7
				up, _ := s.forward(x + h)
				down, _ := s.forward(x - h)
				// Rounding of y limits the difference quotient to a relative
				// error of about ulp(y)/(h dy/dx).
				tol := 1e-5 + 4e-16*math.Max(1, math.Abs(y))/(h*math.Exp(ld))
				if num := math.Log((up - down) / (2 * h)); math.Abs(num-ld) > tol {
					t.Fatalf("trial %d: log dy/dx at %v: analytic %v, numeric %v",
						trial, x, ld, num)
				}
			}
		}
		if scale == 0 {
			// Uniform bins and unit derivatives: the identity.
			for _, x := range xs {
				if y, ld := s.forward(x); math.Abs(y-x) > 1e-12 || math.Abs(ld) > 1e-12 {
					t.Fatalf("zero logits: %v -> %v, log-derivative %v", x, y, ld)
				}
			}
		}
	}
}

func nearKnot(s *rqs, x, eps float64) bool {
	for _, k := range s.xk[:s.k+1] {
		if math.Abs(x-k) < eps {
			return true
		}
	}
	return false
}

// TestSplineExtremeInputs: values up to 1e6 and windows of equal values give
// finite log-densities.
func TestSplineExtremeInputs(t *testing.T) {
	f := mustNew(t, Spec{Window: 6, Context: 1, Hidden: 8, Layers: 3, LayerType: LayerSpline}, 1)
	randomize(f, rand.New(rand.NewPCG(1, 1)), 1)
	x := []float64{
		1e6, -1e6, 1e6, 0, 1e-300, -1e6,
		3, 3, 3, 3, 3, 3,
		0, 0, 0, 0, 0, 0,
	}
	lp, err := f.LogProb(nil, x, []float64{0.5, 0.5, 0.5})
	if err == nil {
		// The affine identity tails make 1e6 improbable but finite.
		for _, v := range lp {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("log p %v", lp)
			}
		}
		return
	}
	t.Fatalf("LogProb: %v (%v)", err, lp)
}

// Bimodal walk: y_t = y_{t-1} + u_t + sigma e_t with u_t = +1 or -1 at random,
// windows taken relative to the value just before the window. The last
// step's conditional given the past is 0.5 N(y+1, s^2) + 0.5 N(y-1, s^2).
const bimodalSigma = 0.2

func bimodalWindows(rng *rand.Rand, n, w int) []float64 {
	out := make([]float64, 0, n*w)
	for range n {
		y := 0.0
		for range w {
			y += float64(2*rng.IntN(2)-1) + bimodalSigma*rng.NormFloat64()
			out = append(out, y)
		}
	}
	return out
}

// bimodalEntropy is the differential entropy of the conditional, by the
// midpoint rule on [-3, 3] with step 1e-4 (the modes are 5 sigma apart, so
// it is log 2 + 0.5 log(2 pi e sigma^2) to within 1e-6).
func bimodalEntropy() float64 {
	var h float64
	const step = 1e-4
	for v := -3 + step/2; v < 3; v += step {
		p := math.Exp(bimodalLogPdf(v, 0))
		h -= p * math.Log(p) * step
	}
	return h
}

func bimodalLogPdf(v, prev float64) float64 {
	a := (v - prev - 1) / bimodalSigma
	b := (v - prev + 1) / bimodalSigma
	return math.Log(0.5*math.Exp(-0.5*a*a)+0.5*math.Exp(-0.5*b*b)) -
		math.Log(bimodalSigma) - logSqrt2Pi
}

// TestSplineBimodal (issue 4): on held-out windows the time-ordered spline
// stack's last-step NLL is within 0.1 nats of the conditional entropy and at
// least 0.5 nats below the time-ordered affine stack's; conditional samples
// of the last step fall into both modes in equal proportion.
func TestSplineBimodal(t *testing.T) {
	const w = 3
	rng := rand.New(rand.NewPCG(77, 1))
	train := bimodalWindows(rng, 12000, w)
	valid := bimodalWindows(rng, 3000, w)
	test := bimodalWindows(rng, 8000, w)
	entropy := bimodalEntropy()
	rows := len(test) / w
	var truth float64
	for n := range rows {
		truth -= bimodalLogPdf(test[n*w+w-1], test[n*w+w-2])
	}
	truth /= float64(rows)

	lastNLL := func(f *Flow) float64 {
		steps, err := f.StepLogProb(nil, test, nil)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for n := range rows {
			s -= steps[n*w+w-1]
		}
		return s / float64(rows)
	}
	opt := TrainOptions{Epochs: 40, BatchSize: 128, LearningRate: 3e-3, Patience: 6, Seed: 3}
	spline := mustNew(t, Spec{Window: w, Hidden: 32, Layers: 2, LayerType: LayerSpline}, 5)
	rep, err := Train(context.Background(), spline, Data{X: train}, Data{X: valid}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spline training: %+v", rep)
	affine := mustNew(t, Spec{Window: w, Hidden: 32, Layers: 2}, 5)
	_, err = Train(context.Background(), affine, Data{X: train}, Data{X: valid}, opt)
	if err != nil {
		t.Fatal(err)
	}
	ns, na := lastNLL(spline), lastNLL(affine)
	t.Logf("last-step NLL: spline %.4f, affine %.4f, truth on these windows %.4f, entropy %.4f",
		ns, na, truth, entropy)
	if math.Abs(ns-entropy) > 0.1 {
		t.Errorf("spline NLL %.4f is %.4f from the entropy %.4f", ns, ns-entropy, entropy)
	}
	if na-ns < 0.5 {
		t.Errorf("spline NLL %.4f beats affine %.4f by only %.4f nats", ns, na, na-ns)
	}

	const draws = 4000
	prefix := make([]float64, draws*(w-1))
	for n := range draws {
		prefix[n*(w-1)], prefix[n*(w-1)+1] = -0.9, 0.2
	}
	dst := make([]float64, draws*w)
	if _, err := spline.SampleSuffix(dst, prefix, 1, nil, rand.New(rand.NewPCG(4, 4))); err != nil {
		t.Fatal(err)
	}
	up, down := 0, 0
	for n := range draws {
		v := dst[n*w+w-1]
		switch {
		case math.Abs(v-1.2) < 4*bimodalSigma:
			up++
		case math.Abs(v+0.8) < 4*bimodalSigma:
			down++
		}
	}
	// Binomial standard error of the share: sqrt(0.25/4000) = 0.0079.
	share := float64(up) / float64(up+down)
	t.Logf("samples: %d near the upper mode, %d near the lower, %d elsewhere", up, down,
		draws-up-down)
	if math.Abs(share-0.5) > 4*0.0079+0.02 || up+down < draws*95/100 {
		t.Errorf("samples: %d up, %d down of %d", up, down, draws)
	}
}

// TestDefaultSpec: the detector's default is a valid time-ordered spline
// stack for small and wide windows.
func TestDefaultSpec(t *testing.T) {
	cases := []struct{ w, c, ctx, hidden int }{{32, 1, 0, 64}, {32, 1, 4, 64}, {40, 3, 2, 120}}
	for _, tc := range cases {
		s := DefaultSpec(tc.w, tc.c, tc.ctx)
		if err := s.Validate(); err != nil || s.Hidden != tc.hidden || !s.TimeOrdered() ||
			s.LayerType != LayerSpline || s.Bins != 8 || s.TailBound != 5 || s.Layers != 4 {
			t.Errorf("DefaultSpec(%d, %d, %d) = %+v, %v", tc.w, tc.c, tc.ctx, s, err)
		}
	}
}

// TestSpecValidate: specs the package cannot build are refused with an
// error, not a panic.
func TestSpecValidate(t *testing.T) {
	bad := map[string]Spec{
		"unknown kind":        {Kind: "glow", Window: 4},
		"unknown layer":       {Window: 4, LayerType: "quadratic"},
		"narrow hidden":       {Window: 10, Hidden: 8},
		"1-value window":      {Window: 1},
		"bins on affine":      {Window: 4, Bins: 8},
		"too many bins":       {Window: 4, LayerType: LayerSpline, Bins: 65},
		"mask not realnvp":    {Window: 4, CouplingMask: "0101"},
		"mask length":         {Kind: KindRealNVP, Window: 4, CouplingMask: "010"},
		"mask one-sided":      {Kind: KindRealNVP, Window: 4, CouplingMask: "1111"},
		"mask characters":     {Kind: KindRealNVP, Window: 4, CouplingMask: "01x1"},
		"mixing one channel":  {Window: 4, ChannelMixing: true},
		"permutation, no MAF": {Window: 4, Permutation: PermRandom},
		"zero layers":         {Window: 4, Layers: -1},
	}
	for name, s := range bad {
		if _, err := New(s, 1); err == nil {
			t.Errorf("%s: New(%+v) accepted", name, s)
		}
	}
	if _, err := New(Spec{Kind: KindRealNVP, Window: 4, CouplingMask: "0110"}, 1); err != nil {
		t.Errorf("valid mask refused: %v", err)
	}
}

// TestSplineLargeLogits: logits beyond the unshifted softmax range take the
// shifted path and give the knots of the same logits moved into range
// (softmax is shift-invariant), to 1e-12.
func TestSplineLargeLogits(t *testing.T) {
	rng := rand.New(rand.NewPCG(60, 61))
	const k, d = 6, 3
	row := make([]float64, (3*k-1)*d)
	for i := range row {
		row[i] = rng.NormFloat64()
	}
	big := append([]float64(nil), row...)
	for i := range 2 * k * d {
		big[i] += 900
	}
	a, b := &rqs{k: k, b: 3}, &rqs{k: k, b: 3}
	a.prepare(row, d)
	b.prepare(big, d)
	for i := range d {
		a.load(i)
		b.load(i)
		for j := range k + 1 {
			if math.Abs(a.xk[j]-b.xk[j]) > 1e-12 || math.Abs(a.yk[j]-b.yk[j]) > 1e-12 {
				t.Fatalf("coordinate %d knot %d: %v,%v vs %v,%v", i, j, a.xk[j], a.yk[j],
					b.xk[j], b.yk[j])
			}
		}
	}
}
