package dashboard

import (
	"context"
	"fmt"

	"github.com/flowguard/flowguard/forecast"
)

// flowForecaster draws the series page's fan from sampled futures.
type flowForecaster struct {
	h   *forecast.Handler
	opt forecast.Options
}

// FlowForecaster returns a Forecaster that samples the fan with h (the
// detector's forecast endpoint) and opt, for the central interval of
// probability level (0.9 draws the 5% and 95% quantiles). opt.Levels is
// replaced by the interval's edges and the median.
func FlowForecaster(h *forecast.Handler, opt forecast.Options, level float64) Forecaster {
	opt.Levels = []float64{(1 - level) / 2, 0.5, (1 + level) / 2}
	return flowForecaster{h: h, opt: opt}
}

// Forecast implements Forecaster.
func (f flowForecaster) Forecast(ctx context.Context, seriesKey string) (Fan, error) {
	fc, err := f.h.Forecast(ctx, seriesKey, f.opt)
	if err != nil {
		return Fan{}, fmt.Errorf("dashboard: %w", err)
	}
	return Fan{Times: fc.Times, Lower: fc.Band(0), Median: fc.Band(1), Upper: fc.Band(2),
		Level: f.opt.Levels[2] - f.opt.Levels[0]}, nil
}
