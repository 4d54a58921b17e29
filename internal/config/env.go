package config

import (
	"reflect"
	"slices"
	"strings"
)

// toolKeys are the setting keys of the detector's demo, evaluate and
// forecast commands that neither DefaultDetector nor DefaultTrainer has.
// Their structs live in cmd/detector, whose TestToolSettingsAreKnownEnv
// fails when one is missing here.
var toolKeys = []string{
	"calendar", "chart", "data", "demo_database", "epochs", "hidden", "horizon",
	"keep_paths", "labels", "lags", "layers", "layer_type", "level", "levels", "model",
	"online", "parallel", "paths", "recent", "reset", "save_thresholds", "season", "seed",
	"serve", "show", "speed", "spread", "stride", "table", "thresholds", "train_frac",
	"weight_decay", "window",
}

// otherCommandKey reports whether key is a setting, or a section of
// settings, of the detector or the trainer (a command's own keys are
// known to it before this is asked).
func otherCommandKey(key string) bool {
	for _, cfg := range []any{DefaultDetector(), DefaultTrainer()} {
		for _, s := range collect(reflect.ValueOf(cfg).Elem(), "") {
			if s.key == key || strings.HasPrefix(s.key, key+".") {
				return true
			}
		}
	}
	return false
}

// UnknownEnv returns, sorted, the names of the variables in environ
// ("NAME=value", as os.Environ gives them) that start with EnvPrefix but
// name no setting of any detector or trainer command: misspelt, most
// likely, since Load reads only the names it knows. The detector and the
// trainer may share an environment, so each one's variables are known to
// both.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{EnvPrefix + "CONFIG": true}
	for _, cfg := range []any{DefaultDetector(), DefaultTrainer()} {
		for _, s := range collect(reflect.ValueOf(cfg).Elem(), "") {
			known[EnvName(s.key)] = true
		}
	}
	for _, k := range toolKeys {
		known[EnvName(k)] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !known[name] && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
