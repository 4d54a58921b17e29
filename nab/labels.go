package nab

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// TimeLayout is the timestamp layout of NAB's data, results and labels.
// Fractional seconds after the seconds field are accepted when parsing.
const TimeLayout = "2006-01-02 15:04:05"

// Window is one labelled anomaly window; both ends are inclusive and must
// match a row's timestamp exactly.
type Window struct {
	First time.Time
	Last  time.Time
}

// Labels maps a data file's name, "category/file.csv", to its windows in
// time order. A file with no anomalies maps to an empty list.
type Labels map[string][]Window

// Names returns the labelled file names in lexical order.
func (l Labels) Names() []string {
	names := make([]string, 0, len(l))
	for name := range l {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// LoadLabels reads a NAB label file such as combined_windows.json.
func LoadLabels(path string) (Labels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nab: open labels: %w", err)
	}
	defer f.Close()

	return ReadLabels(f)
}

// ReadLabels decodes NAB labels: a JSON object from file name to a list of
// [first, last] timestamp pairs. It rejects a file name given twice (JSON
// decoders keep the last silently, so one of the two lists would be lost),
// windows whose end is before their start and windows that are out of
// order or overlap.
func ReadLabels(r io.Reader) (Labels, error) {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("nab: decode labels: %w", err)
	} else if tok != json.Delim('{') {
		return nil, fmt.Errorf("nab: decode labels: want an object of file names, got %v", tok)
	}
	labels := make(Labels)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("nab: decode labels: %w", err)
		}
		name := tok.(string) // json.Decoder only returns strings as object keys
		if _, ok := labels[name]; ok {
			return nil, fmt.Errorf("nab: labels name %q twice: keep one list of its windows",
				name)
		}
		var pairs [][]string
		if err := dec.Decode(&pairs); err != nil {
			return nil, fmt.Errorf("nab: decode labels %s: %w", name, err)
		}
		windows := make([]Window, 0, len(pairs))
		for i, pair := range pairs {
			w, err := parseWindow(pair)
			if err != nil {
				return nil, fmt.Errorf("nab: labels %s window %d: %w", name, i, err)
			}
			if i > 0 && !w.First.After(windows[i-1].Last) {
				return nil, fmt.Errorf("nab: labels %s window %d: overlaps or precedes window %d",
					name, i, i-1)
			}
			windows = append(windows, w)
		}
		labels[name] = windows
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("nab: decode labels: %w", err)
	}
	return labels, nil
}

func parseWindow(pair []string) (Window, error) {
	if len(pair) != 2 {
		return Window{}, fmt.Errorf("want 2 timestamps, got %d", len(pair))
	}
	first, err := parseTime(pair[0])
	if err != nil {
		return Window{}, err
	}
	last, err := parseTime(pair[1])
	if err != nil {
		return Window{}, err
	}
	if last.Before(first) {
		return Window{}, fmt.Errorf("last %s before first %s", pair[1], pair[0])
	}
	return Window{First: first, Last: last}, nil
}

// ParseTime parses a NAB timestamp ("2014-02-14 14:30:00", optionally
// followed by fractional seconds) as UTC.
func ParseTime(s string) (time.Time, error) {
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("nab: %w", err)
	}
	return t, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse timestamp: %w", err)
	}
	return t, nil
}
