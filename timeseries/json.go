package timeseries

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TimeUnit says how a timestamp is written.
type TimeUnit uint8

// Timestamp encodings. UnitAuto accepts an RFC 3339 string or a number
// whose magnitude names its unit without doubt (see JSONConfig.TimeUnit).
const (
	UnitAuto TimeUnit = iota
	UnitRFC3339
	UnitSeconds
	UnitMillis
	UnitMicros
	UnitNanos
)

var unitNanos = [...]int64{
	UnitSeconds: 1e9, UnitMillis: 1e6, UnitMicros: 1e3, UnitNanos: 1,
}

// JSONConfig configures a JSONDecoder. The zero value reads the canonical
// form written by AppendEncode and also accepts "value" for one channel.
type JSONConfig struct {
	// NameField holds the metric name (a non-empty string). Default "name".
	NameField string
	// LabelsField holds an optional object of string label values.
	// Default "labels".
	LabelsField string
	// TimeField holds the timestamp. Default "timestamp".
	TimeField string
	// ValueField holds a single number, giving one channel. Default "value".
	ValueField string
	// ValuesField holds an array of numbers (the channels in order) or an
	// object of numbers. Default "values". A sample carries ValueField or
	// ValuesField, not both.
	ValuesField string
	// TimeUnit says how TimeField is written. UnitAuto takes RFC 3339
	// strings, and numbers by magnitude: [1e9, 1e11) seconds,
	// [1e12, 1e14) milliseconds, [1e15, 1e17) microseconds and
	// [1e18, 2^63) nanoseconds, so any time from 2001-09-09 to 2262 is
	// read right whatever the unit; numbers outside these bands are
	// rejected as ambiguous. Seconds and milliseconds may carry a fraction.
	TimeUnit TimeUnit
	// Channels, when set, names the keys of an object-valued ValuesField in
	// channel order, and fixes the number of channels an array must have.
	// When empty, an object of values yields one single-channel series per
	// key, named Name + "_" + key.
	Channels []string
}

func (c *JSONConfig) setDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.NameField, "name")
	def(&c.LabelsField, "labels")
	def(&c.TimeField, "timestamp")
	def(&c.ValueField, "value")
	def(&c.ValuesField, "values")
}

// JSONDecoder decodes JSON messages: one sample object, an array of them,
// or a stream of objects separated by white space (NDJSON). Unknown fields
// are ignored. It is safe for concurrent use.
type JSONDecoder struct {
	cfg JSONConfig
}

var _ Decoder = (*JSONDecoder)(nil)

// NewJSONDecoder returns a decoder for cfg, with defaults filled in.
func NewJSONDecoder(cfg JSONConfig) *JSONDecoder {
	cfg.setDefaults()
	cfg.Channels = slices.Clone(cfg.Channels)
	return &JSONDecoder{cfg: cfg}
}

// Decode implements Decoder. After a syntax error nothing further in the
// payload can be trusted, so decoding stops there; a well-formed sample
// with a bad field only costs that sample.
func (d *JSONDecoder) Decode(payload []byte) ([]Sample, error) {
	start := skipSpace(payload, 0)
	if start == len(payload) {
		return nil, &DecodeError{Kind: KindEmptyPayload, Line: 1}
	}
	var ss []Sample
	var err error
	if json.Valid(payload) {
		ss, err = d.decodeValid(payload, start)
	} else {
		ss, err = d.decodeStream(payload, start, d.appendSamples)
	}
	if len(ss) == 0 && err == nil {
		return nil, emptyArray(payload, start)
	}
	return ss, err
}

// emptyArray is the error of a payload that decoded to neither a sample
// nor an error, which only the empty array [] does: a message that
// carries nothing is counted and dead-lettered rather than lost unseen.
func emptyArray(payload []byte, start int) error {
	return &DecodeError{Kind: KindNoSamples, Line: lineOf(payload, int64(start)),
		Offset: int64(start), Err: errors.New("an empty array")}
}

// decodeValid is the fast path for a payload that is one well-formed JSON
// value, which is what most messages are.
func (d *JSONDecoder) decodeValid(payload []byte, start int) ([]Sample, error) {
	var out []Sample
	var errs []error
	lines := lineCounter{b: payload}
	each := func(raw []byte, off int) {
		var err error
		if out, err = d.appendSamples(out, raw, int64(off)); err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				de.Line = lines.at(de.Offset)
			}
			errs = append(errs, err)
		}
	}
	w := walker{b: payload, i: start}
	if payload[start] != '[' {
		each(w.value(), start)
		return out, errors.Join(errs...)
	}
	for w.element() {
		each(w.val, w.at)
	}
	return out, errors.Join(errs...)
}

type sampleFunc func(out []Sample, raw []byte, off int64) ([]Sample, error)

// decodeStream reads payloads json.Valid refuses: several top-level
// values (NDJSON), or broken JSON whose error must be located.
func (d *JSONDecoder) decodeStream(payload []byte, start int, each sampleFunc) ([]Sample, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()

	var out []Sample
	var errs []error
	lines := lineCounter{b: payload}
	isArray := payload[start] == '['
	if isArray {
		if _, err := dec.Token(); err != nil {
			return nil, jsonSyntax(err, payload)
		}
	}
	for {
		if isArray && !dec.More() {
			break
		}
		off := skipSep(payload, int(dec.InputOffset()))
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF && !isArray {
			break
		}
		if err != nil {
			errs = append(errs, jsonSyntax(err, payload))
			return out, errors.Join(errs...)
		}
		out, err = each(out, raw, int64(off))
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				de.Line = lines.at(de.Offset)
			}
			errs = append(errs, err)
		}
	}
	if isArray {
		if err := closeArray(dec, payload); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// closeArray consumes the closing bracket and checks nothing follows it.
func closeArray(dec *json.Decoder, payload []byte) error {
	if _, err := dec.Token(); err != nil {
		return jsonSyntax(err, payload)
	}
	end := skipSpace(payload, int(dec.InputOffset()))
	if end < len(payload) {
		return &DecodeError{Kind: KindSyntax, Line: lineOf(payload, int64(end)),
			Offset: int64(end), Err: errors.New("data after the array")}
	}
	return nil
}

// jsonSyntax classifies an error of encoding/json's scanner.
func jsonSyntax(err error, payload []byte) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		n := int64(len(payload))
		return &DecodeError{Kind: KindTruncated, Line: lineOf(payload, n), Offset: n, Err: err}
	}
	de := &DecodeError{Kind: KindSyntax, Err: err}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		de.Offset = se.Offset
		// The scanner reports the offset after the bad byte.
		if de.Offset > 0 {
			de.Offset--
		}
	}
	de.Line = lineOf(payload, de.Offset)
	return de
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// skipSep skips white space and one array comma.
func skipSep(b []byte, i int) int {
	i = skipSpace(b, i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	return i
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendSamples decodes one JSON object starting at payload offset off.
// raw must be one well-formed JSON value (the callers check that).
// Errors are *DecodeError located at off (Line is set by the caller).
func (d *JSONDecoder) appendSamples(out []Sample, raw []byte, off int64) ([]Sample, error) {
	fail := func(k Kind, field string, err error) ([]Sample, error) {
		return out, &DecodeError{Kind: k, Field: field, Offset: off, Err: err}
	}
	if i := invalidUTF8(raw); i >= 0 {
		return out, &DecodeError{Kind: KindNonUTF8, Offset: off + int64(i)}
	}
	if raw[0] != '{' {
		return fail(KindWrongType, "", errors.New("sample is not an object"))
	}
	c := &d.cfg
	var nameRaw, labelsRaw, timeRaw, one, many []byte
	w := walker{b: raw}
	for w.member() {
		// As with encoding/json into a map, a repeated key keeps its last value.
		switch k, v := w.key, w.val; {
		case keyIs(k, c.NameField):
			nameRaw = v
		case keyIs(k, c.LabelsField):
			labelsRaw = v
		case keyIs(k, c.TimeField):
			timeRaw = v
		case keyIs(k, c.ValueField):
			one = v
		case keyIs(k, c.ValuesField):
			many = v
		}
	}

	var s Sample
	name, err := jsonString(nameRaw)
	if err != nil {
		return fail(errKind(err), c.NameField, nil)
	}
	if name == "" {
		return fail(KindEmptySeries, c.NameField, nil)
	}
	s.Series.Name = name
	if s.Series.Labels, err = jsonLabels(labelsRaw, c.LabelsField); err != nil {
		var de *DecodeError
		errors.As(err, &de)
		de.Offset = off
		return out, de
	}
	if s.Time, err = jsonTime(timeRaw, c.TimeUnit); err != nil {
		return fail(errKind(err), c.TimeField, err)
	}

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
		return d.appendMap(out, s, many, off)
	default:
		if s.Values, err = jsonArray(many); err != nil {
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

type keyValue struct {
	key string
	val []byte
}

// members lists an object's members sorted by key, the last of repeated
// keys winning, as decoding into a map and sorting its keys would.
func members(raw []byte) ([]keyValue, error) {
	var kvs []keyValue
	w := walker{b: raw}
	for w.member() {
		k, err := jsonString(w.key)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, keyValue{k, w.val})
	}
	slices.SortStableFunc(kvs, func(a, b keyValue) int { return strings.Compare(a.key, b.key) })
	out := kvs[:0]
	for i, kv := range kvs {
		if i+1 < len(kvs) && kvs[i+1].key == kv.key {
			continue
		}
		out = append(out, kv)
	}
	return out, nil
}

// appendMap handles an object of values: channels in configured order, or
// one series per key.
func (d *JSONDecoder) appendMap(out []Sample, s Sample, raw []byte, off int64) ([]Sample, error) {
	kvs, err := members(raw)
	if err != nil {
		return out, &DecodeError{Kind: KindSyntax, Field: d.cfg.ValuesField, Offset: off, Err: err}
	}
	if len(kvs) == 0 {
		return out, &DecodeError{Kind: KindNoValues, Field: d.cfg.ValuesField, Offset: off}
	}
	if len(d.cfg.Channels) > 0 {
		s.Values = make([]float64, len(d.cfg.Channels))
		for i, ch := range d.cfg.Channels {
			var raw []byte
			if j, ok := slices.BinarySearchFunc(kvs, ch, func(kv keyValue, k string) int {
				return strings.Compare(kv.key, k)
			}); ok {
				raw = kvs[j].val
			}
			v, err := jsonNumber(raw)
			if err != nil {
				return out, &DecodeError{Kind: errKind(err), Field: ch, Offset: off, Err: err}
			}
			s.Values[i] = v
		}
		return append(out, s), nil
	}
	n := len(out)
	for _, kv := range kvs {
		v, err := jsonNumber(kv.val)
		if err != nil {
			return out[:n], &DecodeError{Kind: errKind(err), Field: kv.key, Offset: off, Err: err}
		}
		t := s
		t.Series.Name = s.Series.Name + "_" + kv.key
		t.Values = []float64{v}
		out = append(out, t)
	}
	return out, nil
}

// kindError is an internal error carrying only a kind, turned into a
// located DecodeError by the caller.
type kindError struct {
	kind Kind
	msg  string
}

func (e *kindError) Error() string { return e.msg }

func errKind(err error) Kind {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	return ErrorKind(err)
}

var (
	errMissing = &kindError{KindMissingField, "missing"}
	errNotStr  = &kindError{KindWrongType, "want a string"}
	errNotNum  = &kindError{KindWrongType, "want a number"}
)

func isNull(raw []byte) bool { return len(raw) == 0 || string(raw) == "null" }

func jsonString(raw []byte) (string, error) {
	if isNull(raw) {
		return "", errMissing
	}
	if raw[0] != '"' {
		return "", errNotStr
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		// Well-formed JSON has no control bytes in strings, so without
		// escapes the body is the string.
		return string(body), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &kindError{KindSyntax, err.Error()}
	}
	return s, nil
}

// keyIs reports whether the raw JSON string k equals name.
func keyIs(k []byte, name string) bool {
	body := k[1 : len(k)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body) == name
	}
	s, err := jsonString(k)
	return err == nil && s == name
}

func jsonNumber(raw []byte) (float64, error) {
	if isNull(raw) {
		return 0, errMissing
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, errNotNum
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, &kindError{KindOutOfRange, "number " + string(raw) + " overflows float64"}
	}
	return v, nil
}

func jsonArray(raw []byte) ([]float64, error) {
	if raw[0] != '[' {
		return nil, &kindError{KindWrongType, "want an array or object of numbers"}
	}
	var vals []float64
	w := walker{b: raw}
	for w.element() {
		v, err := jsonNumber(w.val)
		if err == errMissing {
			err = &kindError{KindWrongType, "null in values"}
		}
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return nil, &kindError{KindNoValues, "empty array"}
	}
	return vals, nil
}

func jsonLabels(raw []byte, field string) ([]Label, error) {
	if isNull(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, &DecodeError{Kind: KindWrongType, Field: field}
	}
	kvs, err := members(raw)
	if err != nil {
		return nil, &DecodeError{Kind: KindSyntax, Field: field, Err: err}
	}
	if len(kvs) == 0 {
		return nil, nil
	}
	labels := make([]Label, 0, len(kvs))
	for _, kv := range kvs {
		if kv.key == "" {
			return nil, &DecodeError{Kind: KindBadLabel, Field: field}
		}
		s, err := jsonString(kv.val)
		if err == errMissing {
			err = errNotStr
		}
		if err != nil {
			return nil, &DecodeError{Kind: errKind(err), Field: kv.key}
		}
		labels = append(labels, Label{Name: kv.key, Value: s})
	}
	return labels, nil
}

// jsonTime parses a timestamp written as unit says.
func jsonTime(raw []byte, unit TimeUnit) (time.Time, error) {
	if isNull(raw) {
		return time.Time{}, errMissing
	}
	if raw[0] == '"' {
		if unit != UnitAuto && unit != UnitRFC3339 {
			return time.Time{}, &kindError{KindWrongType, "want a numeric timestamp"}
		}
		s, err := jsonString(raw)
		if err != nil {
			return time.Time{}, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, &kindError{KindBadTimestamp, err.Error()}
		}
		return checkTime(t.UTC())
	}
	if unit == UnitRFC3339 {
		return time.Time{}, &kindError{KindWrongType, "want an RFC 3339 string"}
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, &kindError{KindWrongType, "want a timestamp"}
	}
	return numericTime(string(raw), unit)
}

// numericTime converts a decimal number of seconds, milliseconds,
// microseconds or nanoseconds since the Unix epoch.
func numericTime(s string, unit TimeUnit) (time.Time, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, &kindError{KindBadTimestamp, "timestamp " + s + " out of range"}
	}
	if unit == UnitAuto {
		if unit = detectUnit(f); unit == UnitAuto {
			return time.Time{}, &kindError{KindBadTimestamp, "ambiguous timestamp " + s}
		}
	}
	mult := unitNanos[unit]
	// Plain decimals are converted exactly: float64 loses nanoseconds
	// past 2^53.
	if ns, ok, inRange := decimalNanos(s, mult); ok {
		if !inRange {
			return time.Time{}, &kindError{KindBadTimestamp, "timestamp " + s + " out of range"}
		}
		return time.Unix(0, ns).UTC(), nil
	}
	ns := math.Round(f * float64(mult))
	// 2^63 is exactly representable; anything at or past it overflows.
	if !(ns < 1<<63 && ns >= -(1<<63)) {
		return time.Time{}, &kindError{KindBadTimestamp, "timestamp " + s + " out of range"}
	}
	return time.Unix(0, int64(ns)).UTC(), nil
}

// decimalNanos converts a decimal without exponent, such as "-12.345", in
// units of mult nanoseconds, exactly; digits past a nanosecond are cut. ok
// is false when s has another shape.
func decimalNanos(s string, mult int64) (ns int64, ok, inRange bool) {
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	i, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, !errors.Is(err, strconv.ErrRange) && isDigits(strings.TrimPrefix(intPart, "-")) &&
			isDigits(frac), false
	}
	if !isDigits(frac) {
		return 0, false, false
	}
	if i > math.MaxInt64/mult || i < math.MinInt64/mult {
		return 0, true, false
	}
	ns = i * mult
	// The fraction in nanoseconds: frac digits scaled to mult.
	var f int64
	scale := mult
	for j := 0; j < len(frac) && scale > 1; j++ {
		scale /= 10
		f += int64(frac[j]-'0') * scale
	}
	if neg {
		f = -f
	}
	if (f > 0 && ns > math.MaxInt64-f) || (f < 0 && ns < math.MinInt64-f) {
		return 0, true, false
	}
	return ns + f, true, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func detectUnit(f float64) TimeUnit {
	switch a := math.Abs(f); {
	case f < 0:
		return UnitAuto
	case a >= 1e9 && a < 1e11:
		return UnitSeconds
	case a >= 1e12 && a < 1e14:
		return UnitMillis
	case a >= 1e15 && a < 1e17:
		return UnitMicros
	case a >= 1e18:
		return UnitNanos
	}
	return UnitAuto
}

func checkTime(t time.Time) (time.Time, error) {
	if t.Before(minSampleTime) || t.After(maxSampleTime) {
		return time.Time{}, &kindError{KindBadTimestamp, "time outside int64 nanoseconds"}
	}
	return t, nil
}

// invalidUTF8 returns the index of the first byte of b that is not valid
// UTF-8, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
