package flowmodel_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/flowguard/flowguard/flowmodel"
)

// A time-ordered flow scores a batch of windows step by step; the last
// column is the online score of each window's newest step, and the steps of
// a window add up to its log-density.
func Example() {
	f, err := flowmodel.New(flowmodel.Spec{Window: 8, Hidden: 16, Layers: 2}, 1)
	if err != nil {
		panic(err)
	}
	windows := []float64{
		0, 0.1, 0.2, 0.1, 0, -0.1, -0.2, -0.1,
		0, 0.1, 0.2, 0.1, 0, -0.1, -0.2, 4.0,
	}
	steps, err := f.StepLogProb(nil, windows, nil)
	if err != nil {
		panic(err)
	}
	lp, _ := f.LogProb(nil, windows, nil)
	for n := range 2 {
		var sum float64
		for _, s := range steps[n*8 : n*8+8] {
			sum += s
		}
		fmt.Printf("window %d: newest step %.2f nats, sum of steps %.4f, log p %.4f\n",
			n, steps[n*8+7], sum, lp[n])
	}
	// Output:
	// window 0: newest step -0.92 nats, sum of steps -7.4113, log p -7.4113
	// window 1: newest step -8.92 nats, sum of steps -15.4093, log p -15.4093
}

// Forecast the next two steps of a window given its first six, 3 samples.
func ExampleFlow_SampleSuffix() {
	f, err := flowmodel.New(flowmodel.Spec{Window: 8, Hidden: 16, Layers: 2}, 1)
	if err != nil {
		panic(err)
	}
	known := []float64{0, 0.1, 0.2, 0.1, 0, -0.1}
	prefix := append(append(append([]float64(nil), known...), known...), known...)
	out := make([]float64, 3*8)
	rng := rand.New(rand.NewPCG(1, 2))
	if _, err := f.SampleSuffix(out, prefix, 2, nil, rng); err != nil {
		panic(err)
	}
	for n := range 3 {
		fmt.Printf("%v -> %.2f\n", out[n*8:n*8+6], out[n*8+6:n*8+8])
	}
}
