package scorer_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/scorer"
)

func TestCalibrationPValue(t *testing.T) {
	scores := make([]float64, 100)
	for i := range scores {
		scores[i] = float64(100 - i) // 100..1, unsorted on purpose
	}
	c, err := scorer.NewCalibration(scores)
	if err != nil {
		t.Fatal(err)
	}
	// Conformal p-values inside the range: (1 + #{c_i >= s}) / (n + 1).
	for _, tc := range []struct{ s, want float64 }{
		{0, 1}, {1, 1}, {50.5, 51.0 / 101}, {90, 12.0 / 101}, {math.NaN(), 1},
	} {
		if got := c.PValue(tc.s); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("PValue(%v) = %v, want %v", tc.s, got, tc.want)
		}
	}
	// Above the 11th largest score (90) the tail is exponential with the
	// mean excess of the top 10 (91..100 over 90: 5.5) as its scale.
	k, u, beta := 10.0, 90.0, 5.5
	for _, s := range []float64{95, 100, 200, 5000} {
		want := math.Log(101/k) + (s-u)/beta
		if got := c.Surprise(s); math.Abs(got-want) > 1e-9 {
			t.Errorf("Surprise(%v) = %v, want %v", s, got, want)
		}
	}
	if c.Surprise(math.Inf(1)) != math.Inf(1) || c.PValue(math.Inf(1)) <= 0 {
		t.Error("+Inf: want surprise +Inf and a positive p-value")
	}
	for _, bad := range [][]float64{nil, {1, math.NaN()}, {math.Inf(1)}} {
		if _, err := scorer.NewCalibration(bad); err == nil {
			t.Errorf("NewCalibration(%v) accepted", bad)
		}
	}
}

// TestCalibrationLearns checks live learning: a score seen again and again
// stops looking rare, the live part keeps only its newest scores, and the
// set stays the sorted union of held-out and live scores throughout.
func TestCalibrationLearns(t *testing.T) {
	held := make([]float64, 40)
	for i := range held {
		held[i] = float64(i) / 40
	}
	c, err := scorer.NewCalibration(held)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(10) // not learning yet
	if c.Len() != 40 {
		t.Fatalf("Add before Learn changed the set: %d scores", c.Len())
	}
	before := c.PValue(10)
	c.Learn(20)
	for range 50 {
		c.Add(10)
	}
	if c.Len() != 60 || c.Live() != 20 {
		t.Fatalf("Len %d Live %d, want 40 held-out + 20 live", c.Len(), c.Live())
	}
	if got, want := c.PValue(10), 21.0/61; math.Abs(got-want) > 1e-12 || before != 1.0/41 {
		t.Errorf("PValue(10) = %v before, %v after, want 1/41 then %v", before, got, want)
	}
	// A batch larger than the limit keeps its newest 20; older live scores
	// leave, held-out ones stay.
	batch := make([]float64, 30)
	for i := range batch {
		batch[i] = 100 + float64(i)
	}
	c.Add(append(batch, math.NaN(), math.Inf(1))...)
	want := append(slices.Clone(held), batch[10:]...)
	slices.Sort(want)
	if got := c.PValue(109.5); got != 21.0/61 {
		t.Errorf("PValue(109.5) = %v, want 21/61", got)
	}
	if got := c.PValue(0); got != 1 || c.Len() != len(want) {
		t.Errorf("after a large batch: Len %d (want %d), PValue(0) %v", c.Len(), len(want), got)
	}
	// Each p-value equals the conformal one over want.
	for _, s := range []float64{0.5, 0.99, 100, 105.5, 110} {
		k := len(want) - func() int { i, _ := slices.BinarySearch(want, s); return i }()
		if got, w := c.PValue(s), float64(1+k)/float64(len(want)+1); got != w {
			t.Errorf("PValue(%v) = %v, want %v", s, got, w)
		}
	}
	c.Learn(5)
	if c.Live() != 5 || c.Len() != 45 {
		t.Errorf("lowering the limit: Live %d Len %d, want 5 and 45", c.Live(), c.Len())
	}
	d := c.Clone()
	d.Add(1000, 1001, 1002)
	if c.Len() != 45 || d.Len() != 45 || d.PValue(1001) == c.PValue(1001) {
		t.Errorf("clone shares state: Len %d and %d", c.Len(), d.Len())
	}
}

// TestCalibrationResume checks that a calibration fed another's live
// scores, oldest first, gives the same p-values and ages them out in the
// same order, as a restarted detector needs.
func TestCalibrationResume(t *testing.T) {
	held := make([]float64, 80)
	for i := range held {
		held[i] = float64(i) / 10
	}
	a, err := scorer.NewCalibration(held)
	if err != nil {
		t.Fatal(err)
	}
	a.Learn(30)
	for i := range 45 {
		a.Add(5 + float64(i%7))
	}
	live := a.LiveScores()
	if len(live) != 30 || live[0] != 5+float64(15%7) || live[29] != 5+float64(44%7) {
		t.Fatalf("live scores %v, want the newest 30, oldest first", live)
	}
	live[0] = -1 // a copy: a's set is untouched
	b, err := scorer.NewCalibration(held)
	if err != nil {
		t.Fatal(err)
	}
	b.Learn(30)
	b.Add(a.LiveScores()...)
	for _, s := range []float64{0.5, 5, 8.5, 11, 30} {
		if pa, pb := a.PValue(s), b.PValue(s); pa != pb {
			t.Errorf("PValue(%v): %v before the restart, %v after", s, pa, pb)
		}
	}
	a.Add(100, 101)
	b.Add(100, 101)
	if !slices.Equal(a.LiveScores(), b.LiveScores()) || a.PValue(7) != b.PValue(7) {
		t.Errorf("after two more scores: live %v and %v", a.LiveScores(), b.LiveScores())
	}
}

// TestLevelTest checks the level test: for a series that stays at a level
// its training data never held, where each step is only mildly off the
// model's prediction, P is well below the flow's PointP; and P is exactly
// the Bonferroni combination of the two tests.
func TestLevelTest(t *testing.T) {
	m := fitAR1(t)
	meta := m.Meta()
	if n := len(meta.Level); n < 1000 || n > 2048 {
		t.Fatalf("level reference of %d scores", n)
	}
	level, err := scorer.NewCalibration(meta.Level)
	if err != nil {
		t.Fatal(err)
	}
	ss := ar1(5, 600, t0.Add(1000*time.Hour))
	for i := range ss {
		// 9 up is 3.6 marginal sd; the AR(1) prediction is off by 0.4 of
		// it, 1.8 innovation sd.
		ss[i].Values[0] += 9
	}
	w, sc := score(t, m, ss)
	point, comb := slices.Clone(sc.PointP), slices.Clone(sc.P)
	slices.Sort(point)
	slices.Sort(comb)
	t.Logf("median point p %.3g, median combined p %.3g", point[len(point)/2],
		comb[len(comb)/2])
	if mp, mc := point[len(point)/2], comb[len(comb)/2]; mc > mp/2 || mc > 1e-3 {
		t.Errorf("median point p %v, combined %v; want the level test to halve it, "+
			"below 1e-3", mp, mc)
	}
	d := meta.Features.Window
	for i := range sc.P {
		z := (w.X[(i+1)*d-1] - meta.Norm.Loc[0]) / meta.Norm.Scale[0]
		u := max(-math.Log(sc.PointP[i]), level.Surprise(0.5*z*z)) - math.Ln2
		if math.Abs(sc.Surprise[i]-max(u, 0)) > 1e-9*max(1, u) {
			t.Fatalf("window %d: surprise %v, want %v", i, sc.Surprise[i], u)
		}
	}
}
