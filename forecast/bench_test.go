package forecast

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// benchModel is an untrained model of the service's default shape for a
// 30-minute series with a daily and a weekly lag: sampling costs the same
// whatever the weights.
func benchModel(b *testing.B, window int) *scorer.Model {
	f := scorer.Features{Window: window, Channels: 1, Step: 30 * time.Minute,
		Calendar: true, Lags: []time.Duration{24 * time.Hour, 168 * time.Hour}}
	flow, err := flowmodel.New(flowmodel.Spec{Window: window, Channels: 1,
		Context: f.ContextWidth(), Hidden: 64, Layers: 3}, 1)
	if err != nil {
		b.Fatal(err)
	}
	m, err := scorer.New(flow, scorer.Meta{Format: scorer.FormatVersion, Features: f,
		Norm:        timeseries.Normaliser{Loc: []float64{0}, Scale: []float64{1}},
		Calibration: []float64{0}})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkSample forecasts 48 steps from 8 days of history; the reported
// paths/s is N*h sampled steps per second.
func BenchmarkSample(b *testing.B) {
	for _, tc := range []struct{ window, paths int }{{8, 200}, {8, 1000}, {16, 1000}} {
		b.Run(fmt.Sprintf("W=%d/N=%d/h=48", tc.window, tc.paths), func(b *testing.B) {
			m := benchModel(b, tc.window)
			var h History
			start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range 8 * 48 {
				h.Times = append(h.Times, start.Add(time.Duration(i)*30*time.Minute))
				h.Values = append(h.Values, math.Sin(float64(i)/7.6))
			}
			opt := Options{Horizon: 48, Paths: tc.paths, Seed: 1}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sample(m, h, opt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*tc.paths*48)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}
