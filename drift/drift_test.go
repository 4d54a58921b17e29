package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Reference values of the Kolmogorov distribution's upper quantiles, from
// the classic tables (e.g. Stephens 1970, table 1A, n = infinity column).
func TestKolmogorovSurvivalKnownQuantiles(t *testing.T) {
	cases := []struct{ x, p float64 }{
		{1.2238, 0.10},
		{1.3581, 0.05},
		{1.6276, 0.01},
		{1.9495, 0.001},
	}
	for _, c := range cases {
		if got := KolmogorovSurvival(c.x); math.Abs(got-c.p) > 2e-4 {
			t.Errorf("P(K > %v) = %.6f, want %.4f", c.x, got, c.p)
		}
	}
}

func TestKSUniformByHand(t *testing.T) {
	// n = 4 at 0.1, 0.2, 0.3, 0.9: largest gap is i/n - u at i=3: 0.75-0.3.
	got := KSUniform([]float64{0.1, 0.2, 0.3, 0.9})
	if math.Abs(got-0.45) > 1e-15 {
		t.Fatalf("D = %v, want 0.45", got)
	}
	// Perfectly spread points (i-0.5)/n are at distance 1/(2n).
	u := []float64{0.125, 0.375, 0.625, 0.875}
	if got := KSUniform(u); math.Abs(got-0.125) > 1e-15 {
		t.Fatalf("D = %v, want 0.125", got)
	}
}

// TestKSCriticalLevel checks by simulation that the critical value is
// exceeded about alpha of the time at alpha = 0.05, n = 200.
func TestKSCriticalLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, trials, alpha = 200, 4000, 0.05
	crit := KSCritical(n, alpha)
	u := make([]float64, n)
	var over int
	for range trials {
		for i := range u {
			u[i] = rng.Float64()
		}
		slices.Sort(u)
		if KSUniform(u) > crit {
			over++
		}
	}
	rate := float64(over) / trials
	// Binomial standard error at 4000 trials is 0.0034; allow 3 of them.
	if math.Abs(rate-alpha) > 0.011 {
		t.Fatalf("rejection rate %.4f at nominal %.2f (critical D %.4f)", rate, alpha, crit)
	}
}

// TestStationaryStreamRaisesNoDrift feeds 200,000 uniform p-values, as a
// calibrated model on a stationary stream produces, with a few points out
// of range as a heavy tail would give.
func TestStationaryStreamRaisesNoDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	m := NewMonitor(Config{})
	for i := range 200_000 {
		if v, ok := m.Observe(1-rng.Float64(), rng.Float64() < 0.01); ok {
			t.Fatalf("false drift at point %d: %v", i, v)
		}
	}
}

func TestShiftIsDetectedWithinAWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := NewMonitor(Config{})
	for range 5000 {
		if v, ok := m.Observe(1-rng.Float64(), false); ok {
			t.Fatalf("drift before the shift: %v", v)
		}
	}
	// After a level shift most points are improbable: p-values pile up
	// near zero (here p = u^3).
	for i := range 2000 {
		u := 1 - rng.Float64()
		if v, ok := m.Observe(u*u*u, false); ok {
			if v.Reason != "p-values not uniform" || v.Statistic <= v.Threshold {
				t.Fatalf("verdict %v", v)
			}
			if i > 1000 {
				t.Fatalf("drift found only %d points after the shift", i)
			}
			return
		}
	}
	t.Fatal("no drift after 2000 shifted points")
}

func TestOutOfRangeAloneIsDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m := NewMonitor(Config{Window: 500, Every: 50, MaxOutOfRange: 0.2})
	var got Verdict
	var ok bool
	for i := 0; i < 2000 && !ok; i++ {
		got, ok = m.Observe(1-rng.Float64(), i >= 500 && i%2 == 0)
	}
	if !ok || got.Reason != "inputs out of range" || got.OutOfRangeShare <= 0.2 {
		t.Fatalf("verdict %v, %v", got, ok)
	}
}

func TestVerdictClearsWindow(t *testing.T) {
	m := NewMonitor(Config{Window: 100, Every: 10})
	fired := 0
	for range 150 {
		if _, ok := m.Observe(0.001, false); ok {
			fired++
		}
	}
	// The window refills from empty after a verdict: 100 points to the
	// first one, and the remaining 50 cannot fill it again.
	if fired != 1 {
		t.Fatalf("verdicts = %d, want 1", fired)
	}
}

// TestReferenceWidensThreshold: with m calibration scores the critical
// distance is the two-sample one, sqrt(1 + n/m) times the one-sample
// distance at the same level (Stephens' factor is the same on both sides).
func TestReferenceWidensThreshold(t *testing.T) {
	base := NewMonitor(Config{Window: 1000, Alpha: 1e-6})
	if got, want := base.Threshold(), KSCritical(1000, 1e-6); got != want {
		t.Fatalf("no reference: threshold %v, want %v", got, want)
	}
	for _, m := range []int{1, 100, 320, 1000, 50000} {
		got := NewMonitor(Config{Window: 1000, Alpha: 1e-6, Reference: m}).Threshold() /
			base.Threshold()
		if want := math.Sqrt(1 + 1000/float64(m)); math.Abs(got-want) > 1e-12 {
			t.Errorf("m=%d: threshold ratio %.15f, want %.15f", m, got, want)
		}
	}
}

func TestStatisticFollowsTests(t *testing.T) {
	m := NewMonitor(Config{Window: 100, Every: 10})
	for range 99 {
		m.Observe(0.5, false)
	}
	if _, ok := m.Statistic(); ok {
		t.Fatal("statistic before the first test")
	}
	m.Observe(0.5, false) // 100 points at 0.5: D = 0.5
	if d, ok := m.Statistic(); !ok || math.Abs(d-0.5) > 1e-15 {
		t.Fatalf("statistic %v, %v; want 0.5", d, ok)
	}
}

func BenchmarkObserve(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := NewMonitor(Config{})
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(rng.Float64(), false)
	}
}
