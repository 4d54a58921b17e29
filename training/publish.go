package training

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
)

// Metrics is the JSON stored with every model version (models.metrics):
// what it was trained on, how training went, and how it compared with the
// champion of the time.
type Metrics struct {
	Report scorer.Report   `json:"report"`
	Data   scorer.DataInfo `json:"data"`
	Window int             `json:"window"`
	// Range is the data range of the job that trained the model; nil for
	// models trained offline.
	Range *Range `json:"range,omitempty"`
	// Evaluation is nil when there was no champion to compare with.
	Evaluation *Evaluation `json:"evaluation,omitempty"`
}

// DecodeMetrics reads a model version's metrics. An empty or foreign
// object gives zero Metrics, not an error.
func DecodeMetrics(b []byte) (Metrics, error) {
	var m Metrics
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Metrics{}, fmt.Errorf("training: decode metrics: %w", err)
	}
	return m, nil
}

// newModel prepares a registry entry for m.
func newModel(m *scorer.Model, rng *Range, ev *Evaluation,
	note string) (store.NewModel, error) {
	artifact, err := m.Encode()
	if err != nil {
		return store.NewModel{}, err
	}
	meta := m.Meta()
	r := meta.Report
	// JSON has no NaN: a run without validation reports none.
	if math.IsNaN(r.ValidNLL) {
		r.ValidNLL = 0
	}
	met, err := json.Marshal(Metrics{Report: r, Data: meta.Data, Window: meta.Features.Window,
		Range: rng, Evaluation: ev})
	if err != nil {
		return store.NewModel{}, fmt.Errorf("training: encode metrics: %w", err)
	}
	spec, err := json.Marshal(m.Flow().Spec())
	if err != nil {
		return store.NewModel{}, fmt.Errorf("training: encode spec: %w", err)
	}
	from, to := meta.Data.From, meta.Data.To
	return store.NewModel{Group: meta.Group, Spec: spec, Artifact: artifact, Metrics: met,
		TrainFrom: &from, TrainTo: &to, Note: note}, nil
}

// Publish saves m in the registry as a candidate of its group (Meta.Group)
// with its metrics and note, and makes it champion if the group has none
// yet, which notifies store.ModelsChannel. rng and ev may be nil. It
// returns the registry entry and whether the model became champion.
func Publish(ctx context.Context, s *store.Store, m *scorer.Model, rng *Range,
	ev *Evaluation, note string) (store.ModelInfo, bool, error) {
	nm, err := newModel(m, rng, ev, note)
	if err != nil {
		return store.ModelInfo{}, false, err
	}
	info, err := s.SaveModel(ctx, nm)
	if err != nil {
		return store.ModelInfo{}, false, err
	}
	promoted, err := s.PromoteIfNone(ctx, info.Group, info.Version)
	if err != nil {
		return info, false, err
	}
	return info, promoted, nil
}
