package timeseries

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendEncode appends the canonical JSON form of s to dst:
//
//	{"name":"cpu","labels":{"host":"a"},"timestamp":"2026-01-02T03:04:05.5Z","values":[1.5]}
//
// A JSONDecoder with the zero JSONConfig reads it back to an equal sample
// (time in UTC, nanoseconds kept, floats bit-exact, -0 included). The
// caller must pass a valid sample (see Sample.Validate); non-finite values
// would make invalid JSON and are written as null.
func AppendEncode(dst []byte, s *Sample) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendJSONString(dst, s.Series.Name)
	if len(s.Series.Labels) > 0 {
		dst = append(dst, `,"labels":{`...)
		for i, l := range s.Series.Labels {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, l.Name)
			dst = append(dst, ':')
			dst = appendJSONString(dst, l.Value)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"timestamp":"`...)
	dst = s.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","values":[`...)
	for i, v := range s.Values {
		if i > 0 {
			dst = append(dst, ',')
		}
		if v != v || v > 1.7976931348623157e308 || v < -1.7976931348623157e308 {
			dst = append(dst, "null"...)
			continue
		}
		dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	}
	return append(dst, "]}"...)
}

// Encode returns the canonical JSON form of s; see AppendEncode.
func Encode(s *Sample) []byte { return AppendEncode(make([]byte, 0, 128), s) }

var canonical = NewJSONDecoder(JSONConfig{})

// DecodeSample reads one sample in the canonical form written by Encode.
// It fails if the payload holds no sample or more than one.
func DecodeSample(payload []byte) (Sample, error) {
	ss, err := canonical.Decode(payload)
	if err != nil {
		return Sample{}, err
	}
	if len(ss) != 1 {
		return Sample{}, &DecodeError{Kind: KindSyntax,
			Err: errors.New("want one sample, got " + strconv.Itoa(len(ss)))}
	}
	return ss[0], nil
}

// appendJSONString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
