package pipeline

import (
	"context"
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

// TestFlowModelFromRegistry stores a scorer model in the registry, loads it
// through Registry and checks that its scores are the scorer's own.
func TestFlowModelFromRegistry(t *testing.T) {
	m, data := smallFlow(t)
	art, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := newEnv(t, 1)
	info, err := e.store.SaveModel(ctx, store.NewModel{Group: DefaultGroup, Spec: []byte(`{}`),
		Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Promote(ctx, DefaultGroup, info.Version); err != nil {
		t.Fatal(err)
	}
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
