package pipeline

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// smallFlow fits a small flow on the test dataset's first series.
func smallFlow(t *testing.T) (*scorer.Model, *dataset) {
	t.Helper()
	data := newDataset(31, 2, 400)
	series := make([][]timeseries.Sample, len(data.ids))
	for s, id := range data.ids {
		for i, v := range data.vals[s] {
			series[s] = append(series[s], timeseries.Sample{Series: id,
				Time: data.t0.Add(time.Duration(i) * time.Minute), Values: []float64{v}})
		}
	}
	m, err := scorer.Fit(context.Background(), series, scorer.Options{Group: DefaultGroup,
		Window: testWindow, Seed: 1, Spec: flowmodel.Spec{Hidden: 8, Layers: 1},
		Train: flowmodel.TrainOptions{Epochs: 3}})
	if err != nil {
		t.Fatal(err)
	}
	return m, data
}

// publish stores m in the registry as the default group's champion.
func (e *env) publish(t *testing.T, m *scorer.Model) store.ModelInfo {
	t.Helper()
	art, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	info, err := e.store.SaveModel(ctx, store.NewModel{Group: DefaultGroup, Spec: []byte(`{}`),
		Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Promote(ctx, DefaultGroup, info.Version); err != nil {
		t.Fatal(err)
	}
	return info
}

// TestFlowModelFromRegistry stores a scorer model in the registry, loads it
// through Registry and checks that its scores are the scorer's own.
func TestFlowModelFromRegistry(t *testing.T) {
	m, data := smallFlow(t)
	ctx := context.Background()
	e := newEnv(t, 1)
	info := e.publish(t, m)
	grid := timeseries.Config{Step: time.Minute, Window: testWindow, MaxFill: 3,
		Fill: timeseries.FillLinear}
	reg := &Registry{Store: e.store, Grid: grid}
	model, err := reg.Champion(ctx, DefaultGroup)
	if err != nil {
		t.Fatal(err)
	}
	if model.Version() != info.Version || model.Window() != testWindow || model.Channels() != 1 {
		t.Fatalf("loaded v%d %dx%d", model.Version(), model.Window(), model.Channels())
	}

	b := &Batch{N: 3, W: testWindow, C: 1}
	for i := 0; i < 3; i++ {
		b.Windows = append(b.Windows, data.vals[0][100+i:100+i+testWindow]...)
	}
	var got Scores
	if err := model.Score(ctx, b, &got); err != nil {
		t.Fatal(err)
	}
	var want scorer.Scores
	if err := m.Score(&want, b.Windows, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if got.Score[i] != want.Score[i] || got.PValue[i] != want.P[i] {
			t.Fatalf("window %d: score %v p %v, scorer says %v and %v", i, got.Score[i],
				got.PValue[i], want.Score[i], want.P[i])
		}
	}

	if _, err := reg.Champion(ctx, "other"); !errorsIsNoModel(err) {
		t.Fatalf("Champion of a group without a model: %v, want ErrNoModel", err)
	}
	grid.Window = 16
	_, err = FlowModel(m, 1, grid)
	if err == nil || !strings.Contains(err.Error(), "window 8") {
		t.Fatalf("FlowModel with another window: %v", err)
	}
}

// dailySamples returns n steps of a daily pattern with noise.
func dailySamples(seed uint64, n int, start time.Time, step time.Duration) []timeseries.Sample {
	rng := rand.New(rand.NewPCG(seed, 5))
	id := timeseries.NewSeriesID("daily", nil)
	out := make([]timeseries.Sample, n)
	for i := range out {
		t := start.Add(time.Duration(i) * step)
		h := float64(t.Hour()) + float64(t.Minute())/60
		out[i] = timeseries.Sample{Series: id, Time: t,
			Values: []float64{10 + 3*math.Sin(2*math.Pi*h/24) + rng.NormFloat64()}}
	}
	return out
}

// gridBatch pushes samples through a series on grid and returns the batch
// of every scorable window, as the detector builds it.
func gridBatch(t *testing.T, grid timeseries.Config, samples []timeseries.Sample) *Batch {
	t.Helper()
	s, err := timeseries.NewSeries(samples[0].Series, grid, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := &Batch{}
	b.Reset(grid.Window, 1, grid.ContextWidth(1))
	take := func(emitted int) {
		for ago := emitted - 1; ago >= 0; ago-- {
			win := make([]float64, grid.Window)
			if st := s.Step(ago); st.Filled || !st.Ready || !s.WindowAt(win, ago) {
				continue
			}
			ctx := make([]float64, b.CtxWidth)
			s.ContextAt(ctx, ago)
			b.Windows = append(b.Windows, win...)
			b.Context = append(b.Context, ctx...)
			b.N++
		}
	}
	for i := range samples {
		take(s.Push(&samples[i]).Emitted)
	}
	take(s.Flush().Emitted)
	return b
}

// TestFlowModelTakesItsLagsFromTheGrid fits a model on three days offered a
// day and a week, so it keeps the day, and scores ten later days through
// grids that offer the day alone, the day and the week, and half a day, the
// day and the week: the scores must be the same to the bit. A grid without
// the day, or with another calendar, is refused.
func TestFlowModelTakesItsLagsFromTheGrid(t *testing.T) {
	const step, day, week = 15 * time.Minute, 24 * time.Hour, 7 * 24 * time.Hour
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	m, err := scorer.Fit(context.Background(),
		[][]timeseries.Sample{dailySamples(1, 3*96, t0, step)},
		scorer.Options{Group: DefaultGroup, Window: testWindow, Seed: 1, Calendar: scorer.On,
			Lags: []time.Duration{day, week}, Spec: flowmodel.Spec{Hidden: 8, Layers: 1},
			Train: flowmodel.TrainOptions{Epochs: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if f := m.Meta().Features; !slices.Equal(f.Lags, []time.Duration{day}) {
		t.Fatalf("model lags %v, want [24h]", f.Lags)
	}
	later := dailySamples(2, 10*96, t0.Add(3*day), step)
	grid := timeseries.Config{Step: step, Window: testWindow, MaxFill: 3,
		Fill: timeseries.FillLinear, Calendar: true}
	var want Scores
	for i, lags := range [][]time.Duration{{day}, {day, week}, {12 * time.Hour, day, week}} {
		g := grid
		g.Lags = lags
		model, err := FlowModel(m, 1, g)
		if err != nil {
			t.Fatalf("grid lags %v: %v", lags, err)
		}
		b := gridBatch(t, g, later)
		if model.ContextWidth() != b.CtxWidth || b.CtxWidth != 4+len(lags) {
			t.Fatalf("grid lags %v: model context width %d, grid's %d", lags,
				model.ContextWidth(), b.CtxWidth)
		}
		var got Scores
		if err := model.Score(context.Background(), b, &got); err != nil {
			t.Fatal(err)
		}
		if b.N != 10*96-testWindow+1 {
			t.Fatalf("%d windows", b.N)
		}
		if i == 0 {
			// The adapter of the model's own grid passes the context
			// through; the scorer's scores are the reference.
			var sc scorer.Scores
			if err := m.Score(&sc, b.Windows, b.Context); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Score, sc.Score) {
				t.Fatal("the adapter's scores differ from the scorer's")
			}
			want = Scores{Score: slices.Clone(got.Score), PValue: slices.Clone(got.PValue),
				Explain: slices.Clone(got.Explain)}
			continue
		}
		if !slices.Equal(got.Score, want.Score) || !slices.Equal(got.PValue, want.PValue) ||
			!slices.Equal(got.Explain, want.Explain) {
			t.Fatalf("grid lags %v: scores differ from those of the model's own grid", lags)
		}
	}
	for _, g := range []timeseries.Config{
		{Lags: []time.Duration{week}, Calendar: true},
		{Lags: []time.Duration{12 * time.Hour}, Calendar: true},
		{Lags: []time.Duration{day, week}},
		{Lags: []time.Duration{day}, Calendar: true, LagResolution: time.Hour},
	} {
		g.Step, g.Window, g.MaxFill, g.Fill = step, testWindow, 3, timeseries.FillLinear
		if _, err := FlowModel(m, 1, g); err == nil || !strings.Contains(err.Error(),
			"model context") {
			t.Errorf("grid lags %v calendar %t resolution %v: %v, want refused", g.Lags,
				g.Calendar, g.LagResolution, err)
		}
	}
}

// TestBootstrapDetailsOfferTheGridLags checks that a job asks the trainer
// for the grid's lags, and for none on a grid without (as before lags).
func TestBootstrapDetailsOfferTheGridLags(t *testing.T) {
	r := &Registry{Grid: timeseries.Config{Step: time.Hour, Window: 12, MaxFill: 2,
		Calendar: true, Lags: []time.Duration{24 * time.Hour, 168 * time.Hour}}}
	b, err := json.Marshal(r.bootstrapDetails([]string{"a{}"}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"series":["a{}"],"step":"1h0m0s","window":12,"max_fill":2,"calendar":true,` +
		`"lags":["24h0m0s","168h0m0s"]}`
	if string(b) != want {
		t.Fatalf("details %s, want %s", b, want)
	}
	r.Grid.Lags = nil
	if b, _ = json.Marshal(r.bootstrapDetails(nil)); strings.Contains(string(b), "lags") {
		t.Fatalf("details without lags: %s", b)
	}
}
