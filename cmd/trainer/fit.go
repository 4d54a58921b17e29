package main

import (
	"fmt"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/scorer"
)

// fitOptions turns the model settings into scorer options. Zero means
// "choose from the data"; config.Load has refused values out of range.
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
