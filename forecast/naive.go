package forecast

import (
	"fmt"
	"slices"
)

// SeasonalNaive is the baseline forecast: step t+k takes the value one
// season before it, y[t+k-m*ceil(k/m)] for season m, the last observed
// value at the same phase. Its spread comes from the history: the
// seasonal differences y[i] - y[i-m*ceil(k/m)] of the last Residuals
// steps before the origin are added to the point forecast, giving one
// sample each (Hyndman and Athanasopoulos, Forecasting: Principles and
// Practice, 3rd ed., sections 5.2 and 5.5, naive forecasts and intervals
// from bootstrapped residuals).
type SeasonalNaive struct {
	// Season is m, in steps (48 for a daily season of 30-minute steps).
	Season int
	// Residuals is the number of past seasonal differences used as the
	// spread (default 7 seasons); 0 steps of history give a point forecast.
	Residuals int
}

// Forecast returns, for each of the h steps after the end of y (one
// channel, contiguous grid, oldest first), the sorted samples of the
// baseline. The point forecast is the median of the samples only when the
// residuals are centred; the pure point forecast is Point.
func (s SeasonalNaive) Forecast(y []float64, h int) ([][]float64, error) {
	m := s.Season
	if m < 1 || h < 1 {
		return nil, fmt.Errorf("forecast: seasonal naive: season %d, horizon %d", m, h)
	}
	r := s.Residuals
	if r == 0 {
		r = 7 * m
	}
	lag := m * ((h + m - 1) / m) // the longest lag any step needs
	if len(y) < lag+1 {
		return nil, fmt.Errorf("forecast: seasonal naive: %d steps of history, need %d",
			len(y), lag+1)
	}
	out := make([][]float64, h)
	for k := 1; k <= h; k++ {
		l := m * ((k + m - 1) / m)
		point := y[len(y)+k-1-l]
		var samples []float64
		for i := max(l, len(y)-r); i < len(y); i++ {
			samples = append(samples, point+y[i]-y[i-l])
		}
		if len(samples) == 0 {
			samples = []float64{point}
		}
		slices.Sort(samples)
		out[k-1] = samples
	}
	return out, nil
}

// Point returns the seasonal-naive point forecast of step k (1-based)
// after the end of y.
func (s SeasonalNaive) Point(y []float64, k int) float64 {
	m := s.Season
	return y[len(y)+k-1-m*((k+m-1)/m)]
}
