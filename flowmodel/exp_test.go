package flowmodel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExp checks expGo against math.Exp (relative error below 4e-16 on
// [-708, 708]) and the vectorised path against expGo bit for bit.
func TestExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	xs := []float64{
		0, -0.0, 1, -1, 0.5 * math.Ln2, -0.5 * math.Ln2, 3, -3, 708, -708, 700.5, -707.9,
	}
	for range 20000 {
		xs = append(xs, (2*rng.Float64()-1)*708, (2*rng.Float64()-1)*4)
	}
	got := make([]float64, len(xs))
	vexp(got, xs)
	var worst float64
	for i, x := range xs {
		g := expGo(x)
		if math.Float64bits(got[i]) != math.Float64bits(g) {
			t.Fatalf("vexp(%v) = %v, expGo = %v", x, got[i], g)
		}
		want := math.Exp(x)
		worst = math.Max(worst, math.Abs(g-want)/want)
	}
	t.Logf("kernel %s, worst relative error %.3g", KernelName(), worst)
	if worst > 4e-16 {
		t.Errorf("worst relative error %.3g", worst)
	}
	if v := expGo(math.NaN()); !math.IsNaN(v) {
		t.Errorf("expGo(NaN) = %v", v)
	}
	nan := []float64{1, math.NaN(), 2, 3}
	vexp(nan, nan)
	if !math.IsNaN(nan[1]) {
		t.Errorf("vexp lost a NaN: %v", nan)
	}
}

// TestSoftClamp compares the exp-based soft clamp with math.Tanh.
func TestSoftClamp(t *testing.T) {
	a := []float64{0, 1e-12, -1e-6, 0.3, -2, 5, -40, 1e6, -1e300}
	alpha, e, tmp := make([]float64, len(a)), make([]float64, len(a)), make([]float64, len(a))
	const kappa = 3.0
	softClamp(alpha, e, a, kappa, tmp)
	for i, v := range a {
		want := kappa * math.Tanh(v/kappa)
		if math.Abs(alpha[i]-want) > 1e-15 || alpha[i] != clampOne(v, kappa) {
			t.Errorf("clamp(%v) = %v (scalar %v), want %v", v, alpha[i], clampOne(v, kappa), want)
		}
		if math.Abs(e[i]-math.Exp(-alpha[i])) > 1e-15*e[i] {
			t.Errorf("exp(-%v) = %v", alpha[i], e[i])
		}
	}
}

// TestLog checks logGo against math.Log (error below 4e-16 relative, or
// 1e-16 absolute near 1) on positive normal numbers, and the vectorised
// path against logGo bit for bit.
func TestLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	xs := []float64{1, 2, 0.5, math.Sqrt2, math.Nextafter(math.Sqrt2, 3), math.E, 1e-300,
		2.2250738585072014e-308, 1.7976931348623157e308, 1 + 1e-15, 1 - 1e-16, 3, 1e6}
	for range 20000 {
		xs = append(xs, math.Exp((2*rng.Float64()-1)*700), 1+rng.Float64(), 0.5+rng.Float64())
	}
	got := make([]float64, len(xs))
	vlog(got, xs)
	var worst float64
	for i, x := range xs {
		g := logGo(x)
		if math.Float64bits(got[i]) != math.Float64bits(g) {
			t.Fatalf("vlog(%v) = %v, logGo = %v", x, got[i], g)
		}
		want := math.Log(x)
		err := math.Abs(g - want)
		if math.Abs(want) > 0.4 {
			err /= math.Abs(want)
		}
		worst = math.Max(worst, err)
	}
	t.Logf("kernel %s, worst error %.3g", KernelName(), worst)
	if worst > 4e-16 {
		t.Errorf("worst error %.3g", worst)
	}
}
