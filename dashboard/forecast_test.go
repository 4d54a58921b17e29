package dashboard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/dashboard"
	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/forecast"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// untrainedSource serves an untrained flow (its samples are as good as
// any for drawing) and the live values of liveValues as history.
type untrainedSource struct {
	m    *scorer.Model
	live liveValues
}

func (u untrainedSource) ForecastInput(_ context.Context, key string) (*scorer.Model,
	forecast.History, error) {
	ts, rows := u.live.RecentValues(key)
	if len(ts) == 0 {
		return nil, forecast.History{}, fmt.Errorf("%q: %w", key, forecast.ErrUnknownSeries)
	}
	h := forecast.History{Times: ts}
	for _, r := range rows {
		h.Values = append(h.Values, r...)
	}
	return u.m, h, nil
}

func TestFlowForecaster(t *testing.T) {
	feat := scorer.Features{Window: 3, Channels: 1, Step: time.Hour}
	flow, err := flowmodel.New(flowmodel.Spec{Window: 3, Channels: 1, Hidden: 8,
		Layers: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := scorer.New(flow, scorer.Meta{Format: scorer.FormatVersion, Features: feat,
		Norm:        timeseries.Normaliser{Loc: []float64{2}, Scale: []float64{3}},
		Calibration: []float64{0}})
	if err != nil {
		t.Fatal(err)
	}
	live := liveValues{cpuKey: {1, 10, 2, -4, 7, 3}}
	src := untrainedSource{m: m, live: live}
	fc := dashboard.FlowForecaster(forecast.NewHandler(src, forecast.Options{}),
		forecast.Options{Horizon: 5, Paths: 300, Seed: 1}, 0.9)

	fan, err := fc.Forecast(context.Background(), cpuKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(fan.Times) != 5 || fan.Times[0] != time.Date(2024, 1, 1, 6, 0, 0, 0, time.UTC) ||
		fan.Level < 0.9-1e-12 || fan.Level > 0.9+1e-12 {
		t.Fatalf("fan times %v level %v", fan.Times, fan.Level)
	}
	for k := range fan.Times {
		if !(fan.Lower[k][0] < fan.Median[k][0] && fan.Median[k][0] < fan.Upper[k][0]) {
			t.Errorf("step %d: %v %v %v not increasing", k, fan.Lower[k], fan.Median[k],
				fan.Upper[k])
		}
	}
	if _, err := fc.Forecast(context.Background(), "nope"); err == nil {
		t.Error("a fan for an unknown series")
	}

	h := dashboard.New(fixtureStore(t), nil, dashboard.Options{Recent: live, Forecaster: fc})
	_, body := get(t, h, seriesPath("", cpuKey), "")
	if !strings.Contains(body, `<polygon class="fan"`) {
		t.Error("series page draws no fan from sampled futures")
	}
}
