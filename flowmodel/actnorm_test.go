package flowmodel

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// TestActNormInit: Train sets the ActNorm layers from data once, so that the
// first layer's normalised inputs have mean 0 and variance 1 per coordinate
// (to 1e-10 and 1e-12), a constant channel gets the floored scale, and a saved and
// loaded model is not set again.
func TestActNormInit(t *testing.T) {
	rng := rand.New(rand.NewPCG(40, 41))
	const rows, d = 500, 4
	x := make([]float64, rows*d)
	for n := range rows {
		x[n*d] = 10 + 3*rng.NormFloat64()
		x[n*d+1] = -2 + 0.01*rng.NormFloat64()
		x[n*d+2] = 7 // a constant sensor
		x[n*d+3] = rng.ExpFloat64()
	}
	f := mustNew(t, Spec{Window: d, Hidden: 8, Layers: 2, ActNorm: true}, 1)
	f.initActNorm(x, nil)
	ws := f.newWorkspace(rows, true)
	f.forward(x, nil, rows, ws)
	for i := range d {
		var m, v float64
		for n := range rows {
			m += ws.an[0][n*d+i]
		}
		m /= rows
		for n := range rows {
			v += (ws.an[0][n*d+i] - m) * (ws.an[0][n*d+i] - m)
		}
		v /= rows
		wantV := 1.0
		if i == 2 {
			wantV = 0
		}
		if math.Abs(m) > 1e-10 || math.Abs(v-wantV) > 1e-12 {
			t.Errorf("coordinate %d after ActNorm: mean %v, variance %v", i, m, v)
		}
	}
	if got := f.an[0].lam[2]; got != -math.Log(actNormMinStd) {
		t.Errorf("constant channel: log-scale %v, want %v", got, -math.Log(actNormMinStd))
	}

	opt := TrainOptions{Epochs: 1, Seed: 1}
	if _, err := Train(context.Background(), f, Data{X: x}, Data{}, opt); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Save(&buf, nil); err != nil {
		t.Fatal(err)
	}
	g, _, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !g.anInit {
		t.Fatal("loaded model lost its ActNorm flag")
	}
	// Training the loaded model on data shifted by 100 with a negligible
	// step must leave the ActNorm offsets alone: a re-initialisation would
	// move b_0 by about -100/3.
	b0 := g.an[0].b[0]
	shifted := append([]float64(nil), x...)
	for i := range shifted {
		shifted[i] += 100
	}
	opt = TrainOptions{Epochs: 1, LearningRate: 1e-12, Seed: 1}
	if _, err := Train(context.Background(), g, Data{X: shifted}, Data{}, opt); err != nil {
		t.Fatal(err)
	}
	if math.Abs(g.an[0].b[0]-b0) > 1e-9 {
		t.Errorf("ActNorm offset moved from %v to %v: re-initialised", b0, g.an[0].b[0])
	}
}
