package timeseries

import (
	"testing"
	"time"
)

func TestLineDecode(t *testing.T) {
	t0 := mustTime("2026-03-01T12:00:00Z")
	host := []Label{{"host", "a"}, {"region", "eu west"}}
	tests := []struct {
		name    string
		cfg     LineConfig
		payload string
		want    []Sample
	}{
		{"fields as series", LineConfig{},
			"cpu,region=eu\\ west,host=a usage_user=1.5,usage_system=2i 1772366400000000000",
			[]Sample{{SeriesID{"cpu_usage_user", host}, t0, []float64{1.5}},
				{SeriesID{"cpu_usage_system", host}, t0, []float64{2}}}},
		{"fields as channels in configured order",
			LineConfig{Mode: FieldsAsChannels, Channels: []string{"rx", "tx"}},
			"net,host=a tx=4u,rx=3,other=\"s\" 1772366400000000000",
			[]Sample{{SeriesID{"net", []Label{{"host", "a"}}}, t0, []float64{3, 4}}}},
		{"precision seconds", LineConfig{Precision: UnitSeconds}, "m v=1 1772366400",
			[]Sample{{SeriesID{Name: "m_v"}, t0, []float64{1}}}},
		{"precision millis", LineConfig{Precision: UnitMillis}, "m v=1 1772366400001",
			[]Sample{{SeriesID{Name: "m_v"}, t0.Add(time.Millisecond), []float64{1}}}},
		{"booleans are 0 and 1", LineConfig{}, "up ok=true,down=F 1772366400000000000",
			[]Sample{{SeriesID{Name: "up_ok"}, t0, []float64{1}}, {SeriesID{Name: "up_down"}, t0, []float64{0}}}},
		{"strings skipped when asked", LineConfig{SkipStrings: true},
			"svc status=\"ok\",latency=0.25 1772366400000000000",
			[]Sample{{SeriesID{Name: "svc_latency"}, t0, []float64{0.25}}}},
		{"several lines, comments, CRLF and blanks", LineConfig{},
			"# telegraf\r\na v=1 1772366400000000000\r\n\n  \nb v=-2e-3 1772366400000000000\n",
			[]Sample{{SeriesID{Name: "a_v"}, t0, []float64{1}}, {SeriesID{Name: "b_v"}, t0, []float64{-0.002}}}},
		{"escaped measurement and tag", LineConfig{},
			"my\\,metric,k\\=1=v\\,1 f=1 1772366400000000000",
			[]Sample{{SeriesID{"my,metric_f", []Label{{"k=1", "v,1"}}}, t0, []float64{1}}}},
		{"negative timestamp", LineConfig{}, "m v=1 -1000000000",
			[]Sample{{SeriesID{Name: "m_v"}, time.Unix(-1, 0).UTC(), []float64{1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewLineDecoder(tc.cfg)
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

func TestLineDecodeBad(t *testing.T) {
	chans := LineConfig{Mode: FieldsAsChannels, Channels: []string{"a", "b"}}
	tests := []struct {
		name    string
		cfg     LineConfig
		payload string
		kind    Kind
		field   string
		offset  int64
	}{
		{"empty", LineConfig{}, "", KindEmptyPayload, "", 0},
		{"blank lines", LineConfig{}, " \n\r\n\t", KindEmptyPayload, "", 0},
		{"only comments", LineConfig{}, "# x\n\n", KindNoSamples, "", 0},
		{"measurement only", LineConfig{}, "cpu", KindTruncated, "", 3},
		{"field key without value", LineConfig{}, "cpu v=", KindTruncated, "", 6},
		{"tag without value", LineConfig{}, "cpu,host", KindSyntax, "", 4},
		{"unterminated string", LineConfig{}, `cpu s="abc`, KindTruncated, "", 6},
		{"no fields", LineConfig{}, "cpu,host=a 1772366400000000000", KindTruncated, "", 30},
		{"missing timestamp", LineConfig{}, "cpu v=1", KindMissingField, "timestamp", 0},
		{"timestamp not a number", LineConfig{}, "cpu v=1 12ab", KindBadTimestamp, "timestamp", 8},
		{"timestamp overflow", LineConfig{}, "cpu v=1 9223372036854775808", KindBadTimestamp, "timestamp", 0},
		{"seconds overflow", LineConfig{Precision: UnitSeconds}, "cpu v=1 9300000000",
			KindBadTimestamp, "timestamp", 0},
		{"text after timestamp", LineConfig{}, "cpu v=1 1 x", KindSyntax, "timestamp", 10},
		{"string field", LineConfig{}, `cpu s="up" 1772366400000000000`, KindWrongType, "s", 0},
		{"string channel", chans, `m a=1,b="x" 1772366400000000000`, KindWrongType, "b", 0},
		{"missing channel", chans, `m a=1 1772366400000000000`, KindMissingField, "b", 0},
		{"only skipped strings", LineConfig{SkipStrings: true}, `m s="x" 1772366400000000000`,
			KindNoValues, "", 0},
		{"NaN", LineConfig{}, "cpu v=NaN 1772366400000000000", KindNonFinite, "", 6},
		{"Inf", LineConfig{}, "cpu v=-Inf 1772366400000000000", KindNonFinite, "v", 6},
		{"huge float", LineConfig{}, "cpu v=1e400 1772366400000000000", KindOutOfRange, "v", 6},
		{"huge int", LineConfig{}, "cpu v=99999999999999999999i 1772366400000000000", KindOutOfRange, "v", 6},
		{"bad float", LineConfig{}, "cpu v=1.2.3 1772366400000000000", KindSyntax, "v", 6},
		{"bad bool", LineConfig{}, "cpu v=tru 1772366400000000000", KindSyntax, "v", 6},
		{"underscore float", LineConfig{}, "cpu v=1_000 1772366400000000000", KindSyntax, "v", 6},
		{"hex float", LineConfig{}, "cpu,h=a x=1,v=0x1p4 1772366400000000000", KindSyntax, "v", 14},
		{"underscore int", LineConfig{}, "cpu v=1_000i 1772366400000000000", KindSyntax, "v", 6},
		{"non-utf8 measurement", LineConfig{}, "cp\xffu v=1 1772366400000000000", KindNonUTF8, "", 2},
		{"non-utf8 tag value", LineConfig{}, "cpu,h=\xc3\x28 v=1 1772366400000000000", KindNonUTF8, "", 6},
		{"repeated tag", LineConfig{}, "cpu,h=a,h=b v=1 1772366400000000000", KindBadLabel, "h", 0},
		{"empty measurement", LineConfig{}, ",h=a v=1 1772366400000000000", KindSyntax, "", 0},
		{"space before fields missing", LineConfig{}, "cpu,h=a,v=1 1772366400000000000", KindTruncated, "", 31},
	}
	if len(tests) < 20 {
		t.Fatalf("only %d bad cases", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewLineDecoder(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Decode([]byte(tc.payload))
			de := badPayloadError(t, got, err, tc.kind)
			if de.Kind != tc.kind || de.Field != tc.field || de.Offset != tc.offset {
				t.Errorf("got kind %v field %q offset %d (%v), want %v %q %d",
					de.Kind, de.Field, de.Offset, err, tc.kind, tc.field, tc.offset)
			}
		})
	}
}

func TestLinePartial(t *testing.T) {
	payload := "a v=1 1772366400000000000\nb v=\"x\" 1772366400000000000\n" +
		"# c\nc v=1e999 1772366400000000000\nd v=4 1772366400000000000"
	d, err := NewLineDecoder(LineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Decode([]byte(payload))
	if len(got) != 2 || got[0].Series.Name != "a_v" || got[1].Series.Name != "d_v" {
		t.Fatalf("got %+v, want a_v and d_v", got)
	}
	errs := DecodeErrors(err)
	if len(errs) != 2 {
		t.Fatalf("got %d errors (%v), want 2", len(errs), err)
	}
	// Line 2 starts at byte 26; line 4 at 26+28+4 = 58, its value at +4.
	if e := errs[0]; e.Kind != KindWrongType || e.Line != 2 || e.Offset != 26 {
		t.Errorf("first error %+v, want wrong_type at line 2 offset 26", e)
	}
	if e := errs[1]; e.Kind != KindOutOfRange || e.Line != 4 || e.Offset != 62 {
		t.Errorf("second error %+v, want out_of_range at line 4 offset 62", e)
	}
}

func TestNewLineDecoderErrors(t *testing.T) {
	if _, err := NewLineDecoder(LineConfig{Mode: FieldsAsChannels}); err == nil {
		t.Error("channels mode without channels accepted")
	}
	if _, err := NewLineDecoder(LineConfig{Precision: UnitRFC3339}); err == nil {
		t.Error("RFC 3339 precision accepted")
	}
}
