package timeseries

// The map-based sample decoding that the walker in json.go replaced, kept
// as an oracle for FuzzJSONDifferential.

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
)

// refAppendSamples decodes one JSON object starting at payload offset off.
// Errors are *DecodeError located at off (Line is set by the caller).
func refAppendSamples(d *JSONDecoder, out []Sample, raw []byte, off int64) ([]Sample, error) {
	fail := func(k Kind, field string, err error) ([]Sample, error) {
		return out, &DecodeError{Kind: k, Field: field, Offset: off, Err: err}
	}
	if i := invalidUTF8(raw); i >= 0 {
		return out, &DecodeError{Kind: KindNonUTF8, Offset: off + int64(i)}
	}
	if raw[0] != '{' {
		return fail(KindWrongType, "", errors.New("sample is not an object"))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fail(KindSyntax, "", err)
	}
	c := &d.cfg

	var s Sample
	name, err := refString(obj[c.NameField])
	if err != nil {
		return fail(errKind(err), c.NameField, nil)
	}
	if name == "" {
		return fail(KindEmptySeries, c.NameField, nil)
	}
	s.Series.Name = name
	if s.Series.Labels, err = refLabels(obj[c.LabelsField], c.LabelsField); err != nil {
		var de *DecodeError
		errors.As(err, &de)
		de.Offset = off
		return out, de
	}
	if s.Time, err = jsonTime(obj[c.TimeField], c.TimeUnit); err != nil {
		return fail(errKind(err), c.TimeField, err)
	}

	one, many := obj[c.ValueField], obj[c.ValuesField]
	switch {
	case isNull(one) && isNull(many):
		return fail(KindMissingField, c.ValueField, nil)
	case !isNull(one) && !isNull(many):
		return fail(KindSyntax, c.ValuesField, errors.New("both value and values given"))
	case !isNull(one):
		v, err := jsonNumber(one)
		if err != nil {
			return fail(errKind(err), c.ValueField, err)
		}
		s.Values = []float64{v}
	case many[0] == '{':
		return refAppendMap(d, out, s, many, off)
	default:
		if s.Values, err = refArray(many); err != nil {
			return fail(errKind(err), c.ValuesField, err)
		}
	}
	if len(c.Channels) > 0 && len(s.Values) != len(c.Channels) {
		return fail(KindChannels, c.ValuesField,
			errors.New("got "+strconv.Itoa(len(s.Values))+" values"))
	}
	if err := s.Validate(); err != nil {
		return fail(errKind(err), "", err)
	}
	return append(out, s), nil
}

// refAppendMap handles an object of values: channels in configured order, or
// one series per key.
func refAppendMap(d *JSONDecoder, out []Sample, s Sample, raw []byte, off int64) ([]Sample, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return out, &DecodeError{Kind: KindSyntax, Field: d.cfg.ValuesField, Offset: off, Err: err}
	}
	if len(m) == 0 {
		return out, &DecodeError{Kind: KindNoValues, Field: d.cfg.ValuesField, Offset: off}
	}
	if len(d.cfg.Channels) > 0 {
		s.Values = make([]float64, len(d.cfg.Channels))
		for i, ch := range d.cfg.Channels {
			v, err := jsonNumber(m[ch])
			if err != nil {
				return out, &DecodeError{Kind: errKind(err), Field: ch, Offset: off, Err: err}
			}
			s.Values[i] = v
		}
		return append(out, s), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	n := len(out)
	for _, k := range keys {
		v, err := jsonNumber(m[k])
		if err != nil {
			return out[:n], &DecodeError{Kind: errKind(err), Field: k, Offset: off, Err: err}
		}
		t := s
		t.Series.Name = s.Series.Name + "_" + k
		t.Values = []float64{v}
		out = append(out, t)
	}
	return out, nil
}

func refString(raw []byte) (string, error) {
	if isNull(raw) {
		return "", errMissing
	}
	if raw[0] != '"' {
		return "", errNotStr
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &kindError{KindSyntax, err.Error()}
	}
	return s, nil
}

func refArray(raw []byte) ([]float64, error) {
	if raw[0] != '[' {
		return nil, &kindError{KindWrongType, "want an array or object of numbers"}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &kindError{KindSyntax, err.Error()}
	}
	if len(items) == 0 {
		return nil, &kindError{KindNoValues, "empty array"}
	}
	vals := make([]float64, len(items))
	for i, it := range items {
		v, err := jsonNumber(it)
		if err == errMissing {
			err = &kindError{KindWrongType, "null in values"}
		}
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return vals, nil
}

func refLabels(raw []byte, field string) ([]Label, error) {
	if isNull(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, &DecodeError{Kind: KindWrongType, Field: field}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &DecodeError{Kind: KindSyntax, Field: field, Err: err}
	}
	if len(m) == 0 {
		return nil, nil
	}
	labels := make([]Label, 0, len(m))
	for k, v := range m {
		if k == "" {
			return nil, &DecodeError{Kind: KindBadLabel, Field: field}
		}
		s, err := refString(v)
		if err == errMissing {
			err = errNotStr
		}
		if err != nil {
			return nil, &DecodeError{Kind: errKind(err), Field: k}
		}
		labels = append(labels, Label{Name: k, Value: s})
	}
	id := SeriesID{Labels: labels}
	id.SortLabels()
	return labels, nil
}
