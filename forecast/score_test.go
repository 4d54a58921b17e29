package forecast

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantile(t *testing.T) {
	x := []float64{1, 2, 4, 8, 16}
	// Reference values from numpy.quantile(x, p) (method "linear", type 7).
	cases := []struct{ p, want float64 }{
		{0, 1}, {0.1, 1.4}, {0.25, 2}, {0.5, 4}, {0.6, 5.6}, {0.95, 14.4}, {1, 16},
	}
	for _, tc := range cases {
		if got := Quantile(x, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Quantile([]float64{3}, 0.3); got != 3 {
		t.Errorf("Quantile of one value = %v, want 3", got)
	}
}

// crpsBrute is the definition with the double sum written out.
func crpsBrute(x []float64, y float64) float64 {
	n := float64(len(x))
	var a, b float64
	for _, xi := range x {
		a += math.Abs(xi - y)
		for _, xj := range x {
			b += math.Abs(xi - xj)
		}
	}
	return a/n - b/(2*n*n)
}

// crpsNormal is the closed form for N(mu, sigma^2) (Gneiting and Raftery
// 2007, eq. 5 of Gneiting et al. 2005):
// sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)], z = (y - mu)/sigma.
func crpsNormal(mu, sigma, y float64) float64 {
	z := (y - mu) / sigma
	phi := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
	cdf := 0.5 * math.Erfc(-z/math.Sqrt2)
	return sigma * (z*(2*cdf-1) + 2*phi - 1/math.Sqrt(math.Pi))
}

func TestCRPS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	small := make([]float64, 37)
	for i := range small {
		small[i] = rng.NormFloat64()*3 + 1
	}
	slices.Sort(small)
	for _, y := range []float64{-5, 0.5, 1, 9} {
		if got, want := CRPS(small, y), crpsBrute(small, y); math.Abs(got-want) > 1e-12 {
			t.Errorf("CRPS(y=%v) = %v, brute force %v", y, got, want)
		}
	}
	if got := CRPS([]float64{2}, 5.5); got != 3.5 {
		t.Errorf("CRPS of one sample = %v, want the absolute error 3.5", got)
	}

	// Against the Gaussian closed form: with n = 200000 draws the sample
	// CRPS is within about 1/sqrt(n) of sigma's scale of the exact value;
	// the tolerance 0.01 is several such errors.
	big := make([]float64, 200000)
	for i := range big {
		big[i] = rng.NormFloat64()*2 + 3
	}
	slices.Sort(big)
	for _, y := range []float64{3, 0, 7.5} {
		got, want := CRPS(big, y), crpsNormal(3, 2, y)
		if math.Abs(got-want) > 0.01 {
			t.Errorf("CRPS of N(3, 4) samples at %v = %v, closed form %v", y, got, want)
		}
	}
}

func TestCovered(t *testing.T) {
	x := make([]float64, 101)
	for i := range x {
		x[i] = float64(i)
	}
	// The 90% interval of 0..100 is [5, 95].
	for _, tc := range []struct {
		y    float64
		want bool
	}{{4.9, false}, {5, true}, {50, true}, {95, true}, {95.1, false}} {
		if got := Covered(x, 0.9, tc.y); got != tc.want {
			t.Errorf("Covered(%v) = %v, want %v", tc.y, got, tc.want)
		}
	}
}
