package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// fitOptions turns the model settings into scorer options.
func fitOptions(m config.TrainerModel, group string) (scorer.Options, error) {
	opt := scorer.Options{Group: group, Window: m.Window, TimeZone: m.TimeZone,
		Step: m.Step, MaxFill: m.MaxFill,
		Spec:  flowmodel.Spec{Hidden: m.Hidden, Layers: m.Layers, LayerType: m.LayerType},
		Train: flowmodel.TrainOptions{Epochs: m.Epochs},
		Seed:  uint64(m.Seed)}
	switch m.Calendar {
	case "", "auto":
		opt.Calendar = scorer.Auto
	case "on":
		opt.Calendar = scorer.On
	case "off":
		opt.Calendar = scorer.Off
	default:
		return opt, fmt.Errorf("model.calendar %q: want auto, on or off", m.Calendar)
	}
	return opt, nil
}

// metrics is the JSON the trainer stores with a model version.
type metrics struct {
	Report scorer.Report   `json:"report"`
	Data   scorer.DataInfo `json:"data"`
	Window int             `json:"window"`
	// Holdout compares the candidate and the champion of the time on the
	// candidate's calibration windows; absent when there was no champion.
	Holdout *comparison `json:"holdout,omitempty"`
}

// comparison is the result of assessing two models on the same data.
type comparison struct {
	Candidate scorer.Assessment `json:"candidate"`
	Champion  scorer.Assessment `json:"champion"`
	// ChampionVersion is the version compared with.
	ChampionVersion int `json:"champion_version"`
}

func metricsJSON(m *scorer.Model, cmp *comparison) ([]byte, error) {
	meta := m.Meta()
	r := meta.Report
	// JSON has no NaN: a run without validation reports none.
	if math.IsNaN(r.ValidNLL) {
		r.ValidNLL = 0
	}
	b, err := json.Marshal(metrics{Report: r, Data: meta.Data,
		Window: meta.Features.Window, Holdout: cmp})
	if err != nil {
		return nil, fmt.Errorf("encode metrics: %w", err)
	}
	return b, nil
}

// newModel prepares a registry entry for m.
func newModel(m *scorer.Model, cmp *comparison, note string) (store.NewModel, error) {
	artifact, err := m.Encode()
	if err != nil {
		return store.NewModel{}, err
	}
	met, err := metricsJSON(m, cmp)
	if err != nil {
		return store.NewModel{}, err
	}
	spec, err := json.Marshal(m.Flow().Spec())
	if err != nil {
		return store.NewModel{}, fmt.Errorf("encode spec: %w", err)
	}
	meta := m.Meta()
	from, to := meta.Data.From, meta.Data.To
	return store.NewModel{Group: meta.Group, Spec: spec, Artifact: artifact, Metrics: met,
		TrainFrom: &from, TrainTo: &to, Note: note}, nil
}

// compare assesses the candidate and the champion on the candidate's
// holdout, the newest data neither has trained on (the champion was
// trained earlier, or on other data).
func compare(champ, cand *scorer.Model, hold scorer.Windows,
	series [][]timeseries.Sample, version int) (*comparison, error) {
	var c comparison
	c.ChampionVersion = version
	var err error
	if c.Candidate, err = cand.Assess(hold); err != nil {
		return nil, fmt.Errorf("assess candidate: %w", err)
	}
	if hold.Len() == 0 {
		return &c, nil
	}
	from, to := hold.Time[0], hold.Time[0]
	for _, t := range hold.Time {
		from, to = minTime(from, t), maxTime(to, t)
	}
	w, _, err := champ.Meta().Features.Build(series, nil)
	if err != nil {
		return nil, fmt.Errorf("champion windows: %w", err)
	}
	if c.Champion, err = champ.Assess(w.Between(from, to)); err != nil {
		return nil, fmt.Errorf("assess champion: %w", err)
	}
	return &c, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// publish saves m in the registry and makes it champion if its group has
// none yet (bootstrap). It returns the entry and whether it was promoted.
func publish(ctx context.Context, s *store.Store, m *scorer.Model, cmp *comparison,
	note string) (store.ModelInfo, bool, error) {
	nm, err := newModel(m, cmp, note)
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
