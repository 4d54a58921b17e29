package nab

import (
	"math"
	"testing"
	"time"
)

// The expected weights below were computed by hand from the closed form
// 2 sigma(-5y) - 1 = tanh(-5y/2), in 40-digit decimal arithmetic; the
// tolerance covers float64 rounding only.
func TestWeights(t *testing.T) {
	const tol = 1e-13
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		// Window of rows [10, 19], W = 10.
		{"window left edge", windowWeight(10, 10, 19), 1},
		{"window middle y=-0.5", windowWeight(15, 10, 19), 0.8597925669097837},
		{"window right edge y=-0.1", windowWeight(19, 10, 19), 0.24824154977542991},
		// After the same window, W-1 = 9.
		{"just after y=1/9", afterWeight(20, 10, 19), -0.27084711851672141},
		{"after y=1", afterWeight(28, 10, 19), -0.98661429815143029},
		{"after y=3 still sigmoid", afterWeight(46, 10, 19), -0.99999938819554615},
		{"after y=28/9 capped", afterWeight(47, 10, 19), -1},
		{"after one-row window", afterWeight(6, 5, 5), -1},
		{"before first window", beforeWeight, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if math.Abs(tt.got-tt.want) > tol {
				t.Errorf("got %.17g, want %.17g (tol %g)", tt.got, tt.want, tol)
			}
		})
	}
}

func TestProbationaryLength(t *testing.T) {
	tests := []struct{ n, want int }{
		{0, 0},
		{20, 3},
		{1882, 282},
		{4032, 604},
		{5000, 750},
		{22695, 750},
	}
	for _, tt := range tests {
		if got := ProbationaryLength(tt.n); got != tt.want {
			t.Errorf("ProbationaryLength(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

// NAB's own files repeat timestamps at daylight-saving changes; a window
// is located by the first row carrying each end, as NAB's scorer does.
func TestLocateRepeatedTimestamps(t *testing.T) {
	base := time.Date(2014, 3, 9, 1, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	f := File{
		Name:       "c/f.csv",
		Timestamps: []time.Time{at(0), at(5), at(5), at(10), at(15), at(15), at(20)},
		Windows:    []Window{{First: at(5), Last: at(15)}},
	}
	spans, err := locate(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := (span{lo: 1, hi: 4}); spans[0] != want {
		t.Errorf("span = %+v, want %+v", spans[0], want)
	}
}
