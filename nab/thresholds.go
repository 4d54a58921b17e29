package nab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Thresholds maps a profile's Name to a threshold tuned for it. Its JSON
// form is an object such as {"standard": 0.602095, ...}; encoding/json
// writes the shortest decimal that reads back to the same float64, so a
// saved threshold applies bit for bit.
type Thresholds map[string]float64

// SaveThresholds writes t as indented JSON to path, replacing the file.
func SaveThresholds(path string, t Thresholds) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("nab: create thresholds: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("nab: close thresholds: %w", cerr))
		}
	}()
	return WriteThresholds(f, t)
}

// WriteThresholds writes t as indented JSON to w.
func WriteThresholds(w io.Writer, t Thresholds) error {
	if err := t.validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]float64(t)); err != nil {
		return fmt.Errorf("nab: encode thresholds: %w", err)
	}
	return nil
}

// LoadThresholds reads a file written by SaveThresholds.
func LoadThresholds(path string) (Thresholds, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nab: open thresholds: %w", err)
	}
	defer f.Close()

	t, err := ReadThresholds(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ReadThresholds decodes thresholds from JSON. It rejects unknown profile
// names, an empty set and values that are null or not finite.
func ReadThresholds(r io.Reader) (Thresholds, error) {
	// Pointers tell a null from a zero, which encoding/json would not.
	var raw map[string]*float64
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("nab: decode thresholds: the file is empty")
		}
		return nil, fmt.Errorf("nab: decode thresholds: %w", err)
	}
	t := make(Thresholds, len(raw))
	for name, v := range raw {
		if v == nil {
			return nil, fmt.Errorf("nab: threshold for %s is null: want a number", name)
		}
		t[name] = *v
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t Thresholds) validate() error {
	if len(t) == 0 {
		return errors.New("nab: no thresholds")
	}
	for name, theta := range t {
		if _, ok := ProfileByName(name); !ok {
			return fmt.Errorf("nab: threshold for unknown profile %q", name)
		}
		// Scores are in [0, 1]; NoDetection is the threshold that flags
		// nothing, the most a sweep returns.
		if !(theta >= 0 && theta <= NoDetection) {
			return fmt.Errorf("nab: threshold %v for %s: want a value in [0, %v]", theta, name,
				NoDetection)
		}
	}
	return nil
}

// ScoreWith scores the corpus at fixed thresholds, one result per profile
// named in t, in the order of Profiles. Use it to apply thresholds tuned
// on other data unchanged.
func (c *Corpus) ScoreWith(t Thresholds) (Report, error) {
	if err := t.validate(); err != nil {
		return Report{}, err
	}
	var rep Report
	for _, p := range Profiles() {
		if theta, ok := t[p.Name]; ok {
			rep.Results = append(rep.Results, c.ScoreAt(p, theta))
		}
	}
	return rep, nil
}
