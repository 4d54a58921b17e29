package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FileError is a problem in a configuration file, with the place it is at.
type FileError struct {
	File  string
	Line  int
	Field string // dotted key, such as kafka.brokers
	Msg   string
}

func (e *FileError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("config: %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("config: %s:%d: field %q: %s", e.File, e.Line, e.Field, e.Msg)
}

// loadFile decodes the YAML file at path into v, and records in lines the
// line of each value it sets, by dotted key (list elements as key[i]).
// Unknown fields and values of the wrong type are errors naming the file,
// the line and the field; the walk is ours rather than yaml.v3's Decode so
// that every error can say which field it is about.
func loadFile(path string, v reflect.Value, lines map[string]int) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return &FileError{File: path, Line: yamlErrLine(err), Msg: yamlErrMsg(err)}
	}
	// A second document would be read by nobody: say so rather than
	// drop its settings.
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			line = yamlErrLine(err)
		}
		return &FileError{File: path, Line: line,
			Msg: "a second YAML document (after ---): settings belong in one"}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return decodeNode(path, doc.Content[0], v, "", lines)
}

func decodeNode(file string, n *yaml.Node, v reflect.Value, key string,
	lines map[string]int) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	wrong := func(msg string) error {
		return &FileError{File: file, Line: n.Line, Field: key, Msg: msg}
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeOf(time.Time{}):
		if n.Kind != yaml.MappingNode {
			return wrong("want a mapping of fields, got " + nodeKind(n))
		}
		seen := map[string]int{}
		fields := map[string]int{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			if k, ok := yamlKey(t.Field(i)); ok {
				fields[k] = i
				names = append(names, k)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			sub := kn.Value
			if key != "" {
				sub = key + "." + kn.Value
			}
			if first, dup := seen[kn.Value]; dup {
				return &FileError{File: file, Line: kn.Line, Field: sub,
					Msg: fmt.Sprintf("set twice (first on line %d)", first)}
			}
			seen[kn.Value] = kn.Line
			idx, ok := fields[kn.Value]
			if !ok && !strings.Contains(kn.Value, ".") && otherCommandKey(sub) {
				// One file may configure the detector and the trainer, as
				// one environment may: the other's settings are left to
				// it, and checked as its (checkOtherCommand).
				continue
			}
			if !ok {
				msg := "unknown field (known here: " + strings.Join(names, ", ") + ")"
				if head, tail, dotted := strings.Cut(kn.Value, "."); dotted {
					msg = fmt.Sprintf("unknown field: in a file a dotted key is nested, "+
						"write %s: {%s: ...}", head, tail)
				}
				return &FileError{File: file, Line: kn.Line, Field: sub, Msg: msg}
			}
			if err := decodeNode(file, vn, v.Field(idx), sub, lines); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.String &&
		t.Elem() != durationType:
		if n.Kind != yaml.SequenceNode {
			return wrong("want a list, got " + nodeKind(n))
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, en := range n.Content {
			if err := decodeNode(file, en, s.Index(i), fmt.Sprintf("%s[%d]", key, i),
				lines); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		if n.Kind != yaml.MappingNode {
			return wrong("want a mapping, got " + nodeKind(n))
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			ev := reflect.New(t.Elem()).Elem()
			sub := key + "." + n.Content[i].Value
			if err := decodeNode(file, n.Content[i+1], ev, sub, lines); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(n.Content[i].Value), ev)
		}
		v.Set(m)
		return nil
	case t.Kind() == reflect.Slice:
		// []string or []time.Duration: a list, or one comma-separated
		// string.
		if n.Kind == yaml.SequenceNode {
			s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
			for i, en := range n.Content {
				if en.Kind != yaml.ScalarNode {
					return wrong("want a list of single values")
				}
				elem := fmt.Sprintf("%s[%d]", key, i)
				if err := setScalar(s.Index(i), en.Value); err != nil {
					return &FileError{File: file, Line: en.Line, Field: elem, Msg: err.Error()}
				}
				lines[elem] = en.Line
			}
			v.Set(s)
			lines[key] = n.Line
			return nil
		}
		fallthrough
	default:
		if n.Kind != yaml.ScalarNode {
			return wrong("want a single value, got " + nodeKind(n))
		}
		if err := setScalar(v, n.Value); err != nil {
			return wrong(err.Error())
		}
		lines[key] = n.Line
		return nil
	}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// yamlErrLine digs the line number out of a yaml.v3 syntax error, whose only
// carrier is its text ("yaml: line 3: ...").
func yamlErrLine(err error) int {
	var line int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i:], "line %d", &line)
	}
	return line
}

func yamlErrMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i >= 0 {
		msg = msg[i+2:]
	}
	return "not valid YAML: " + msg
}
