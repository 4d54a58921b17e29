package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// AR(1) used by the tests: x_t = phi x_{t-1} + sigma e_t, e_t ~ N(0, 1).
const (
	arPhi   = 0.8
	arSigma = 1.0
	arSteps = 20000
)

var arEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func arSamples(n int, seed uint64) []timeseries.Sample {
	rng := rand.New(rand.NewPCG(seed, 7))
	id := timeseries.NewSeriesID("ar1", nil)
	out := make([]timeseries.Sample, n)
	x := 0.0
	for i := range out {
		x = arPhi*x + arSigma*rng.NormFloat64()
		out[i] = timeseries.Sample{Series: id, Time: arEpoch.Add(time.Duration(i) * time.Minute),
			Values: []float64{x}}
	}
	return out
}

// ar1Fit caches one fitted model per layer type for the test binary.
type ar1Fit struct {
	once sync.Once
	m    *scorer.Model
	err  error
}

var ar1Fits = map[string]*ar1Fit{flowmodel.LayerAffine: {}, flowmodel.LayerSpline: {}}

// ar1Model trains, once per test binary, a small time-ordered flow of
// affine layers on windows of 3 steps of a simulated AR(1) series. Affine
// autoregressive layers give Gaussian conditionals, which is what the
// AR(1) has, so the flow can represent the process exactly; what it learns
// is limited by the data (13000 training steps) and the training budget.
func ar1Model(t *testing.T) *scorer.Model { return ar1ModelOf(t, flowmodel.LayerAffine) }

// ar1ModelOf is ar1Model with the given layer type.
func ar1ModelOf(t *testing.T, layer string) *scorer.Model {
	t.Helper()
	fit := ar1Fits[layer]
	fit.once.Do(func() {
		fit.m, fit.err = scorer.Fit(context.Background(),
			[][]timeseries.Sample{arSamples(arSteps, 1)}, scorer.Options{
				Group: "ar1", Step: time.Minute, Window: 3, Calendar: scorer.Off,
				Spec: flowmodel.Spec{Hidden: 32, Layers: 3, LayerType: layer},
				Train: flowmodel.TrainOptions{Epochs: 150, BatchSize: 128, LearningRate: 2e-3,
					Patience: 30},
				Seed: 3,
			})
	})
	if fit.err != nil {
		t.Fatal(fit.err)
	}
	return fit.m
}

// arHistory is a short AR(1) history ending at x0, far enough from the
// mean that the conditional mean phi^h x0 moves visibly over the horizon.
func arHistory(x0 float64) History {
	h := History{}
	vals := []float64{0.3, -0.5, 1.1, 2.0, x0}
	for i, v := range vals {
		h.Times = append(h.Times, arEpoch.Add(time.Duration(i)*time.Minute))
		h.Values = append(h.Values, v)
	}
	return h
}

// TestAR1Quantiles compares the forecast's quantiles with the exact
// predictive distribution of the AR(1), for h = 1..10:
//
//	x_{t+h} | x_t ~ N(phi^h x_t, sigma^2 (1 - phi^(2h)) / (1 - phi^2)).
//
// Two errors separate them. Sampling: the standard error of a sample
// p-quantile is sqrt(p(1-p)/N) / pdf(q_p), 0.024 sd at p = 0.05 and 0.018
// sd at the median for N = 8000. Estimation: the flow is fitted to 13000
// training steps; run with N = 20000 paths (sampling error under 0.016
// sd), its quantiles were within 0.10 sd of the exact ones at every h and
// level, the largest errors in the upper tail at h >= 5. The tolerance,
// 0.18 predictive standard deviations, is that model error plus about 3
// sampling errors. The same holds for a flow of spline layers (the
// scorer's default), whose conditionals are not Gaussian by construction
// and must learn to be.
func TestAR1Quantiles(t *testing.T) {
	for _, layer := range []string{flowmodel.LayerAffine, flowmodel.LayerSpline} {
		t.Run(layer, func(t *testing.T) { testAR1Quantiles(t, ar1ModelOf(t, layer)) })
	}
}

func testAR1Quantiles(t *testing.T, m *scorer.Model) {
	const x0, n = 3.0, 8000
	fc, err := Sample(m, arHistory(x0), Options{Horizon: 10, Paths: n, Seed: 11,
		Levels: []float64{0.05, 0.25, 0.5, 0.75, 0.95}})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for k := range 10 {
		h := float64(k + 1)
		mu := math.Pow(arPhi, h) * x0
		sd := arSigma * math.Sqrt((1-math.Pow(arPhi, 2*h))/(1-arPhi*arPhi))
		exact := distuv.Normal{Mu: mu, Sigma: sd}
		for j, p := range fc.Levels {
			got, want := fc.At(j, k, 0), exact.Quantile(p)
			dev := math.Abs(got-want) / sd
			worst = max(worst, dev)
			if dev > 0.18 {
				t.Errorf("h=%d p=%.2f: quantile %.3f, exact %.3f (%.3f sd off)",
					k+1, p, got, want, dev)
			}
		}
		if dev := math.Abs(fc.Mean[k]-mu) / sd; dev > 0.1 {
			t.Errorf("h=%d: mean %.3f, exact %.3f", k+1, fc.Mean[k], mu)
		}
	}
	t.Logf("largest quantile error over h = 1..10: %.3f predictive sd; fit %+v", worst,
		m.Meta().Report)
	if fc.Times[0] != arEpoch.Add(5*time.Minute) || fc.Times[9] != arEpoch.Add(14*time.Minute) {
		t.Errorf("forecast times %v .. %v", fc.Times[0], fc.Times[9])
	}
}

func TestDeterministic(t *testing.T) {
	m := ar1Model(t)
	opt := Options{Horizon: 5, Paths: 64, Seed: 42, KeepPaths: true}
	a, err := Sample(m, arHistory(1), opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sample(m.Clone(), arHistory(1), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Paths, b.Paths) || !slices.Equal(a.Quantiles[1], b.Quantiles[1]) {
		t.Fatal("two forecasts with one seed differ")
	}
	opt.Seed = 43
	c, err := Sample(m, arHistory(1), opt)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.Paths, c.Paths) {
		t.Fatal("forecasts with different seeds are identical")
	}
	if len(a.Paths) != 64*5 {
		t.Fatalf("%d path values, want 64*5", len(a.Paths))
	}
}

func TestShortHistory(t *testing.T) {
	m := ar1Model(t)
	h := arHistory(1).Slice(4, 5) // one step; W-1 = 2 are needed
	if _, err := Sample(m, h, Options{}); !errors.Is(err, ErrShortHistory) {
		t.Fatalf("one-step history: %v, want ErrShortHistory", err)
	}
	h = arHistory(1)
	h.Times[3] = h.Times[3].Add(-time.Second)
	if _, err := Sample(m, h, Options{}); !errors.Is(err, ErrShortHistory) {
		t.Fatalf("history with a broken grid: %v, want ErrShortHistory", err)
	}
	if _, err := Sample(m, arHistory(1), Options{Levels: []float64{1}}); err == nil {
		t.Fatal("level 1 accepted")
	}
}

// TestBound checks that a tight bound keeps every path inside the history's
// widened range and counts what it moved.
func TestBound(t *testing.T) {
	m := ar1Model(t)
	h := arHistory(1) // values from -0.5 to 2: width 2.5
	fc, err := Sample(m, h, Options{Horizon: 10, Paths: 200, Seed: 1, Bound: 0.1,
		KeepPaths: true})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := -0.5-0.25, 2.0+0.25
	for _, v := range fc.Paths {
		if v < lo-1e-9 || v > hi+1e-9 {
			t.Fatalf("path value %v outside [%v, %v]", v, lo, hi)
		}
	}
	// The process's stationary sd is 1.67, so many of 2000 values leave
	// [-0.75, 2.25].
	if fc.Clamped < 100 {
		t.Fatalf("Clamped = %d, want many", fc.Clamped)
	}
	fc, err = Sample(m, h, Options{Horizon: 10, Paths: 200, Seed: 1, Bound: -1})
	if err != nil || fc.Clamped != 0 {
		t.Fatalf("without a bound: Clamped = %d, err %v", fc.Clamped, err)
	}
}

// TestNonFinite drives an untrained flow with values near the largest
// float64, where its arithmetic overflows: with the bound the forecast
// goes on and counts the repairs, without it the overflow is an error.
func TestNonFinite(t *testing.T) {
	feat := scorer.Features{Window: 3, Channels: 1, Step: time.Minute}
	flow, err := flowmodel.New(flowmodel.Spec{Window: 3, Channels: 1, Hidden: 8,
		Layers: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A new flow is the identity; a few steps of training on correlated
	// windows give it weights that pass the inputs on.
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 3*512)
	for i := 0; i < len(x); i += 3 {
		v := rng.NormFloat64()
		x[i], x[i+1], x[i+2] = v, v+0.1*rng.NormFloat64(), v+0.1*rng.NormFloat64()
	}
	if _, err := flowmodel.Train(context.Background(), flow, flowmodel.Data{X: x},
		flowmodel.Data{}, flowmodel.TrainOptions{Epochs: 20, LearningRate: 1e-2}); err != nil {
		t.Fatal(err)
	}
	m, err := scorer.New(flow, scorer.Meta{Format: scorer.FormatVersion, Features: feat,
		Norm:        timeseries.Normaliser{Loc: []float64{0}, Scale: []float64{1}},
		Calibration: []float64{0},
		// Trained on values this large, so that they are not extreme (see
		// ErrExtremeHistory) and reach the flow.
		Range: scorer.ValueRange{Min: []float64{0}, Max: []float64{math.MaxFloat64}}})
	if err != nil {
		t.Fatal(err)
	}
	h := arHistory(1)
	for i := range h.Values {
		h.Values[i] = math.MaxFloat64 / float64(i+2)
	}
	fc, err := Sample(m, h, Options{Horizon: 3, Paths: 16, Seed: 1, KeepPaths: true})
	if err != nil {
		t.Fatalf("with the bound: %v", err)
	}
	for _, v := range fc.Paths {
		if math.IsNaN(v) {
			t.Fatal("a NaN left the bound")
		}
	}
	if fc.Clamped == 0 {
		t.Fatal("nothing repaired: the test no longer overflows the flow")
	}
	_, err = Sample(m, h, Options{Horizon: 3, Paths: 16, Seed: 1, Bound: -1})
	if !errors.Is(err, flowmodel.ErrNonFinite) {
		t.Fatalf("without the bound: %v, want ErrNonFinite", err)
	}
}

// arGridHistory is n steps of the AR(1) test process, one minute apart,
// every value times scale.
func arGridHistory(n int, scale float64) History {
	var h History
	for _, s := range arSamples(n, 9) {
		h.Times = append(h.Times, s.Time)
		h.Values = append(h.Values, scale*s.Values[0])
	}
	return h
}

// TestFarFromTraining: a history at 1000 times the scale the model was
// trained on gets a warning in the forecast; the process's own history
// gets none.
func TestFarFromTraining(t *testing.T) {
	m := ar1Model(t)
	opt := Options{Horizon: 3, Paths: 200, Seed: 1}
	fc, err := Sample(m, arGridHistory(500, 1), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Warnings) != 0 {
		t.Errorf("the training process's own history: warnings %q, want none", fc.Warnings)
	}
	fc, err = Sample(m, arGridHistory(500, 1000), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Warnings) != 1 || !strings.HasPrefix(fc.Warnings[0], "channel 0: the history "+
		"is far outside the model's training data") {
		t.Fatalf("history at 1000x the training scale: warnings %q, want one", fc.Warnings)
	}
	// The spread, about 1000 times the training's, is what gives it away
	// here: the median of a zero-mean process stays near 0.
	norm := m.Meta().Norm
	if w := FarFromTraining(arGridHistory(500, 1000), norm); len(w) != 1 ||
		!regexp.MustCompile(`spread \S+ is (9\d\d|1\.\d\de\+03) times`).MatchString(w[0]) {
		t.Errorf("warning %q does not give the spread ratio of about 1000", w)
	}
	// A history shifted 50 training scales up is far by its median alone.
	shifted := arGridHistory(500, 1)
	for i := range shifted.Values {
		shifted.Values[i] += 50 * norm.Scale[0]
	}
	if w := FarFromTraining(shifted, norm); len(w) != 1 || !strings.Contains(w[0], "50") {
		t.Errorf("history shifted 50 scales: %q, want a warning with z about 50", w)
	}
	b, err := json.Marshal(fc)
	if err != nil || !strings.Contains(string(b), `"warnings":["channel 0: the history is far`) {
		t.Errorf("JSON %.200s…: want the warnings in it (%v)", b, err)
	}
}

// TestStepMismatch: hourly history for a model of 1-minute steps fails
// with ErrStepMismatch, naming both steps, not as a history too short.
func TestStepMismatch(t *testing.T) {
	m := ar1Model(t)
	h := arGridHistory(50, 1)
	for i := range h.Times {
		h.Times[i] = arEpoch.Add(time.Duration(i) * time.Hour)
	}
	_, err := Sample(m, h, Options{})
	if !errors.Is(err, ErrStepMismatch) || errors.Is(err, ErrShortHistory) {
		t.Fatalf("hourly history, 1-minute model: %v, want ErrStepMismatch only", err)
	}
	want := "forecast: history step differs from the model's: the history's steps are " +
		"1h0m0s apart (median), the model's grid step is 1m0s"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}

// TestLevelsSorted: levels given out of order are reported in ascending
// order with their quantiles; a level given twice is refused.
func TestLevelsSorted(t *testing.T) {
	m := ar1Model(t)
	levels := []float64{0.9, 0.1, 0.5}
	fc, err := Sample(m, arHistory(1), Options{Horizon: 4, Paths: 500, Seed: 2,
		Levels: levels})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fc.Levels, []float64{0.1, 0.5, 0.9}) {
		t.Fatalf("levels %v, want 0.1, 0.5, 0.9", fc.Levels)
	}
	if !slices.Equal(levels, []float64{0.9, 0.1, 0.5}) {
		t.Errorf("the caller's levels were reordered: %v", levels)
	}
	for k := range 4 {
		if lo, mid, hi := fc.At(0, k, 0), fc.At(1, k, 0), fc.At(2, k, 0); !(lo < mid &&
			mid < hi) {
			t.Errorf("step %d: quantiles %v %v %v not ascending", k+1, lo, mid, hi)
		}
	}
	_, err = Sample(m, arHistory(1), Options{Levels: []float64{0.5, 0.1, 0.5}})
	if err == nil || err.Error() != "forecast: quantile level 0.5 given twice" {
		t.Errorf("level given twice: %v", err)
	}
}
