package scorer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// ExampleFit trains on one series, then scores new data the way a detector
// does: windows built with the model's own features, raw values in, point
// scores and conformal p-values out.
func ExampleFit() {
	train := ar1(1, 2000, t0)
	m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{train}, scorer.Options{
		Window: 4, Seed: 1,
		Spec:  flowmodel.Spec{Hidden: 16, Layers: 2},
		Train: flowmodel.TrainOptions{Epochs: 20},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	meta := m.Meta()
	fmt.Printf("window %d, step %v, %d calibration scores\n", meta.Features.Window,
		meta.Features.Step, len(meta.Calibration))

	fresh := ar1(2, 100, t0.Add(100*time.Hour))
	fresh[99].Values[0] += 40 // a spike on the newest step
	w, _, err := meta.Features.Build([][]timeseries.Sample{fresh}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var sc scorer.Scores
	if err := m.Score(&sc, w.X, w.Context); err != nil {
		fmt.Println(err)
		return
	}
	last := w.Len() - 1
	fmt.Printf("%d windows; the spike's p-value is below 1/(n+1): %v\n", w.Len(),
		sc.P[last] < 1/float64(len(meta.Calibration)+1))
	// Output:
	// window 4, step 1m0s, 399 calibration scores
	// 97 windows; the spike's p-value is below 1/(n+1): true
}
