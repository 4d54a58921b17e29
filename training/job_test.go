package training

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/scorer"
)

// TestJobDetailsApply: a job's details set the fit's grid, lags included,
// replacing lags the worker's own options offered; details without a step
// leave the options alone; a bad lag is an error naming it.
func TestJobDetailsApply(t *testing.T) {
	parse := func(js string) jobDetails {
		t.Helper()
		var d jobDetails
		if err := json.Unmarshal([]byte(js), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	opt := scorer.Options{Window: 8, Lags: []time.Duration{time.Hour}}
	d := parse(`{"series":["a"],"step":"5m0s","window":12,"max_fill":3,"calendar":true,` +
		`"lags":["24h0m0s","168h0m0s"]}`)
	if err := d.apply(&opt); err != nil {
		t.Fatal(err)
	}
	if opt.Step != 5*time.Minute || opt.Window != 12 || opt.MaxFill != 3 ||
		opt.Calendar != scorer.On ||
		!slices.Equal(opt.Lags, []time.Duration{24 * time.Hour, 168 * time.Hour}) {
		t.Fatalf("options %+v", opt)
	}

	opt = scorer.Options{Window: 8, Lags: []time.Duration{time.Hour}}
	if err := parse(`{"step":"1m0s"}`).apply(&opt); err != nil || opt.Lags != nil ||
		opt.MaxFill != -1 || opt.Window != 8 {
		t.Fatalf("grid without lags: options %+v, err %v", opt, err)
	}
	opt = scorer.Options{Lags: []time.Duration{time.Hour}}
	if err := parse(`{"series":["a"]}`).apply(&opt); err != nil ||
		!slices.Equal(opt.Lags, []time.Duration{time.Hour}) {
		t.Fatalf("no grid: options %+v, err %v", opt, err)
	}
	err := parse(`{"step":"1m0s","lags":["1d"]}`).apply(&scorer.Options{})
	if err == nil || !strings.Contains(err.Error(), `lag "1d"`) {
		t.Fatalf("bad lag: %v", err)
	}
}
