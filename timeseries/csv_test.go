package timeseries

import (
	"strings"
	"testing"
	"time"
)

func TestCSVDecode(t *testing.T) {
	id := SeriesID{Name: "nab", Labels: []Label{{"file", "x.csv"}}}
	t0 := mustTime("2014-02-14T14:30:00Z")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		loc     *time.Location
		payload string
		want    []Sample
	}{
		{"nab header and rows", nil, "timestamp,value\n2014-02-14 14:30:00,1.5\n2014-02-14 14:35:00,20\n",
			[]Sample{{id, t0, []float64{1.5}}, {id, t0.Add(5 * time.Minute), []float64{20}}}},
		{"no header, CRLF", nil, "2014-02-14 14:30:00,-3e2\r\n",
			[]Sample{{id, t0, []float64{-300}}}},
		{"rfc3339 time", nil, "2014-02-14T15:30:00+01:00,1\n", []Sample{{id, t0, []float64{1}}}},
		{"two channels", nil, "timestamp,a,b\n2014-02-14 14:30:00,1,2\n",
			[]Sample{{id, t0, []float64{1, 2}}}},
		{"local zone", berlin, "2014-02-14 15:30:00,1\n", []Sample{{id, t0, []float64{1}}}},
		{"quoted cells", nil, "\"2014-02-14 14:30:00\",\"7\"\n", []Sample{{id, t0, []float64{7}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewCSVDecoder(CSVConfig{Series: id, Location: tc.loc})
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Decode([]byte(tc.payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkSamples(t, got, tc.want)
		})
	}
}

func TestCSVDecodeBad(t *testing.T) {
	const h = "timestamp,value\n"
	tests := []struct {
		name    string
		payload string
		kind    Kind
		field   string
		line    int
	}{
		{"empty", "", KindEmptyPayload, "", 1},
		{"blank", " \n\n", KindEmptyPayload, "", 1},
		{"header only has no error but one column row", h + "2014-02-14 14:30:00\n", KindChannels, "", 2},
		{"one column everywhere", "2014-02-14 14:30:00\n", KindNoValues, "", 1},
		{"missing value", h + "2014-02-14 14:30:00,\n", KindMissingField, "value", 2},
		{"value text", h + "2014-02-14 14:30:00,abc\n", KindWrongType, "value", 2},
		{"value with unit", h + "2014-02-14 14:30:00,12ms\n", KindWrongType, "value", 2},
		{"NaN", h + "2014-02-14 14:30:00,NaN\n", KindNonFinite, "value", 2},
		{"Inf", h + "2014-02-14 14:30:00,+Inf\n", KindNonFinite, "value", 2},
		{"huge", h + "2014-02-14 14:30:00,1e999\n", KindOutOfRange, "value", 2},
		{"header only", h, KindNoSamples, "", 1},
		{"header only, no newline", "timestamp,value", KindNoSamples, "", 1},
		{"underscore", h + "2014-02-14 14:30:00,1_000\n", KindWrongType, "value", 2},
		{"hex float", h + "2014-02-14 14:30:00,0x1p4\n", KindWrongType, "value", 2},
		{"leading space", h + "2014-02-14 14:30:00, 1\n", KindWrongType, "value", 2},
		{"missing timestamp", h + ",1\n", KindBadTimestamp, "timestamp", 2},
		{"bad date", h + "2014-02-30 14:30:00,1\n", KindBadTimestamp, "timestamp", 2},
		{"bad hour", h + "2014-02-14 25:30:00,1\n", KindBadTimestamp, "timestamp", 2},
		{"unix seconds", h + "1392388200,1\n", KindBadTimestamp, "timestamp", 2},
		{"year out of range", h + "9999-02-14 14:30:00,1\n", KindBadTimestamp, "timestamp", 2},
		{"date only", h + "2014-02-14,1\n", KindBadTimestamp, "timestamp", 2},
		{"extra column", h + "2014-02-14 14:30:00,1,2\n", KindChannels, "", 2},
		{"unterminated quote", h + "\"2014-02-14 14:30:00,1\n", KindTruncated, "", 2},
		{"bare quote", h + "2014-02-14 14:30:00,1\"2\n", KindSyntax, "", 2},
		{"non-utf8", h + "2014-02-14 14:30:00,1\xff\n", KindNonUTF8, "", 2},
		{"semicolon separated", h + "2014-02-14 14:30:00;1\n", KindChannels, "", 2},
	}
	if len(tests) < 20 {
		t.Fatalf("only %d bad cases", len(tests))
	}
	id := SeriesID{Name: "nab"}
	d, err := NewCSVDecoder(CSVConfig{Series: id})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tc.payload))
			de := badPayloadError(t, got, err, tc.kind)
			if de.Kind != tc.kind || de.Field != tc.field || de.Line != tc.line {
				t.Errorf("got kind %v field %q line %d (%v), want %v %q %d",
					de.Kind, de.Field, de.Line, err, tc.kind, tc.field, tc.line)
			}
		})
	}
}

func TestCSVPartial(t *testing.T) {
	payload := "timestamp,value\n2014-02-14 14:30:00,1\n2014-02-14 14:35:00,x\n" +
		"2014-02-14 14:40:00,3,4\n2014-02-14 14:45:00,5\n"
	d, err := NewCSVDecoder(CSVConfig{Series: SeriesID{Name: "nab"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Decode([]byte(payload))
	if len(got) != 2 || got[0].Values[0] != 1 || got[1].Values[0] != 5 {
		t.Fatalf("got %+v, want values 1 and 5", got)
	}
	errs := DecodeErrors(err)
	if len(errs) != 2 || errs[0].Kind != KindWrongType || errs[0].Line != 3 || errs[0].Offset != 38 ||
		errs[1].Kind != KindChannels || errs[1].Line != 4 {
		t.Fatalf("errors %v, want wrong_type at line 3 offset 38 and channels at line 4", err)
	}
	if _, err := NewCSVDecoder(CSVConfig{}); err == nil {
		t.Error("empty series name accepted")
	}
}

// TestCSVHugeCellClipped: the error about a 1 MB cell says what is wrong
// without quoting the megabyte.
func TestCSVHugeCellClipped(t *testing.T) {
	dec, err := NewCSVDecoder(CSVConfig{Series: SeriesID{Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("9", 1<<20) + "x"
	_, err = dec.Decode([]byte("timestamp,value\n2014-04-01 00:00:00," + huge + "\n"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if len(msg) > 600 || !strings.Contains(msg, "line 2") ||
		!strings.Contains(msg, "bytes in all") {
		t.Errorf("error of %d bytes: %.300s", len(msg), msg)
	}
}
