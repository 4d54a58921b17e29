package timeseries

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFitNormaliser(t *testing.T) {
	// Channel 0: 1..9 and 100, median 5.5, absolute deviations
	// 4.5 3.5 2.5 1.5 .5 .5 1.5 2.5 3.5 94.5 with median 2.5.
	// Channel 1: constant 7 except one 8: MAD 0, mean absolute deviation
	// 0.1. Channel 2: constant 1e6: both 0, so the relative floor.
	x := make([]float64, 0, 30)
	for i := range 10 {
		v0 := float64(i + 1)
		if i == 9 {
			v0 = 100
		}
		v1 := 7.0
		if i == 3 {
			v1 = 8
		}
		x = append(x, v0, v1, 1e6)
	}
	n, err := FitNormaliser(x, 3, NormConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := Normaliser{Loc: []float64{5.5, 7, 1e6},
		Scale: []float64{madToSigma * 2.5, meanADToSigma * 0.1, 1e-6 * 1e6}}
	for i := range 3 {
		if math.Abs(n.Loc[i]-want.Loc[i]) > 1e-12 || math.Abs(n.Scale[i]-want.Scale[i]) > 1e-12 {
			t.Errorf("channel %d: loc %v scale %v, want %v %v", i, n.Loc[i], n.Scale[i],
				want.Loc[i], want.Scale[i])
		}
	}

	// Zero everywhere: the absolute floor.
	z, err := FitNormaliser([]float64{0, 0, 0}, 1, NormConfig{Floor: 0.5})
	if err != nil || z.Scale[0] != 0.5 {
		t.Errorf("zeros: %+v %v, want scale 0.5", z, err)
	}

	// Apply then Invert is the identity up to rounding; JSON keeps it.
	y := append([]float64(nil), x...)
	n.Apply(y)
	if math.Abs(y[0]-(1-5.5)/(madToSigma*2.5)) > 1e-12 {
		t.Errorf("apply: %v", y[0])
	}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var back Normaliser
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Invert(y)
	for i := range x {
		if math.Abs(y[i]-x[i]) > 1e-9*math.Max(1, math.Abs(x[i])) {
			t.Fatalf("invert %d: %v, want %v", i, y[i], x[i])
		}
	}

	for _, bad := range [][]float64{nil, {1, 2, 3}, {1, math.NaN()}} {
		if _, err := FitNormaliser(bad, 2, NormConfig{}); err == nil {
			t.Errorf("FitNormaliser(%v) succeeded", bad)
		}
	}
}

func TestOnlineNormaliser(t *testing.T) {
	s := newTestSeries(t, Config{Step: 0, Window: 2, NormWarmUp: 5}, 1)
	vals := []float64{3, 1, 4, 1, 5, 9, 2}
	for i, v := range vals {
		s.Push(smp(0+timeSec(i), v))
		_, ok := s.Normaliser()
		if ok != (i >= 4) {
			t.Fatalf("after %d steps ready=%t", i+1, ok)
		}
	}
	// Fitted on 3 1 4 1 5 only: median 3, deviations 0 2 1 2 2, MAD 2.
	n, _ := s.Normaliser()
	if n.Loc[0] != 3 || math.Abs(n.Scale[0]-madToSigma*2) > 1e-12 {
		t.Errorf("online fit %+v, want loc 3 scale %v", n, madToSigma*2)
	}
}
