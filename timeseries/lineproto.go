package timeseries

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// FieldMode says what the fields of a line-protocol entry become.
type FieldMode uint8

// Field modes.
const (
	// FieldsAsSeries makes each numeric field its own single-channel
	// series named measurement + "_" + field key, as Telegraf's Prometheus
	// output names them.
	FieldsAsSeries FieldMode = iota
	// FieldsAsChannels makes one multi-channel sample per entry, named
	// after the measurement, with the fields listed in LineConfig.Channels
	// as channels in that order.
	FieldsAsChannels
)

// LineConfig configures a LineDecoder.
type LineConfig struct {
	// Mode picks what fields become. Default FieldsAsSeries.
	Mode FieldMode
	// Channels lists the field keys that form the channels, in order, for
	// FieldsAsChannels; it must not be empty in that mode. A listed field
	// missing from an entry fails that entry; unlisted fields are ignored.
	Channels []string
	// Precision is the unit of the timestamps: UnitSeconds, UnitMillis,
	// UnitMicros or UnitNanos. Zero (UnitAuto) means UnitNanos, the
	// line-protocol default that Telegraf writes.
	Precision TimeUnit
	// SkipStrings drops string fields in FieldsAsSeries mode instead of
	// failing the entry, for producers that mix status strings with
	// numbers. Boolean fields are always read as 0 and 1.
	SkipStrings bool
}

// LineDecoder decodes InfluxDB line protocol, one entry per line, as
// Telegraf's Kafka output writes it, with
// github.com/influxdata/line-protocol/v2. Comments and blank lines are
// skipped; an entry without a timestamp is rejected, because a receive
// time would make replays differ. Each bad line costs only its own
// samples. It is safe for concurrent use.
//
// TODO(flowguard): a string field holding a raw (unescaped) newline splits
// its entry and fails both halves; Telegraf escapes newlines, so this has
// not been worth a quote-aware splitter.
type LineDecoder struct {
	cfg LineConfig
}

var _ Decoder = (*LineDecoder)(nil)

// NewLineDecoder returns a decoder for cfg. It fails if cfg is
// FieldsAsChannels without channels or has an unknown precision.
func NewLineDecoder(cfg LineConfig) (*LineDecoder, error) {
	if cfg.Mode == FieldsAsChannels && len(cfg.Channels) == 0 {
		return nil, errors.New("timeseries: line config: FieldsAsChannels needs Channels")
	}
	if len(cfg.Channels) > 64 {
		return nil, errors.New("timeseries: line config: more than 64 channels")
	}
	switch cfg.Precision {
	case UnitAuto:
		cfg.Precision = UnitNanos
	case UnitSeconds, UnitMillis, UnitMicros, UnitNanos:
	default:
		return nil, errors.New("timeseries: line config: bad precision")
	}
	cfg.Channels = append([]string(nil), cfg.Channels...)
	return &LineDecoder{cfg: cfg}, nil
}

// Decode implements Decoder.
func (d *LineDecoder) Decode(payload []byte) ([]Sample, error) {
	var out []Sample
	var errs []error
	entries := 0
	for off, lineNo := 0, 1; off < len(payload); lineNo++ {
		end := bytes.IndexByte(payload[off:], '\n')
		if end < 0 {
			end = len(payload)
		} else {
			end += off
		}
		line := payload[off:end]
		if isEntry(line) {
			entries++
			var err error
			out, err = d.appendEntry(out, line)
			if err != nil {
				var de *DecodeError
				if errors.As(err, &de) {
					de.Line = lineNo
					de.Offset += int64(off)
				}
				errs = append(errs, err)
			}
		}
		off = end + 1
	}
	if entries == 0 {
		if len(bytes.TrimSpace(payload)) == 0 {
			return nil, &DecodeError{Kind: KindEmptyPayload, Line: 1}
		}
		return nil, &DecodeError{Kind: KindNoSamples, Line: 1,
			Err: errors.New("only comments and blank lines")}
	}
	return out, errors.Join(errs...)
}

// isEntry reports whether a line holds an entry rather than white space or
// a comment.
func isEntry(line []byte) bool {
	t := bytes.TrimLeft(line, " \t\r")
	return len(t) > 0 && t[0] != '#'
}

// appendEntry decodes one line. Offsets in the returned error are relative
// to the line.
func (d *LineDecoder) appendEntry(out []Sample, line []byte) ([]Sample, error) {
	if i := invalidUTF8(line); i >= 0 {
		return out, &DecodeError{Kind: KindNonUTF8, Offset: int64(i)}
	}
	dec := lineprotocol.NewDecoderWithBytes(line)
	if !dec.Next() {
		return out, &DecodeError{Kind: KindSyntax}
	}
	m, err := dec.Measurement()
	if err != nil {
		return out, lpError(err, line)
	}
	var id SeriesID
	id.Name = string(m)
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return out, lpError(err, line)
		}
		if k == nil {
			break
		}
		id.Labels = append(id.Labels, Label{Name: string(k), Value: string(v)})
	}
	id.SortLabels()

	first := len(out)
	var vals []float64
	if d.cfg.Mode == FieldsAsChannels {
		vals = make([]float64, len(d.cfg.Channels))
	}
	seen := uint64(0)
	for {
		k, v, err := nextField(dec, line)
		if err != nil {
			return out[:first], err
		}
		if k == nil {
			break
		}
		ch := -1
		if d.cfg.Mode == FieldsAsChannels {
			if ch = slices.Index(d.cfg.Channels, string(k)); ch < 0 {
				continue
			}
		}
		x, ok, err := d.fieldValue(v)
		if err != nil {
			return out[:first], &DecodeError{Kind: errKind(err), Field: string(k), Err: err}
		}
		if !ok {
			continue
		}
		if d.cfg.Mode == FieldsAsSeries {
			s := Sample{Series: id, Values: []float64{x}}
			s.Series.Name = id.Name + "_" + string(k)
			out = append(out, s)
			continue
		}
		vals[ch] = x
		seen |= 1 << ch
	}
	if d.cfg.Mode == FieldsAsChannels {
		for i, ch := range d.cfg.Channels {
			if seen&(1<<i) == 0 {
				return out[:first], &DecodeError{Kind: KindMissingField, Field: ch}
			}
		}
		out = append(out, Sample{Series: id, Values: vals})
	}
	if len(out) == first {
		return out, &DecodeError{Kind: KindNoValues}
	}

	t, err := d.entryTime(dec, line)
	if err != nil {
		return out[:first], err
	}
	for i := first; i < len(out); i++ {
		out[i].Time = t
		if err := out[i].Validate(); err != nil {
			return out[:first], err
		}
	}
	return out, nil
}

// nextField is dec.NextField, but a float must be decimal as ParseNumber
// reads it: the parser takes Go's syntax, 1_000 and 0x1p4 among it, which
// Influx's own grammar refuses. Errors are located in line.
func nextField(dec *lineprotocol.Decoder, line []byte) ([]byte, lineprotocol.Value, error) {
	k, kind, raw, err := dec.NextFieldBytes()
	if err != nil {
		return nil, lineprotocol.Value{}, lpError(err, line)
	}
	if k == nil {
		return nil, lineprotocol.Value{}, nil
	}
	// A number is a slice of line as the decoder reads in place, so its
	// offset is how much of line's capacity lies before it.
	at := int64(cap(line) - cap(raw))
	if at < 0 || at > int64(len(line)) {
		at = 0
	}
	if kind == lineprotocol.Float {
		if _, err := ParseNumber(string(raw)); err != nil &&
			!errors.Is(err, strconv.ErrRange) {
			return nil, lineprotocol.Value{}, &DecodeError{Kind: KindSyntax, Field: string(k),
				Offset: at, Err: err}
		}
	}
	v, err := lineprotocol.NewValueFromBytes(kind, raw)
	if err != nil {
		de := lpError(err, line)
		de.Field, de.Offset = string(k), at
		switch {
		case strings.Contains(err.Error(), "non-number"):
			de.Kind = KindNonFinite
		case errors.Is(err, lineprotocol.ErrValueOutOfRange):
			de.Err = fmt.Errorf("value %q: %w", raw, err)
		}
		return nil, lineprotocol.Value{}, de
	}
	return k, v, nil
}

// fieldValue converts a field to a float; ok is false for a skipped string.
func (d *LineDecoder) fieldValue(v lineprotocol.Value) (x float64, ok bool, err error) {
	switch v.Kind() {
	case lineprotocol.Float:
		return v.FloatV(), true, nil
	case lineprotocol.Int:
		return float64(v.IntV()), true, nil
	case lineprotocol.Uint:
		return float64(v.UintV()), true, nil
	case lineprotocol.Bool:
		if v.BoolV() {
			return 1, true, nil
		}
		return 0, true, nil
	}
	if d.cfg.SkipStrings && d.cfg.Mode == FieldsAsSeries {
		return 0, false, nil
	}
	return 0, false, &kindError{KindWrongType, "field is a " + v.Kind().String()}
}

func (d *LineDecoder) entryTime(dec *lineprotocol.Decoder, line []byte) (time.Time, error) {
	b, err := dec.TimeBytes()
	if err != nil {
		de := lpError(err, line)
		de.Field = "timestamp"
		return time.Time{}, de
	}
	if b == nil {
		return time.Time{}, &DecodeError{Kind: KindMissingField, Field: "timestamp"}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	mult := unitNanos[d.cfg.Precision]
	if err != nil || n > math.MaxInt64/mult || n < math.MinInt64/mult {
		return time.Time{}, &DecodeError{Kind: KindBadTimestamp, Field: "timestamp",
			Err: errors.New("timestamp " + strconv.Quote(string(b)))}
	}
	return time.Unix(0, n*mult).UTC(), nil
}

// lpError turns an error of the line-protocol parser into a DecodeError
// located by the parser's column. The parser's messages are matched only
// to pick a more telling kind; anything else stays KindSyntax.
func lpError(err error, line []byte) *DecodeError {
	de := &DecodeError{Kind: KindSyntax, Err: err}
	var le *lineprotocol.DecodeError
	if errors.As(err, &le) && le.Column > 0 {
		de.Offset = int64(le.Column - 1)
	}
	rest := ""
	if de.Offset < int64(len(line)) {
		rest = strings.ToLower(string(line[de.Offset:min(de.Offset+4, int64(len(line)))]))
	}
	switch msg := err.Error(); {
	case errors.Is(err, lineprotocol.ErrValueOutOfRange):
		de.Kind = KindOutOfRange
	case strings.Contains(msg, "non-number"), strings.HasPrefix(rest, "nan"),
		strings.HasPrefix(rest, "inf"), strings.HasPrefix(rest, "+inf"):
		de.Kind = KindNonFinite
	case strings.Contains(msg, "end of input"),
		de.Offset >= int64(len(bytes.TrimRight(line, " \t\r"))):
		de.Kind = KindTruncated
	case strings.Contains(msg, "invalid timestamp"):
		de.Kind = KindBadTimestamp
	}
	return de
}
