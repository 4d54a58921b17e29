package pipeline

import (
	"context"
	"math"
	"slices"
	"testing"
)

// surpriseModel gives every window the same score and surprise, the way
// scorer reports a point far beyond its calibration: a p-value floored at
// the smallest float64 and the surprise that keeps its size.
type surpriseModel struct{ surprise float64 }

func (m *surpriseModel) Version() int      { return 1 }
func (m *surpriseModel) Window() int       { return testWindow }
func (m *surpriseModel) Channels() int     { return 1 }
func (m *surpriseModel) ContextWidth() int { return 0 }

func (m *surpriseModel) Score(_ context.Context, b *Batch, out *Scores) error {
	out.Score = slices.Repeat([]float64{m.surprise}, b.N)
	out.Surprise = slices.Repeat([]float64{m.surprise}, b.N)
	out.PValue = slices.Repeat([]float64{max(math.Exp(-m.surprise),
		math.SmallestNonzeroFloat64)}, b.N)
	out.Explain = make([]float64, b.N*b.W)
	return nil
}

// TestStoredPValueIsPositive: a spike whose surprise is 1e4 has a p-value
// of exp(-1e4), which underflows; with a run policy the detector turned
// the decided surprise back into a p-value itself and stored 0 (the demo
// printed 7.7e-167 for smaller ones). It stores the smallest float64, as
// scorer does, and never more than 1.
func TestStoredPValueIsPositive(t *testing.T) {
	for _, run := range []int{-1, 4} { // run test off and on
		src := &staticModels{}
		src.set(DefaultGroup, &surpriseModel{surprise: 1e4})
		cfg := detectorConfig("127.0.0.1:1")
		cfg.Run = run
		d, err := NewDetector(cfg, &recordingWriter{}, src, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		data := newDataset(5, 1, 30)
		w := newWork()
		msgs := data.messages(0, 30)
		for i := range msgs {
			msgs[i].Partition, msgs[i].Offset = 0, int64(i)
		}
		d.fill(w, msgs)
		d.score(context.Background(), w)
		if len(d.anoms) == 0 {
			t.Fatalf("run %d: nothing flagged", run)
		}
		for _, a := range d.anoms {
			if a.PValue != math.SmallestNonzeroFloat64 {
				t.Fatalf("run %d: stored p-value %g, want %g", run, a.PValue,
					math.SmallestNonzeroFloat64)
			}
		}
	}
}
