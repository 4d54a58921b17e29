package timeseries

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func sampleEqual(a, b Sample) bool {
	if a.Series.Name != b.Series.Name || len(a.Series.Labels) != len(b.Series.Labels) {
		return false
	}
	if len(a.Series.Labels) > 0 && !slices.Equal(a.Series.Labels, b.Series.Labels) {
		return false
	}
	if !a.Time.Equal(b.Time) || a.Time.Location() != b.Time.Location() {
		return false
	}
	if len(a.Values) != len(b.Values) {
		return false
	}
	for i := range a.Values {
		if math.Float64bits(a.Values[i]) != math.Float64bits(b.Values[i]) {
			return false
		}
	}
	return true
}

// checkSamples fails t unless got equals want sample by sample.
func checkSamples(t *testing.T, got, want []Sample) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d samples %+v, want %d", len(got), got, len(want))
	}
	for i := range got {
		if !sampleEqual(got[i], want[i]) {
			t.Errorf("sample %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// badPayloadError is the shared check of the decoders' bad-input tables: a
// bad payload must fail with a *DecodeError and yield no samples. The caller
// checks where the error points, which differs by format.
func badPayloadError(t *testing.T, got []Sample, err error, kind Kind) *DecodeError {
	t.Helper()
	if err == nil {
		t.Fatalf("Decode = %+v, want error %v", got, kind)
	}
	if len(got) != 0 {
		t.Errorf("got %d samples from a bad payload", len(got))
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a *DecodeError", err, err)
	}
	return de
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestJSONDecode(t *testing.T) {
	cpu := SeriesID{Name: "cpu", Labels: []Label{{"dc", "x"}, {"host", "a"}}}
	t0 := mustTime("2026-03-01T12:00:00Z")
	tests := []struct {
		name    string
		cfg     JSONConfig
		payload string
		want    []Sample
	}{
		{"rfc3339 one value", JSONConfig{},
			`{"name":"cpu","labels":{"host":"a","dc":"x"},"timestamp":"2026-03-01T12:00:00Z","value":1.5}`,
			[]Sample{{cpu, t0, []float64{1.5}}}},
		{"zone offset to utc", JSONConfig{},
			`{"name":"m","timestamp":"2026-03-01T13:00:00+01:00","value":2}`,
			[]Sample{{SeriesID{Name: "m"}, t0, []float64{2}}}},
		{"auto seconds", JSONConfig{}, `{"name":"m","timestamp":1772366400,"value":2}`,
			[]Sample{{SeriesID{Name: "m"}, t0, []float64{2}}}},
		{"auto fractional seconds", JSONConfig{}, `{"name":"m","timestamp":1772366400.25,"value":2}`,
			[]Sample{{SeriesID{Name: "m"}, t0.Add(250 * time.Millisecond), []float64{2}}}},
		{"auto millis", JSONConfig{}, `{"name":"m","timestamp":1772366400123,"value":2}`,
			[]Sample{{SeriesID{Name: "m"}, t0.Add(123 * time.Millisecond), []float64{2}}}},
		{"auto micros", JSONConfig{}, `{"name":"m","timestamp":1772366400000001,"value":2}`,
			[]Sample{{SeriesID{Name: "m"}, t0.Add(time.Microsecond), []float64{2}}}},
		{"auto nanos exact", JSONConfig{}, `{"name":"m","timestamp":1772366400000000001,"value":2}`,
			[]Sample{{SeriesID{Name: "m"}, t0.Add(1), []float64{2}}}},
		{"explicit seconds small", JSONConfig{TimeUnit: UnitSeconds},
			`{"name":"m","timestamp":60,"value":2}`,
			[]Sample{{SeriesID{Name: "m"}, time.Unix(60, 0).UTC(), []float64{2}}}},
		{"explicit millis", JSONConfig{TimeUnit: UnitMillis},
			`{"name":"m","timestamp":1500,"value":2}`,
			[]Sample{{SeriesID{Name: "m"}, time.Unix(1, 5e8).UTC(), []float64{2}}}},
		{"array of values is channels", JSONConfig{},
			`{"name":"m","timestamp":"2026-03-01T12:00:00Z","values":[1,-2.5e3,0]}`,
			[]Sample{{SeriesID{Name: "m"}, t0, []float64{1, -2500, 0}}}},
		{"map with channels", JSONConfig{Channels: []string{"rx", "tx"}},
			`{"name":"net","timestamp":"2026-03-01T12:00:00Z","values":{"tx":4,"rx":3,"x":9}}`,
			[]Sample{{SeriesID{Name: "net"}, t0, []float64{3, 4}}}},
		{"map without channels splits series", JSONConfig{},
			`{"name":"net","timestamp":"2026-03-01T12:00:00Z","values":{"tx":4,"rx":3}}`,
			[]Sample{{SeriesID{Name: "net_rx"}, t0, []float64{3}},
				{SeriesID{Name: "net_tx"}, t0, []float64{4}}}},
		{"custom fields", JSONConfig{NameField: "metric", LabelsField: "tags",
			TimeField: "ts", ValueField: "v", TimeUnit: UnitMillis},
			`{"metric":"m","tags":{"a":"b"},"ts":1772366400000,"v":7}`,
			[]Sample{{SeriesID{Name: "m", Labels: []Label{{"a", "b"}}}, t0, []float64{7}}}},
		{"array of objects", JSONConfig{},
			`[{"name":"a","timestamp":1772366400,"value":1}, {"name":"b","timestamp":1772366400,"value":2}]`,
			[]Sample{{SeriesID{Name: "a"}, t0, []float64{1}}, {SeriesID{Name: "b"}, t0, []float64{2}}}},
		{"ndjson", JSONConfig{},
			"{\"name\":\"a\",\"timestamp\":1772366400,\"value\":1}\n" +
				"{\"name\":\"b\",\"timestamp\":1772366400,\"value\":2}\n",
			[]Sample{{SeriesID{Name: "a"}, t0, []float64{1}}, {SeriesID{Name: "b"}, t0, []float64{2}}}},
		{"unknown fields ignored, null labels", JSONConfig{},
			`{"name":"m","labels":null,"extra":[1,{"x":2}],"timestamp":1772366400,"value":-0.0}`,
			[]Sample{{SeriesID{Name: "m"}, t0, []float64{math.Copysign(0, -1)}}}},
		{"unicode name", JSONConfig{}, `{"name":"température","timestamp":1772366400,"value":1}`,
			[]Sample{{SeriesID{Name: "température"}, t0, []float64{1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewJSONDecoder(tc.cfg).Decode([]byte(tc.payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkSamples(t, got, tc.want)
		})
	}
}

func TestJSONDecodeBad(t *testing.T) {
	const ts = `"timestamp":1772366400`
	tests := []struct {
		name    string
		cfg     JSONConfig
		payload string
		kind    Kind
		field   string
		offset  int64
	}{
		{"empty", JSONConfig{}, "", KindEmptyPayload, "", 0},
		{"white space only", JSONConfig{}, " \n\t", KindEmptyPayload, "", 0},
		{"empty array", JSONConfig{}, " [ ] ", KindNoSamples, "", 1},
		{"empty array on line 2", JSONConfig{}, "\n[]", KindNoSamples, "", 1},
		{"truncated object", JSONConfig{}, `{"name":"m",` + ts + `,"value":1`, KindTruncated, "", 44},
		{"truncated string", JSONConfig{}, `{"name":"m`, KindTruncated, "", 10},
		{"truncated array", JSONConfig{}, `[{"name":"m",` + ts, KindTruncated, "", 35},
		{"not json", JSONConfig{}, `cpu value=1`, KindSyntax, "", 0},
		{"trailing garbage after array", JSONConfig{}, `[] x`, KindSyntax, "", 3},
		{"scalar sample", JSONConfig{}, `42`, KindWrongType, "", 0},
		{"missing name", JSONConfig{}, `{` + ts + `,"value":1}`, KindMissingField, "name", 0},
		{"null name", JSONConfig{}, `{"name":null,` + ts + `,"value":1}`, KindMissingField, "name", 0},
		{"empty name", JSONConfig{}, `{"name":"",` + ts + `,"value":1}`, KindEmptySeries, "name", 0},
		{"name is a number", JSONConfig{}, `{"name":5,` + ts + `,"value":1}`, KindWrongType, "name", 0},
		{"labels not an object", JSONConfig{}, `{"name":"m","labels":[1],` + ts + `,"value":1}`,
			KindWrongType, "labels", 0},
		{"label value a number", JSONConfig{}, `{"name":"m","labels":{"a":1},` + ts + `,"value":1}`,
			KindWrongType, "a", 0},
		{"empty label name", JSONConfig{}, `{"name":"m","labels":{"":"x"},` + ts + `,"value":1}`,
			KindBadLabel, "labels", 0},
		{"missing timestamp", JSONConfig{}, `{"name":"m","value":1}`, KindMissingField, "timestamp", 0},
		{"bad rfc3339", JSONConfig{}, `{"name":"m","timestamp":"2026-13-01T00:00:00Z","value":1}`,
			KindBadTimestamp, "timestamp", 0},
		{"rfc3339 without zone", JSONConfig{}, `{"name":"m","timestamp":"2026-03-01 12:00:00","value":1}`,
			KindBadTimestamp, "timestamp", 0},
		{"ambiguous auto number", JSONConfig{}, `{"name":"m","timestamp":500000000000,"value":1}`,
			KindBadTimestamp, "timestamp", 0},
		{"negative auto number", JSONConfig{}, `{"name":"m","timestamp":-1772366400,"value":1}`,
			KindBadTimestamp, "timestamp", 0},
		{"nanos overflow", JSONConfig{TimeUnit: UnitNanos},
			`{"name":"m","timestamp":9223372036854775808,"value":1}`, KindBadTimestamp, "timestamp", 0},
		{"seconds overflow int64 nanos", JSONConfig{TimeUnit: UnitSeconds},
			`{"name":"m","timestamp":9300000000,"value":1}`, KindBadTimestamp, "timestamp", 0},
		{"string timestamp with numeric unit", JSONConfig{TimeUnit: UnitSeconds},
			`{"name":"m","timestamp":"1772366400","value":1}`, KindWrongType, "timestamp", 0},
		{"numeric timestamp with rfc3339 unit", JSONConfig{TimeUnit: UnitRFC3339},
			`{"name":"m",` + ts + `,"value":1}`, KindWrongType, "timestamp", 0},
		{"bool timestamp", JSONConfig{}, `{"name":"m","timestamp":true,"value":1}`,
			KindWrongType, "timestamp", 0},
		{"missing value", JSONConfig{}, `{"name":"m",` + ts + `}`, KindMissingField, "value", 0},
		{"value is a string", JSONConfig{}, `{"name":"m",` + ts + `,"value":"1.5"}`,
			KindWrongType, "value", 0},
		{"NaN as string", JSONConfig{}, `{"name":"m",` + ts + `,"value":"NaN"}`, KindWrongType, "value", 0},
		{"NaN literal", JSONConfig{}, `{"name":"m",` + ts + `,"value":NaN}`, KindSyntax, "", 43},
		{"Infinity literal", JSONConfig{}, `{"name":"m",` + ts + `,"value":Infinity}`, KindSyntax, "", 43},
		{"huge number", JSONConfig{}, `{"name":"m",` + ts + `,"value":1e400}`, KindOutOfRange, "value", 0},
		{"huge negative in array", JSONConfig{}, `{"name":"m",` + ts + `,"values":[1,-2e308]}`,
			KindOutOfRange, "values", 0},
		{"value and values", JSONConfig{}, `{"name":"m",` + ts + `,"value":1,"values":[1]}`,
			KindSyntax, "values", 0},
		{"empty values array", JSONConfig{}, `{"name":"m",` + ts + `,"values":[]}`, KindNoValues, "values", 0},
		{"empty values map", JSONConfig{}, `{"name":"m",` + ts + `,"values":{}}`, KindNoValues, "values", 0},
		{"null inside values", JSONConfig{}, `{"name":"m",` + ts + `,"values":[1,null]}`,
			KindWrongType, "values", 0},
		{"values a string", JSONConfig{}, `{"name":"m",` + ts + `,"values":"1,2"}`, KindWrongType, "values", 0},
		{"wrong channel count", JSONConfig{Channels: []string{"a", "b"}},
			`{"name":"m",` + ts + `,"values":[1]}`, KindChannels, "values", 0},
		{"missing channel in map", JSONConfig{Channels: []string{"a", "b"}},
			`{"name":"m",` + ts + `,"values":{"a":1}}`, KindMissingField, "b", 0},
		{"bool in map", JSONConfig{}, `{"name":"m",` + ts + `,"values":{"up":true}}`, KindWrongType, "up", 0},
		{"custom labels field not an object", JSONConfig{LabelsField: "tags"},
			`{"name":"m","tags":"a=b",` + ts + `,"value":1}`, KindWrongType, "tags", 0},
		{"non-utf8 name", JSONConfig{}, "{\"name\":\"m\xff\"," + ts + ",\"value\":1}", KindNonUTF8, "", 10},
		{"non-utf8 label", JSONConfig{}, "{\"name\":\"m\",\"labels\":{\"a\":\"\xc3\x28\"}," + ts + ",\"value\":1}",
			KindNonUTF8, "", 27},
	}
	if len(tests) < 20 {
		t.Fatalf("only %d bad cases", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewJSONDecoder(tc.cfg).Decode([]byte(tc.payload))
			de := badPayloadError(t, got, err, tc.kind)
			if de.Kind != tc.kind || de.Field != tc.field || de.Offset != tc.offset {
				t.Errorf("got kind %v field %q offset %d (%v), want %v %q %d",
					de.Kind, de.Field, de.Offset, err, tc.kind, tc.field, tc.offset)
			}
		})
	}
}

// A payload with good and bad samples returns every good one and one
// located error per bad one.
func TestJSONPartial(t *testing.T) {
	payload := "[\n{\"name\":\"a\",\"timestamp\":1772366400,\"value\":1},\n" +
		"{\"name\":\"\",\"timestamp\":1772366400,\"value\":2},\n" +
		"{\"name\":\"c\",\"timestamp\":1772366400,\"value\":\"x\"},\n" +
		"{\"name\":\"d\",\"timestamp\":1772366400,\"value\":4}\n]"
	got, err := NewJSONDecoder(JSONConfig{}).Decode([]byte(payload))
	if len(got) != 2 || got[0].Series.Name != "a" || got[1].Series.Name != "d" {
		t.Fatalf("got %+v, want samples a and d", got)
	}
	errs := DecodeErrors(err)
	if len(errs) != 2 {
		t.Fatalf("got %d errors (%v), want 2", len(errs), err)
	}
	if errs[0].Kind != KindEmptySeries || errs[0].Line != 3 || errs[0].Offset != 49 {
		t.Errorf("first error %+v, want empty_series at line 3 offset 49", errs[0])
	}
	if errs[1].Kind != KindWrongType || errs[1].Line != 4 || errs[1].Field != "value" {
		t.Errorf("second error %+v, want wrong_type value at line 4", errs[1])
	}
	if ErrorKind(err) != KindEmptySeries {
		t.Errorf("ErrorKind = %v", ErrorKind(err))
	}

	// Truncation keeps what came before it.
	got, err = NewJSONDecoder(JSONConfig{}).Decode([]byte(`[{"name":"a","timestamp":1772366400,"value":1},{"na`))
	if len(got) != 1 || got[0].Series.Name != "a" || ErrorKind(err) != KindTruncated {
		t.Errorf("truncated array: got %+v, %v; want sample a and truncated", got, err)
	}
}

func TestKindString(t *testing.T) {
	seen := map[string]bool{}
	for k := KindUnknown; k <= KindFutureTimestamp; k++ {
		s := k.String()
		if s == "" || seen[s] {
			t.Errorf("kind %d has name %q, empty or repeated", k, s)
		}
		seen[s] = true
	}
	if got := Kind(200).String(); got != "kind(200)" {
		t.Errorf("Kind(200) = %q", got)
	}
}

// lineCounter agrees with a count from the start for any order of offsets.
func TestLineCounter(t *testing.T) {
	b := []byte("a\nbb\n\nccc\nd")
	c := lineCounter{b: b}
	for _, off := range []int64{0, 1, 2, 5, 6, 11, 3, 7, 7, 99} {
		if got, want := c.at(off), lineOf(b, off); got != want {
			t.Errorf("offset %d: line %d, want %d", off, got, want)
		}
	}
}
