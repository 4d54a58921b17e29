package evaluate

import (
	"math"
	"testing"
)

func TestCalibrationPValue(t *testing.T) {
	scores := make([]float64, 100)
	for i := range scores {
		scores[i] = float64(i + 1) // 1..100
	}
	c, err := NewCalibration(scores)
	if err != nil {
		t.Fatal(err)
	}
	// Conformal p-values inside the range: (1 + #{c_i >= s}) / (n + 1).
	for _, tc := range []struct{ s, want float64 }{
		{0, 1},
		{1, 1},
		{50.5, 51.0 / 101},
		{90, 12.0 / 101},
	} {
		if got := c.PValue(tc.s); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("PValue(%v) = %v, want %v", tc.s, got, tc.want)
		}
	}
	// Above the 10th largest score (90) the tail is exponential with the
	// mean excess of the top 10 (91..100 over 90: 5.5) as its scale.
	k, u, beta := 10.0, 90.0, 5.5
	for _, s := range []float64{95, 100, 200, 5000} {
		want := math.Log(101/k) + (s-u)/beta
		if got := c.Surprise(s); math.Abs(got-want) > 1e-9 {
			t.Errorf("Surprise(%v) = %v, want %v", s, got, want)
		}
	}
	if c.Surprise(math.Inf(1)) != math.Inf(1) {
		t.Error("Surprise(+Inf) is not +Inf")
	}
	if _, err := NewCalibration(scores[:19]); err == nil {
		t.Error("19 scores accepted")
	}
}

func TestCalibrationLive(t *testing.T) {
	scores := make([]float64, 40)
	for i := range scores {
		scores[i] = float64(i) / 40
	}
	c, err := NewCalibration(scores)
	if err != nil {
		t.Fatal(err)
	}
	before := c.PValue(10)
	// A score seen again and again stops looking rare.
	for range 50 {
		c.Add(10, 20)
	}
	if c.Len() != 60 {
		t.Fatalf("Len = %d, want 40 held-out + 20 live", c.Len())
	}
	if got, want := c.PValue(10), 21.0/61; math.Abs(got-want) > 1e-12 || before > 1e-3 {
		t.Errorf("PValue(10) = %v before, %v after, want < 1e-3 then %v", before, got, want)
	}
}
