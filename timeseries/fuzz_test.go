package timeseries

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// checkDecoded holds for any decoder output: samples are valid, errors are
// located DecodeErrors of a known kind, and every sample survives the
// canonical encoding.
func checkDecoded(t *testing.T, payload []byte, ss []Sample, err error) {
	t.Helper()
	for i := range ss {
		if verr := ss[i].Validate(); verr != nil {
			t.Fatalf("sample %d invalid: %v", i, verr)
		}
		if ss[i].Time.Location() != time.UTC {
			t.Fatalf("sample %d time not UTC", i)
		}
		back, derr := DecodeSample(Encode(&ss[i]))
		if derr != nil || !sampleEqual(back, ss[i]) {
			t.Fatalf("canonical round trip of %+v: %+v, %v", ss[i], back, derr)
		}
	}
	if err == nil {
		return
	}
	des := DecodeErrors(err)
	if len(des) == 0 {
		t.Fatalf("error %v holds no DecodeError", err)
	}
	for _, de := range des {
		if de.Kind == KindUnknown || de.Kind > KindNoSamples {
			t.Fatalf("unknown kind in %v", de)
		}
		if de.Offset < 0 || de.Offset > int64(len(payload)) || de.Line < 0 {
			t.Fatalf("location out of the payload in %v", de)
		}
	}
}

func FuzzJSONDecode(f *testing.F) {
	f.Add([]byte(`{"name":"m","labels":{"a":"b"},"timestamp":"2026-03-01T12:00:00Z","values":[1,2]}`))
	f.Add([]byte(`[{"name":"a","timestamp":1772366400,"value":1},{"name":"","timestamp":1,"value":2}]`))
	f.Add([]byte(`{"name":"n","timestamp":1772366400.5,"values":{"x":1,"y":-0}}`))
	f.Add([]byte(" [ ]\n"))
	d := NewJSONDecoder(JSONConfig{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ss, err := d.Decode(payload)
		checkDecoded(t, payload, ss, err)
	})
}

func FuzzLineDecode(f *testing.F) {
	f.Add([]byte("cpu,host=a usage=1.5,idle=2i 1772366400000000000\n# c\nmem v=1u 1"))
	f.Add([]byte("m\\ x,t\\,k=v\\=1 s=\"a\\\"b\",b=t 1\r\n"))
	f.Add([]byte("# only a comment\n\n"))
	f.Add([]byte("m c0=1_000,c1=0x1p4 1\nm c0=1e3,c1=-.5E-2 2"))
	series, _ := NewLineDecoder(LineConfig{SkipStrings: true})
	chans, _ := NewLineDecoder(LineConfig{Mode: FieldsAsChannels, Channels: []string{"c0", "c1"}})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ss, err := series.Decode(payload)
		checkDecoded(t, payload, ss, err)
		ss, err = chans.Decode(payload)
		checkDecoded(t, payload, ss, err)
		// Whatever decoded as channels survives line protocol too.
		for i := range ss {
			line, ok := encodeLine(&ss[i], []string{"c0", "c1"})
			if !ok {
				continue
			}
			back, err := chans.Decode(line)
			if err != nil || len(back) != 1 || !sampleEqual(back[0], ss[i]) {
				t.Fatalf("line round trip of %+v via %q: %+v, %v", ss[i], line, back, err)
			}
		}
	})
}

// encodeLine writes s as one line-protocol entry with the library's
// encoder; ok is false for identities line protocol cannot carry.
func encodeLine(s *Sample, fields []string) ([]byte, bool) {
	var e lineprotocol.Encoder
	e.SetPrecision(lineprotocol.Nanosecond)
	e.StartLine(s.Series.Name)
	for _, l := range s.Series.Labels {
		e.AddTag(l.Name, l.Value)
	}
	for i, v := range s.Values {
		fv, ok := lineprotocol.FloatValue(v)
		if !ok {
			return nil, false
		}
		e.AddField(fields[i], fv)
	}
	e.EndLine(s.Time)
	return e.Bytes(), e.Err() == nil
}

func FuzzCSVDecode(f *testing.F) {
	f.Add([]byte("timestamp,value\n2014-02-14 14:30:00,1.5\n2014-02-14 14:35:00,20\n"))
	f.Add([]byte("\"2014-02-14T14:30:00Z\",1,2\r\nx,y\n"))
	f.Add([]byte("timestamp,value\n"))
	f.Add([]byte("2014-02-14 14:30:00,1_000\n2014-02-14 14:35:00,0x1p4\n2014-02-14 14:40:00,2E-3\n"))
	d, _ := NewCSVDecoder(CSVConfig{Series: SeriesID{Name: "nab"}})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ss, err := d.Decode(payload)
		checkDecoded(t, payload, ss, err)
		// Rows written back as CSV decode to the same samples.
		for i := range ss {
			var b bytes.Buffer
			b.WriteString(ss[i].Time.Format(time.RFC3339Nano))
			for _, v := range ss[i].Values {
				b.WriteString("," + ftoa(v))
			}
			back, err := d.Decode(b.Bytes())
			if err != nil || len(back) != 1 || !sampleEqual(back[0], ss[i]) {
				t.Fatalf("csv round trip of %+v via %q: %+v, %v", ss[i], b.Bytes(), back, err)
			}
		}
	})
}

// FuzzSampleRoundTrip checks decode(encode(s)) == s for any valid sample,
// in the canonical form and in line protocol.
func FuzzSampleRoundTrip(f *testing.F) {
	f.Add("cpu", "host", "a", int64(1772366400123456789), 1.5, -0.0)
	f.Add("m{\"x\"}", "k\\", "v\n\t\"", int64(-1), math.MaxFloat64, math.SmallestNonzeroFloat64)
	f.Add("température", "ünïcode", "\u2028", int64(math.MaxInt64), -1e-300, 3.0)
	chans, _ := NewLineDecoder(LineConfig{Mode: FieldsAsChannels, Channels: []string{"a", "b"}})
	f.Fuzz(func(t *testing.T, name, lk, lv string, ns int64, v0, v1 float64) {
		s := Sample{Series: SeriesID{Name: name}, Time: time.Unix(0, ns).UTC(),
			Values: []float64{v0, v1}}
		if lk != "" {
			s.Series.Labels = []Label{{lk, lv}}
		}
		if s.Validate() != nil {
			return
		}
		back, err := DecodeSample(Encode(&s))
		if err != nil || !sampleEqual(back, s) {
			t.Fatalf("canonical round trip of %+v: %+v, %v", s, back, err)
		}
		if strings.ContainsAny(name+lk+lv, "\n\r") || strings.HasPrefix(name, "#") {
			return // line protocol reads these as line breaks or a comment
		}
		line, ok := encodeLine(&s, []string{"a", "b"})
		if !ok {
			return
		}
		lb, err := chans.Decode(line)
		if err != nil || len(lb) != 1 || !sampleEqual(lb[0], s) {
			t.Fatalf("line round trip of %+v via %q: %+v, %v", s, line, lb, err)
		}
	})
}

// FuzzJSONDifferential checks the walker-based decoder, fast path
// included, against the former map-based one built on encoding/json
// alone: same samples, same errors at the same places.
func FuzzJSONDifferential(f *testing.F) {
	f.Add([]byte(`{"name":"m","labels":{"b":"1","a":"2","b":"3"},"timestamp":1772366400,"value":1}`))
	f.Add([]byte(`[{"na\u006de":"m","timestamp":"2026-03-01T12:00:00Z","values":{"y":1,"x":2,"y":3}}, 7]`))
	f.Add([]byte(`{"name":"m","timestamp":1772366400,"values":[1, 2 ,3 ]}{"name":"n"}`))
	plain := NewJSONDecoder(JSONConfig{})
	chans := NewJSONDecoder(JSONConfig{Channels: []string{"x", "y"}})
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, d := range []*JSONDecoder{plain, chans} {
			got, gerr := d.Decode(payload)
			want, werr := refDecode(d, payload)
			if len(got) != len(want) {
				t.Fatalf("got %d samples %+v (%v), reference %d %+v (%v)",
					len(got), got, gerr, len(want), want, werr)
			}
			for i := range got {
				if !sampleEqual(got[i], want[i]) {
					t.Fatalf("sample %d = %+v, reference %+v", i, got[i], want[i])
				}
			}
			ge, we := DecodeErrors(gerr), DecodeErrors(werr)
			if len(ge) != len(we) {
				t.Fatalf("errors %v, reference %v", gerr, werr)
			}
			for i := range ge {
				g, w := ge[i], we[i]
				if g.Kind != w.Kind || g.Field != w.Field || g.Line != w.Line || g.Offset != w.Offset {
					t.Fatalf("error %d = %v, reference %v", i, g, w)
				}
			}
		}
	})
}

func refDecode(d *JSONDecoder, payload []byte) ([]Sample, error) {
	start := skipSpace(payload, 0)
	if start == len(payload) {
		return nil, &DecodeError{Kind: KindEmptyPayload, Line: 1}
	}
	ss, err := d.decodeStream(payload, start,
		func(out []Sample, raw []byte, off int64) ([]Sample, error) {
			return refAppendSamples(d, out, raw, off)
		})
	if len(ss) == 0 && err == nil {
		return nil, emptyArray(payload, start)
	}
	return ss, err
}
