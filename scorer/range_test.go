package scorer_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// outOfRange is the share of ss's values whose Deviation is beyond 6, the
// detector's default drift.max_deviation.
func outOfRange(m *scorer.Model, ss []timeseries.Sample) float64 {
	var n int
	for _, s := range ss {
		if m.Deviation(s.Values) > 6 {
			n++
		}
	}
	return float64(n) / float64(len(ss))
}

// TestDeviationIsBeyondTheTrainingRange: art_daily_small_noise holds two
// levels (about 20 by night, up to 88 by day) and a MAD of one level's
// noise, so 37.5% of its own values lay beyond 6 robust z-scores of the
// median and a detector reported drift on its training data. Deviation
// now measures beyond the training range, in robust scales.
func TestDeviationIsBeyondTheTrainingRange(t *testing.T) {
	ss := readNAB(t, smallNoise)
	m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss}, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := outOfRange(m, ss); got != 0 {
		t.Errorf("%.1f%% of the training values out of range, want none", 100*got)
	}
	meta := m.Meta()
	lo, hi, scale := meta.Range.Min[0], meta.Range.Max[0], meta.Norm.Scale[0]
	if lo > 18.1 || hi < 87.9 {
		t.Errorf("training range [%g, %g], want [18.0, 88.0]", lo, hi)
	}
	for _, c := range []struct{ x, want float64 }{
		{50, 0}, {lo, 0}, {hi, 0}, {hi + 7*scale, 7}, {lo - 2*scale, 2},
	} {
		if got := m.Deviation([]float64{c.x}); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Deviation(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	// A level shift to twice the day's peak is out of range all the way.
	shifted := mapValues(ss, func(_ int, v float64) float64 { return v + 2*hi })
	if got := outOfRange(m, shifted); got != 1 {
		t.Errorf("shifted by %g: %.1f%% out of range, want all", 2*hi, 100*got)
	}
}

// TestDecodeFormat1 reads a file written before Meta.Range: it loads,
// and its Deviation is the distance from the normaliser's centre, as the
// build that wrote it computed.
func TestDecodeFormat1(t *testing.T) {
	m := fitAR1(t)
	var raw map[string]any
	b, err := json.Marshal(m.Meta())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["format"] != float64(2) || raw["range"] == nil {
		t.Fatalf("new metadata format %v, range %v", raw["format"], raw["range"])
	}
	delete(raw, "range")
	raw["format"] = 1
	data := raw["data"].(map[string]any)
	delete(data, "extreme")
	old, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	if err := m.Flow().Save(&file, old); err != nil {
		t.Fatal(err)
	}
	back, err := scorer.Decode([]byte(file.String()))
	if err != nil {
		t.Fatalf("format 1 file: %v", err)
	}
	n := back.Meta().Norm
	if got, want := back.Deviation([]float64{n.Loc[0] + 3*n.Scale[0]}), 3.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("format 1 Deviation %g, want %g from the centre", got, want)
	}
	if got := m.Deviation([]float64{n.Loc[0] + 3*n.Scale[0]}); got != 0 {
		t.Errorf("format 2 Deviation %g inside the training range, want 0", got)
	}

	raw["format"] = 3
	future, _ := json.Marshal(raw)
	file.Reset()
	if err := m.Flow().Save(&file, future); err != nil {
		t.Fatal(err)
	}
	if _, err := scorer.Decode([]byte(file.String())); err == nil ||
		!strings.Contains(err.Error(), "format 3, this build reads 1 to 2") {
		t.Errorf("format 3 file: err %v", err)
	}
}
