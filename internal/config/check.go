package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// A setting's valid values are its range tag: one or more alternatives
// separated by "|", each an interval such as (0,1), [0,1] or [1,) (an empty
// bound is unbounded) or a single value such as 0. Bounds of a duration
// setting are durations ("0", "1s"); each element of a list is checked on
// its own. "any" takes every value. Whatever the tag, a float must be
// finite: NaN and Inf parse but mean nothing as a setting.
//
// Rules that span fields are a struct's validate method. Load applies
// both after the last source, so every source and command gets them, and
// an error names the source of the value: the flag, the variable, or the
// file and line.

// interval is one alternative of a range tag. Durations are compared in
// nanoseconds.
type interval struct {
	lo, hi         float64 // ±Inf when unbounded
	loOpen, hiOpen bool
}

func (iv interval) contains(x float64) bool {
	if x < iv.lo || (iv.loOpen && x == iv.lo) {
		return false
	}
	return x < iv.hi || (!iv.hiOpen && x == iv.hi)
}

// parseRange reads a range tag; dur says its bounds are durations. A bad
// tag is a programmer's error and panics.
func parseRange(tag string, dur bool) []interval {
	bound := func(s string, inf float64) float64 {
		s = strings.TrimSpace(s)
		if s == "" {
			return inf
		}
		if dur {
			d, err := time.ParseDuration(s)
			if err != nil {
				panic(fmt.Sprintf("config: range tag %q: bound %q: %v", tag, s, err))
			}
			return float64(d)
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			panic(fmt.Sprintf("config: range tag %q: bound %q: %v", tag, s, err))
		}
		return x
	}
	var out []interval
	for _, alt := range strings.Split(tag, "|") {
		alt = strings.TrimSpace(alt)
		if alt == "any" {
			out = append(out, interval{lo: math.Inf(-1), hi: math.Inf(1)})
			continue
		}
		if alt == "" {
			panic(fmt.Sprintf("config: range tag %q: empty alternative", tag))
		}
		if alt[0] != '(' && alt[0] != '[' {
			x := bound(alt, math.NaN())
			out = append(out, interval{lo: x, hi: x})
			continue
		}
		last := alt[len(alt)-1]
		lo, hi, ok := strings.Cut(alt[1:len(alt)-1], ",")
		if !ok || (last != ')' && last != ']') {
			panic(fmt.Sprintf("config: range tag %q: want (a,b), [a,b], [a,) or a value", tag))
		}
		out = append(out, interval{lo: bound(lo, math.Inf(-1)), hi: bound(hi, math.Inf(1)),
			loOpen: alt[0] == '(', hiOpen: last == ')'})
	}
	return out
}

// describeRange says in words which values a range takes.
func describeRange(r []interval, dur bool) string {
	num := func(x float64) string {
		if dur {
			return time.Duration(x).String()
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	parts := make([]string, len(r))
	for i, iv := range r {
		lo, hi := !math.IsInf(iv.lo, -1), !math.IsInf(iv.hi, 1)
		var s string
		switch {
		case lo && hi && iv.lo == iv.hi:
			s = num(iv.lo)
		case lo && hi && !iv.loOpen && !iv.hiOpen:
			s = "from " + num(iv.lo) + " to " + num(iv.hi)
		case lo && hi:
			s = lowWord(iv.loOpen) + num(iv.lo) + " and " + highWord(iv.hiOpen) + num(iv.hi)
		case lo && iv.loOpen:
			s = "more than " + num(iv.lo)
		case lo:
			s = num(iv.lo) + " or more"
		case hi:
			s = highWord(iv.hiOpen) + num(iv.hi)
		default:
			s = "a finite number"
		}
		parts[i] = s
	}
	return "want " + strings.Join(parts, ", or ")
}

func lowWord(open bool) string {
	if open {
		return "more than "
	}
	return "at least "
}

func highWord(open bool) string {
	if open {
		return "less than "
	}
	return "at most "
}

// checkValue reports, for a scalar (or one list element) v out of the
// range tag, the text of the error; "" when v is valid.
func checkValue(v reflect.Value, tag string) string {
	dur := v.Type() == durationType
	var x float64
	switch v.Kind() {
	case reflect.Int, reflect.Int64:
		x = float64(v.Int())
	case reflect.Float64:
		x = v.Float()
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("%s is not a finite number", format(v))
		}
	default:
		return ""
	}
	if tag == "" {
		return ""
	}
	r := parseRange(tag, dur)
	for _, iv := range r {
		if iv.contains(x) {
			return ""
		}
	}
	return format(v) + " is out of range: " + describeRange(r, dur)
}

// where says where the settings' values came from: the source that set
// each key last.
type where struct {
	file  string
	lines map[string]int // key (list elements: key[i]) to its line in file
	env   map[string]bool
	flag  map[string]bool
}

// fail builds the error about key (index >= 0: one element of the list)
// naming its source.
func (w *where) fail(key string, index int, msg string) error {
	switch {
	case w.flag[key]:
		return fmt.Errorf("config: flag --%s: %s", key, msg)
	case w.env[key]:
		return fmt.Errorf("config: environment %s: %s", EnvName(key), msg)
	}
	field := key
	if index >= 0 {
		field = fmt.Sprintf("%s[%d]", key, index)
	}
	if line, ok := w.lines[field]; ok {
		return &FileError{File: w.file, Line: line, Field: field, Msg: msg}
	}
	if line, ok := w.lines[key]; ok {
		return &FileError{File: w.file, Line: line, Field: key, Msg: msg}
	}
	return fmt.Errorf("config: %s (its default): %s", key, msg)
}

// fieldError is what a settings struct's validate method returns about a
// field that is out of range given the struct's other fields. Key is the
// field's key relative to the struct; Load adds the prefix and the source.
type fieldError struct {
	Key   string
	Index int    // element of a list setting, or -1
	Msg   string // such as "1s is out of range: want ..."
}

// validator is a settings struct with rules across its fields. name turns
// a key relative to the struct into the full dotted key, for messages
// that mention another field.
type validator interface {
	validate(name func(key string) string) *fieldError
}

// check applies the range tags of settings and then the validate methods
// of the structs in root.
func check(root reflect.Value, settings []setting, w *where) error {
	for _, s := range settings {
		if s.value.Kind() == reflect.Slice {
			for i := 0; i < s.value.Len(); i++ {
				if msg := checkValue(s.value.Index(i), s.valid); msg != "" {
					return w.fail(s.key, i, msg)
				}
			}
			continue
		}
		if msg := checkValue(s.value, s.valid); msg != "" {
			return w.fail(s.key, -1, msg)
		}
	}
	return validateTree(root, "", w)
}

func validateTree(v reflect.Value, prefix string, w *where) error {
	name := func(key string) string {
		if prefix == "" {
			return key
		}
		return prefix + "." + key
	}
	if v.CanAddr() {
		if val, ok := v.Addr().Interface().(validator); ok {
			if fe := val.validate(name); fe != nil {
				return w.fail(name(fe.Key), fe.Index, fe.Msg)
			}
		}
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, ok := yamlKey(f)
		if !ok || f.Type.Kind() != reflect.Struct || f.Type == reflect.TypeOf(time.Time{}) {
			continue
		}
		if err := validateTree(v.Field(i), name(key), w); err != nil {
			return err
		}
	}
	return nil
}
