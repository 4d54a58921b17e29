package scorer_test

import (
	"context"
	"math"
	"testing"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// TestLinearBaseByDefault: Fit puts the linear base under the flow unless
// told Off, the model file keeps it, and on AR(1) data the default model's
// mean point score on 2000 fresh windows is the true conditional entropy in
// normalised units, 0.5 ln(2 pi e) + ln(2 / scale), within 0.05 nats (three
// sampling standard errors, sqrt(0.5/2000) = 0.016).
func TestLinearBaseByDefault(t *testing.T) {
	m := fitAR1(t)
	if !m.Flow().Spec().LinearBase {
		t.Fatal("default fit has no linear base")
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := scorer.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Flow().Spec().LinearBase {
		t.Error("decoded model lost its linear base")
	}
	_, sc := score(t, m, ar1(77, 2003, t0.Add(5000*60e9)))
	var mean float64
	for _, s := range sc.Score {
		mean += s
	}
	mean /= float64(len(sc.Score))
	entropy := 0.5*math.Log(2*math.Pi*math.E) + math.Log(2/m.Meta().Norm.Scale[0])
	t.Logf("mean score %.4f over %d windows, entropy %.4f", mean, len(sc.Score), entropy)
	if math.Abs(mean-entropy) > 0.05 {
		t.Errorf("mean score %.4f is %.4f from the entropy %.4f", mean, mean-entropy, entropy)
	}

	opt := smallOptions()
	opt.LinearBase = scorer.Off
	off, err := scorer.Fit(context.Background(),
		[][]timeseries.Sample{ar1(1, 3000, t0)}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if off.Flow().Spec().LinearBase {
		t.Error("LinearBase Off still built a linear base")
	}
}
