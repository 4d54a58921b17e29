package scorer

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGammaSurprise(t *testing.T) {
	// Closed forms of -ln P(Gamma(k, 1) >= x): x for k = 1,
	// x - ln(1 + x) for k = 2, x - ln(1 + x + x^2/2) for k = 3.
	for _, x := range []float64{0.5, 3, 40, 700} {
		for k, want := range []float64{x, x - math.Log1p(x), x - math.Log(1+x+x*x/2)} {
			if got := gammaSurprise(k+1, x); math.Abs(got-want) > 1e-9*max(1, want) {
				t.Errorf("gammaSurprise(%d, %v) = %v, want %v", k+1, x, got, want)
			}
		}
	}
}

func TestPolicyRun(t *testing.T) {
	// Eight points at p = 0.01 each: none is flagged at alpha 1e-6 alone,
	// but together they are a run with Fisher surprise
	// -ln P(Gamma(8) >= 8 ln 100), about 17.6 nats, minus ln 2.
	p := NewPolicy(PolicyConfig{Alpha: 1e-6, Run: 8})
	u := math.Log(100)
	var d Decision
	for i := range 8 {
		d = p.Next(u)
		if i < 7 && (d.Flagged || d.Surprise != u-math.Ln2) {
			t.Fatalf("point %d: %+v before the run is complete", i, d)
		}
	}
	want := gammaSurprise(8, 8*u) - math.Ln2
	if !d.Flagged || math.Abs(d.Surprise-want) > 1e-12 || want < 14 {
		t.Errorf("run surprise %v flagged %v, want %v flagged", d.Surprise, d.Flagged, want)
	}
	// One extreme point among usual ones is a point anomaly, not a run:
	// its pooled share is capped, so the run adds nothing after it.
	p = NewPolicy(PolicyConfig{Alpha: 1e-6, Run: 4})
	for _, u := range []float64{0.3, 0.7, 1.1} {
		p.Next(u)
	}
	if d := p.Next(60); d.Surprise != 60-math.Ln2 || !d.Flagged {
		t.Errorf("extreme point: %+v, want surprise 60 - ln 2", d)
	}
	if d := p.Next(0.5); d.Flagged {
		t.Errorf("point after the extreme one flagged by the run: %+v", d)
	}
	p.Reset()
	if d := p.Next(u); d.Surprise != u-math.Ln2 {
		t.Errorf("after Reset: %+v, want the point's own surprise minus ln 2", d)
	}
	if d := NewPolicy(PolicyConfig{Alpha: 0.01, Run: -1}).Next(math.Log(1000)); !d.Flagged ||
		d.Surprise != math.Log(1000) {
		t.Errorf("without a run: %+v", d)
	}
}

// TestPolicyRebuild: a policy started part-way through a series, as after
// a detector's restart, flags no point the policy that saw the whole series
// did not; once its pool is full it decides every point exactly alike.
func TestPolicyRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, run = 2000, 4
	u := make([]float64, n)
	for i := range u {
		u[i] = -math.Log(rng.Float64()) // uniform p-values
		if rng.IntN(50) == 0 {
			u[i] += 8 + 4*rng.Float64() // now and then an improbable stretch
		}
	}
	cfg := PolicyConfig{Alpha: 1e-4, Run: run}
	whole := NewPolicy(cfg)
	ref := make([]Decision, n)
	flagged := 0
	for i := range u {
		ref[i] = whole.Next(u[i])
		if ref[i].Flagged {
			flagged++
		}
	}
	if flagged < 20 {
		t.Fatalf("%d of %d flagged: the test needs flags to compare", flagged, n)
	}
	for start := 0; start < n; start += 37 {
		p := NewPolicy(cfg)
		for i := start; i < n; i++ {
			d := p.Next(u[i])
			switch {
			case d.Flagged && !ref[i].Flagged:
				t.Fatalf("from %d: point %d flagged (%v), not by the whole run (%v)",
					start, i, d.Surprise, ref[i].Surprise)
			case i-start >= run-1 && d != ref[i]:
				t.Fatalf("from %d: point %d decided %+v, the whole run %+v", start, i, d, ref[i])
			}
		}
	}
}

func TestDecisionPValue(t *testing.T) {
	for _, c := range []struct{ surprise, want float64 }{
		{0, 1},
		{-math.Ln2, 1}, // a point's own surprise less the Bonferroni ln 2
		{math.Log(1000), 0.001},
		{800, math.SmallestNonzeroFloat64}, // exp(-800) underflows to 0
		{math.Inf(1), math.SmallestNonzeroFloat64},
	} {
		got := Decision{Surprise: c.surprise}.PValue()
		if math.Abs(got-c.want) > 1e-15*c.want {
			t.Errorf("PValue at surprise %v = %v, want %v", c.surprise, got, c.want)
		}
	}
}
