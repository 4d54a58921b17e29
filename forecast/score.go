package forecast

import "math"

// Quantile returns the p-quantile of sorted (ascending, not empty) by
// linear interpolation between order statistics, Hyndman and Fan's type 7
// (the default of R and NumPy):
//
//	h = (n-1)p,  Q(p) = x[floor(h)] + (h - floor(h)) (x[floor(h)+1] - x[floor(h)])
//
// (R. J. Hyndman and Y. Fan, Sample quantiles in statistical packages,
// The American Statistician 50(4), 1996).
func Quantile(sorted []float64, p float64) float64 {
	n := len(sorted)
	h := float64(n-1) * p
	i := int(math.Floor(h))
	if i >= n-1 {
		return sorted[n-1]
	}
	if i < 0 {
		return sorted[0]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}

// CRPS returns the continuous ranked probability score of the empirical
// distribution of sorted (ascending, not empty) at the outcome y, in the
// units of y:
//
//	CRPS = (1/n) sum_i |x_i - y| - (1/(2 n^2)) sum_i sum_j |x_i - x_j|
//
// with the double sum computed from the order statistics as
// 2 sum_i (2i - n - 1) x_(i), i = 1..n (Gneiting and Raftery, Strictly
// proper scoring rules, prediction, and estimation, JASA 102, 2007, eq.
// 21; the sorted form is the one of scoringRules' crps_sample). Lower is
// better; for a single sample it is the absolute error.
func CRPS(sorted []float64, y float64) float64 {
	n := float64(len(sorted))
	var abs, spread float64
	for i, x := range sorted {
		abs += math.Abs(x - y)
		spread += (2*float64(i+1) - n - 1) * x
	}
	return abs/n - spread/(n*n)
}

// Covered reports whether y lies in the central interval of probability
// level of the empirical distribution of sorted, between the quantiles
// (1-level)/2 and (1+level)/2.
func Covered(sorted []float64, level, y float64) bool {
	lo := Quantile(sorted, (1-level)/2)
	hi := Quantile(sorted, (1+level)/2)
	return y >= lo && y <= hi
}
