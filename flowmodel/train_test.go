package flowmodel

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// AR(2) process x_t = phi1 x_{t-1} + phi2 x_{t-2} + sigma e_t, e_t ~ N(0, 1).
// With a window of W >= 3 the last step's exact conditional given the
// window's past is N(phi1 x_{t-1} + phi2 x_{t-2}, sigma^2), whose entropy is
// 0.5 log(2 pi e sigma^2).
const (
	arPhi1  = 0.6
	arPhi2  = -0.3
	arSigma = 0.8
)

func arSeries(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n+100)
	for t := 2; t < len(x); t++ {
		x[t] = arPhi1*x[t-1] + arPhi2*x[t-2] + arSigma*rng.NormFloat64()
	}
	return x[100:] // drop the burn-in from the zero start
}

// windows cuts every length-w window (stride 1) of s, flattened.
func windows(s []float64, w int) []float64 {
	var out []float64
	for t := 0; t+w <= len(s); t++ {
		out = append(out, s[t:t+w]...)
	}
	return out
}

// TestTrainAR2 trains a small time-ordered flow on a simulated AR(2) series
// and compares the held-out NLL of the last step with the exact conditional
// entropy (tolerance 0.03 nats, from the issue). The held-out set has 16000
// windows whose last-step innovations are independent, so the sampling
// standard error of the mean NLL is sqrt(0.5/16000) = 0.0056 nats.
// Then it samples the last step given held-out prefixes: the residuals
// against the true conditional mean must have mean 0 and variance sigma^2
// within 4 standard errors (plus 0.01 for the model's own error).
func TestTrainAR2(t *testing.T) {
	const w = 5
	rng := rand.New(rand.NewPCG(2024, 1))
	train := windows(arSeries(rng, 40000), w)
	valid := windows(arSeries(rng, 8000), w)
	test := windows(arSeries(rng, 16000), w)

	f := mustNew(t, Spec{Window: w, Hidden: 16, Layers: 2, HiddenLayers: 1}, 7)
	var epochs []Progress
	rep, err := Train(context.Background(), f, Data{X: train}, Data{X: valid}, TrainOptions{
		Epochs: 60, BatchSize: 128, LearningRate: 2e-3, Patience: 8, Seed: 1,
		Progress: func(p Progress) { epochs = append(epochs, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report %+v", rep)
	if len(epochs) != rep.Epochs || rep.SkippedSteps != 0 || rep.BestEpoch < 1 {
		t.Errorf("report %+v after %d progress calls", rep, len(epochs))
	}

	steps, err := f.StepLogProb(nil, test, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := len(test) / w
	var model, truth float64
	for n := range rows {
		model -= steps[n*w+w-1]
		x := test[n*w : n*w+w]
		e := (x[w-1] - arPhi1*x[w-2] - arPhi2*x[w-3]) / arSigma
		truth += 0.5*e*e + math.Log(arSigma) + logSqrt2Pi
	}
	model /= float64(rows)
	truth /= float64(rows)
	entropy := 0.5*math.Log(2*math.Pi*math.E) + math.Log(arSigma)
	t.Logf("last-step NLL: model %.4f, true conditional on the same windows %.4f, entropy %.4f",
		model, truth, entropy)
	if math.Abs(model-entropy) > 0.03 {
		t.Errorf("model last-step NLL %.4f is %.4f from the entropy %.4f",
			model, model-entropy, entropy)
	}

	const ns = 8192
	prefix := make([]float64, ns*(w-1))
	for n := range ns {
		copy(prefix[n*(w-1):], test[n*w:n*w+w-1])
	}
	dst := make([]float64, ns*w)
	if _, err := f.SampleSuffix(dst, prefix, 1, nil, rand.New(rand.NewPCG(3, 3))); err != nil {
		t.Fatal(err)
	}
	var m1, m2 float64
	for n := range ns {
		x := dst[n*w : n*w+w]
		r := x[w-1] - arPhi1*x[w-2] - arPhi2*x[w-3]
		m1 += r
		m2 += r * r
	}
	m1 /= ns
	v := m2/ns - m1*m1
	s2 := arSigma * arSigma
	seMean, seVar := arSigma/math.Sqrt(ns), s2*math.Sqrt(2.0/ns)
	t.Logf("sampled residuals: mean %.4f (se %.4f), variance %.4f (true %.4f, se %.4f)",
		m1, seMean, v, s2, seVar)
	if math.Abs(m1) > 4*seMean+0.01 || math.Abs(v-s2) > 4*seVar+0.01 {
		t.Errorf("conditional samples: mean %.4f, variance %.4f; want 0 and %.4f", m1, v, s2)
	}
}

// TestTrainDeterministic: the same seeds give bit-identical weights, and a
// cancelled context stops training with the context's error.
func TestTrainDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	data := windows(arSeries(rng, 600), 4)
	spec := Spec{Window: 4, Context: 0, Hidden: 8, Layers: 2}
	opt := TrainOptions{Epochs: 3, BatchSize: 64, Seed: 9, WeightDecay: 1e-4}
	a, b := mustNew(t, spec, 1), mustNew(t, spec, 1)
	ra, err := Train(context.Background(), a, Data{X: data}, Data{}, opt)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := Train(context.Background(), b, Data{X: data}, Data{}, opt)
	if ra != rb && !(math.IsNaN(ra.BestValidNLL) && math.IsNaN(rb.BestValidNLL)) {
		t.Errorf("reports differ: %+v vs %+v", ra, rb)
	}
	for i := range a.theta {
		if a.theta[i] != b.theta[i] {
			t.Fatalf("parameter %d: %v vs %v", i, a.theta[i], b.theta[i])
		}
	}
	if ra.Steps != 3*10 || ra.Stopped != StopMaxEpochs {
		t.Errorf("report %+v, want 30 steps and %s", ra, StopMaxEpochs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Train(ctx, a, Data{X: data}, Data{}, opt)
	if !errors.Is(err, context.Canceled) || rep.Stopped != StopCanceled {
		t.Errorf("cancelled: report %+v, error %v", rep, err)
	}
}

// TestTrainSkipsNonFinite: a window of huge values overflows the loss; its
// steps are skipped and counted, and the weights stay finite.
func TestTrainSkipsNonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	data := windows(arSeries(rng, 200), 4)
	for i := range 4 {
		data[i] = 1e300
	}
	f := mustNew(t, Spec{Window: 4, Hidden: 8, Layers: 2}, 1)
	rep, err := Train(context.Background(), f, Data{X: data}, Data{}, TrainOptions{
		Epochs: 2, BatchSize: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SkippedSteps != 2 || rep.Steps != 0 {
		t.Errorf("report %+v, want 2 skipped steps and none applied", rep)
	}
	for _, v := range f.theta {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatal("non-finite weight after skipped steps")
		}
	}
}
