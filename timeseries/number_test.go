package timeseries

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"42", 42}, {"-0.5", -0.5}, {"+2", 2}, {".5", 0.5}, {"5.", 5}, {"1e3", 1000},
		{"2.5E+6", 2.5e6}, {"-1e-3", -0.001}, {"007", 7},
		{"NaN", math.NaN()}, {"+Inf", math.Inf(1)}, {"-infinity", math.Inf(-1)},
	} {
		got, err := ParseNumber(tc.in)
		if err != nil || !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"1_000", "underscore"}, {"1_0.5", "underscore"}, {"0x1p4", "hexadecimal"},
		{"-0X10p0", "hexadecimal"}, {" 1", "white space"}, {"1 ", "white space"},
		{"", "not a number"}, {"abc", "not a number"}, {"1e", "not a number"},
		{".", "not a number"}, {"1.2.3", "not a number"}, {"12ms", "not a number"},
		{"0b101", "not a number"}, {"--1", "not a number"},
	} {
		_, err := ParseNumber(tc.in)
		if err == nil || !errors.Is(err, strconv.ErrSyntax) ||
			!strings.Contains(err.Error(), strconv.Quote(tc.in)) ||
			!strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseNumber(%q): %v; want a syntax error quoting it and saying %q",
				tc.in, err, tc.why)
		}
	}
	if _, err := ParseNumber("1e999"); !errors.Is(err, strconv.ErrRange) ||
		err.Error() != `value "1e999" is beyond the range of float64` {
		t.Errorf("ParseNumber(1e999): %v; want a range error", err)
	}
}

// The decoders agree on what a number is: plain decimal and exponent
// notation pass in CSV and line protocol alike, Go's extensions fail
// alike, each with the value in the error.
func TestDecodersRefuseGoNumberSyntax(t *testing.T) {
	csvDec, err := NewCSVDecoder(CSVConfig{Series: SeriesID{Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	lineDec, err := NewLineDecoder(LineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	decode := map[string]func(v string) ([]Sample, error){
		"csv": func(v string) ([]Sample, error) {
			return csvDec.Decode([]byte("timestamp,value\n2014-02-14 14:30:00," + v + "\n"))
		},
		"influx": func(v string) ([]Sample, error) {
			return lineDec.Decode([]byte("m value=" + v + " 1392388200000000000\n"))
		},
	}
	for format, dec := range decode {
		for v, want := range map[string]float64{"1e3": 1000, "-2.5E-1": -0.25, ".5": 0.5} {
			ss, err := dec(v)
			if err != nil || len(ss) != 1 || ss[0].Values[0] != want {
				t.Errorf("%s %q: %+v, %v; want %v", format, v, ss, err, want)
			}
		}
		for _, v := range []string{"1_000", "0x1p4"} {
			ss, err := dec(v)
			if len(ss) != 0 || err == nil || !strings.Contains(err.Error(), strconv.Quote(v)) {
				t.Errorf("%s %q: %+v, %v; want refused, naming the value", format, v, ss, err)
			}
		}
	}
}
