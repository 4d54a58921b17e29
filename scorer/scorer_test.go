package scorer_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// ar1 returns n one-minute samples of x_t = 10 + 0.6 (x_{t-1} - 10) + 2 e_t
// with standard normal e_t, started from the stationary distribution.
func ar1(seed uint64, n int, start time.Time) []timeseries.Sample {
	rng := rand.New(rand.NewPCG(seed, 7))
	id := timeseries.NewSeriesID("ar1", nil)
	sd := 2 / math.Sqrt(1-0.36)
	x := 10 + sd*rng.NormFloat64()
	out := make([]timeseries.Sample, n)
	for i := range out {
		x = 10 + 0.6*(x-10) + 2*rng.NormFloat64()
		out[i] = timeseries.Sample{Series: id, Time: start.Add(time.Duration(i) * time.Minute),
			Values: []float64{x}}
	}
	return out
}

// smallOptions keeps the synthetic fits to about a second.
func smallOptions() scorer.Options {
	return scorer.Options{Group: "test", Window: 4, Seed: 3,
		Spec:  flowmodel.Spec{Hidden: 16, Layers: 2},
		Train: flowmodel.TrainOptions{Epochs: 40, Patience: 8}}
}

func fitAR1(t testing.TB) *scorer.Model {
	t.Helper()
	m, err := scorer.Fit(context.Background(),
		[][]timeseries.Sample{ar1(1, 3000, t0)}, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func score(t testing.TB, m *scorer.Model, ss []timeseries.Sample) (scorer.Windows, scorer.Scores) {
	t.Helper()
	w, _, err := m.Meta().Features.Build([][]timeseries.Sample{ss}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sc scorer.Scores
	if err := m.Score(&sc, w.X, w.Context); err != nil {
		t.Fatal(err)
	}
	return w, sc
}

// TestPValuesUniformOnHeldOutData checks calibration: on fresh data from
// the training process the p-values are uniform. The statistic is
// sup_u |F_n(u) - u| over the p-values, which equals the two-sample
// Kolmogorov-Smirnov distance between the test and calibration scores, so
// it is compared with the two-sample critical value at level 0.01,
// 1.628 sqrt((n+m)/(nm)) (asymptotic; Smirnov 1948). The AR(1) scores are
// functions of independent innovations, which the test assumes.
func TestPValuesUniformOnHeldOutData(t *testing.T) {
	m := fitAR1(t)
	_, sc := score(t, m, ar1(99, 2000, t0.Add(1000*time.Hour)))
	ps := slices.Clone(sc.PointP)
	slices.Sort(ps)
	n := float64(len(ps))
	d := ksUniform(ps)
	nc := float64(len(m.Meta().Calibration))
	crit := 1.628 * math.Sqrt((n+nc)/(n*nc))
	t.Logf("KS distance %.4f over %d p-values, %d calibration scores; critical %.4f",
		d, len(ps), len(m.Meta().Calibration), crit)
	if d > crit {
		t.Fatalf("p-values not uniform: KS distance %.4f > %.4f", d, crit)
	}
	// The statistic has power: data whose level moved by two innovation
	// standard deviations (which moves the conditional mean by 0.8 of
	// one) fails it.
	shifted := ar1(99, 2000, t0.Add(1000*time.Hour))
	for i := range shifted {
		shifted[i].Values[0] += 4
	}
	_, sc2 := score(t, m, shifted)
	if d2 := ksUniform(sc2.PointP); d2 <= crit {
		t.Fatalf("shifted data passes: KS distance %.4f <= %.4f", d2, crit)
	}
	// The false alarm rate is what alpha says, within the KS band.
	flagged := sort.SearchFloat64s(ps, 0.05)
	if rate := float64(flagged) / n; math.Abs(rate-0.05) > crit {
		t.Fatalf("flag rate at alpha 0.05 = %.4f", rate)
	}
}

// TestTailPValuesBelowTheConformalFloor checks the extrapolated tail where
// the conformal p-value cannot go: on fresh AR(1) data the share of points
// with p below 0.001 and 0.0002 (both under 1/(n+1) for this model's
// calibration set) is that level within Poisson error.
func TestTailPValuesBelowTheConformalFloor(t *testing.T) {
	m := fitAR1(t)
	n := len(m.Meta().Calibration)
	_, sc := score(t, m, ar1(77, 60000, t0.Add(5000*time.Hour)))
	for _, alpha := range []float64{0.001, 0.0002} {
		if alpha >= 1/float64(n+1) {
			t.Fatalf("alpha %v is not below the conformal floor 1/%d", alpha, n+1)
		}
		var k int
		for _, p := range sc.PointP {
			if p < alpha {
				k++
			}
		}
		want := alpha * float64(len(sc.P))
		// Four Poisson standard deviations, plus the bias an exponential
		// tail fitted to some 20 scores may carry (a factor of 1.6 either way).
		lo, hi := want/1.6-4*math.Sqrt(want), want*1.6+4*math.Sqrt(want)
		t.Logf("alpha %v: %d of %d flagged, expected %.1f", alpha, k, len(sc.P), want)
		if float64(k) < lo || float64(k) > hi {
			t.Errorf("alpha %v: %d flagged of %d, want %.1f (range %.1f..%.1f)", alpha, k,
				len(sc.P), want, lo, hi)
		}
	}
}

// ksUniform returns sup_u |F_n(u) - u| for the p-values ps, checking the
// empirical CDF on both sides of each jump.
func ksUniform(ps []float64) float64 {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	n := float64(len(ps))
	var d float64
	for i, p := range ps {
		d = max(d, math.Abs(float64(i+1)/n-p), math.Abs(p-float64(i)/n))
	}
	return d
}

func TestGrossOutlierGetsSmallestPValue(t *testing.T) {
	m := fitAR1(t)
	ss := ar1(5, 200, t0.Add(2000*time.Hour))
	ss[150].Values[0] += 60 // 30 innovation standard deviations
	w, sc := score(t, m, ss)
	i := slices.IndexFunc(w.Time, func(tt time.Time) bool { return tt.Equal(ss[150].Time) })
	if i < 0 {
		t.Fatal("no window ends at the outlier")
	}
	n := len(m.Meta().Calibration)
	// Beyond every calibration score the tail is extrapolated: a 30-sigma
	// outlier is far below the conformal floor 1/(n+1), and still positive.
	if floor := 1 / float64(n+1); !(sc.P[i] < floor/1e6) || sc.P[i] <= 0 {
		t.Fatalf("outlier p-value %v (score %.1f), want in (0, %v)", sc.P[i], sc.Score[i],
			floor/1e6)
	}
	if sc.Score[i] != sc.Steps[(i+1)*4-1] || sc.Score[i] <= slices.Max(m.Meta().Calibration) {
		t.Fatalf("outlier score %.2f, last step term %.2f, calibration max %.2f", sc.Score[i],
			sc.Steps[(i+1)*4-1], slices.Max(m.Meta().Calibration))
	}
	// The explanation of the next window puts the blame on the outlier's
	// step, one before the newest.
	next := sc.Steps[(i+1)*4 : (i+2)*4]
	if slices.Index(next, slices.Max(next)) != 2 {
		t.Fatalf("per-step scores of the next window %v do not peak at the outlier", next)
	}
}

func TestEncodeDecodeScoresIdentically(t *testing.T) {
	m := fitAR1(t)
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := scorer.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	ss := ar1(7, 300, t0.Add(3000*time.Hour))
	_, a := score(t, m, ss)
	_, c := score(t, m2, ss)
	for _, pair := range [][2][]float64{{a.Score, c.Score}, {a.P, c.P}, {a.Steps, c.Steps}} {
		if !slices.Equal(pair[0], pair[1]) {
			t.Fatal("decoded model scores differently")
		}
	}
	if m2.Meta().Group != "test" || m2.Meta().Data != m.Meta().Data ||
		!slices.Equal(m2.Meta().Calibration, m.Meta().Calibration) {
		t.Fatalf("metadata changed in the round trip: %+v", m2.Meta().Data)
	}
	b[len(b)-1] ^= 1
	if _, err := scorer.Decode(b); !errors.Is(err, flowmodel.ErrChecksum) {
		t.Fatalf("corrupt file: %v, want ErrChecksum", err)
	}
}

func TestFitIsDeterministic(t *testing.T) {
	a, err := fitAR1(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fitAR1(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	// The report's wall time differs; everything else must not. Compare
	// the calibration scores, which depend on every weight.
	ma, _ := scorer.Decode(a)
	mb, _ := scorer.Decode(b)
	if !slices.Equal(ma.Meta().Calibration, mb.Meta().Calibration) {
		t.Fatal("two fits with one seed differ")
	}
}

func TestFitExcludesFlaggedSteps(t *testing.T) {
	ss := ar1(1, 1500, t0)
	flagged := map[time.Time]bool{ss[100].Time: true, ss[102].Time: true, ss[900].Time: true}
	opt := smallOptions()
	opt.Exclude = func(_ timeseries.SeriesID, tt time.Time) bool { return flagged[tt] }
	m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss}, opt)
	if err != nil {
		t.Fatal(err)
	}
	d := m.Meta().Data
	// 1500 steps give 1497 windows of 4; steps 100 and 102 spoil windows
	// ending at 100..105, step 900 those ending at 900..903.
	if d.Excluded != 3 || d.Train+d.Valid+d.Calib != 1497-6-4 {
		t.Fatalf("excluded %d, windows %d; want 3 and %d", d.Excluded,
			d.Train+d.Valid+d.Calib, 1497-10)
	}
	if !d.From.Equal(ss[3].Time) || !d.To.Equal(ss[1499].Time) || d.Samples != 1500 {
		t.Fatalf("data range %v..%v samples %d", d.From, d.To, d.Samples)
	}
}

func TestFitTooShort(t *testing.T) {
	_, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ar1(1, 100, t0)},
		smallOptions())
	if !errors.Is(err, scorer.ErrTooShort) {
		t.Fatalf("Fit on 100 points: %v, want ErrTooShort", err)
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	m := fitAR1(t)
	w, _, err := m.Meta().Features.Build([][]timeseries.Sample{ar1(2, 300, t0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sc scorer.Scores
	if err := m.Score(&sc, w.X, w.Context); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		if err := m.Score(&sc, w.X, w.Context); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Score allocates %.0f times per call after warm-up", allocs)
	}
}

// BenchmarkScore scores batches of 1,024 windows with untrained flows of
// the sizes Fit picks for long data (W 16, 64 hidden, 5 layers) and short
// data (W 8, 32 hidden, 3 layers), spline layers as Fit picks and affine
// ones for comparison; speed does not depend on the weights.
func BenchmarkScore(b *testing.B) {
	for _, bc := range []struct {
		name                   string
		window, hidden, layers int
		layer                  string
	}{
		{"default", 16, 64, 5, flowmodel.LayerSpline},
		{"short", 8, 32, 3, flowmodel.LayerSpline},
		{"default-affine", 16, 64, 5, flowmodel.LayerAffine},
	} {
		b.Run(bc.name, func(b *testing.B) {
			flow, err := flowmodel.New(flowmodel.Spec{Window: bc.window, Hidden: bc.hidden,
				Layers: bc.layers, LayerType: bc.layer}, 1)
			if err != nil {
				b.Fatal(err)
			}
			m, err := scorer.New(flow, scorer.Meta{Format: scorer.FormatVersion,
				Features:    scorer.Features{Window: bc.window, Channels: 1, Step: time.Minute},
				Norm:        timeseries.Normaliser{Loc: []float64{10}, Scale: []float64{2}},
				Calibration: []float64{0, 1, 2}})
			if err != nil {
				b.Fatal(err)
			}
			w, _, err := m.Meta().Features.Build([][]timeseries.Sample{
				ar1(2, 1024+bc.window-1, t0)}, nil)
			if err != nil {
				b.Fatal(err)
			}
			var sc scorer.Scores
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Score(&sc, w.X, w.Context); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.Len()*b.N)/b.Elapsed().Seconds(), "windows/s")
		})
	}
}

// BenchmarkFitNAB750 fits the 750-row probation period of NAB's machine
// temperature series with the short-data defaults, as "detector evaluate"
// does once per file.
func BenchmarkFitNAB750(b *testing.B) {
	ss := readNAB(b, "realKnownCause/machine_temperature_system_failure.csv")[:750]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scorer.Fit(context.Background(), [][]timeseries.Sample{ss},
			scorer.Options{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAssessPrefersTheModelOfTheData compares a model of the process with
// one trained on corrupted data (the same process, level shifted by 6 and
// variance times 9) on fresh data from the process: the right model has the
// lower mean score in raw units and calibrated p-values.
func TestAssessPrefersTheModelOfTheData(t *testing.T) {
	good := fitAR1(t)
	bad := ar1(1, 3000, t0)
	for i := range bad {
		bad[i].Values[0] = 3*bad[i].Values[0] - 14
	}
	worse, err := scorer.Fit(context.Background(), [][]timeseries.Sample{bad}, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	fresh := [][]timeseries.Sample{ar1(42, 1500, t0.Add(5000*time.Hour))}
	var got [2]scorer.Assessment
	for i, m := range []*scorer.Model{good, worse} {
		w, _, err := m.Meta().Features.Build(fresh, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[i], err = m.Assess(w); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("right model %+v, corrupted model %+v", got[0], got[1])
	// The process' true conditional entropy is log(2 sqrt(2 pi e)) = 2.11
	// nats; the right model should be within 0.1 of it.
	if math.Abs(got[0].MeanScore-2.112) > 0.1 || got[1].MeanScore < got[0].MeanScore+0.3 {
		t.Fatalf("mean scores: right %.3f, corrupted %.3f", got[0].MeanScore, got[1].MeanScore)
	}
	if got[0].KS > 0.08 || got[1].KS < 0.2 {
		t.Fatalf("calibration distance: right %.3f, corrupted %.3f", got[0].KS, got[1].KS)
	}
}
