package main

import (
	"fmt"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/scorer"
)

// fitOptions turns the model settings into scorer options. Zero means
// "choose from the data"; a negative size is a mistake the fit would
// otherwise round up in silence.
func fitOptions(m config.TrainerModel, group string) (scorer.Options, error) {
	for _, f := range []struct {
		key string
		v   int
	}{{"window", m.Window}, {"hidden", m.Hidden}, {"layers", m.Layers}, {"epochs", m.Epochs}} {
		if f.v < 0 {
			return scorer.Options{}, fmt.Errorf("model.%s %d: want 0 (chosen from the data) "+
				"or more", f.key, f.v)
		}
	}
	if m.Step < 0 {
		return scorer.Options{}, fmt.Errorf("model.step %v: want 0 (the data's spacing) or "+
			"more", m.Step)
	}
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
