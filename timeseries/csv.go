package timeseries

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"time"
)

// NABTimeLayout is the timestamp layout of the Numenta Anomaly Benchmark
// files, a wall time without zone.
const NABTimeLayout = "2006-01-02 15:04:05"

// CSVConfig configures a CSVDecoder.
type CSVConfig struct {
	// Series is the identity given to every row; CSV rows carry none.
	Series SeriesID
	// Location interprets zone-less timestamps. Nil means UTC, which is
	// how NAB files are read.
	Location *time.Location
}

// CSVDecoder decodes NAB-style CSV: a first column of timestamps
// (NABTimeLayout or RFC 3339) and one or more value columns, which become
// channels. A first row whose first cell is "timestamp" is a header and is
// skipped; every row must have as many columns as the first one. Values
// are decimal numbers as ParseNumber reads them. It is
// meant for replay and evaluation, and is safe for concurrent use.
type CSVDecoder struct {
	cfg CSVConfig
}

var _ Decoder = (*CSVDecoder)(nil)

// NewCSVDecoder returns a decoder for cfg. It fails if the series identity
// is invalid.
func NewCSVDecoder(cfg CSVConfig) (*CSVDecoder, error) {
	if err := cfg.Series.validate(); err != nil {
		return nil, errors.Join(errors.New("timeseries: csv config: bad series"), err)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	return &CSVDecoder{cfg: cfg}, nil
}

// Decode implements Decoder.
func (d *CSVDecoder) Decode(payload []byte) ([]Sample, error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return nil, &DecodeError{Kind: KindEmptyPayload, Line: 1}
	}
	if i := invalidUTF8(payload); i >= 0 {
		// A CSV row cannot be told apart from its neighbours reliably
		// once the encoding is broken, so the payload fails as a whole.
		return nil, &DecodeError{Kind: KindNonUTF8, Line: lineOf(payload, int64(i)),
			Offset: int64(i)}
	}
	r := csv.NewReader(bytes.NewReader(payload))
	r.ReuseRecord = true
	r.FieldsPerRecord = 0

	var out []Sample
	var errs []error
	var header []string
	for row := 0; ; row++ {
		off := r.InputOffset()
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, csvError(err, payload, off, r.InputOffset()))
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				continue
			}
			// A broken quote leaves the reader lost for the rest.
			break
		}
		line, _ := r.FieldPos(0)
		if row == 0 && rec[0] == "timestamp" {
			header = append(header, rec...)
			continue
		}
		s, err := d.row(rec, header)
		if err != nil {
			var de *DecodeError
			errors.As(err, &de)
			de.Line, de.Offset = line, off
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 && len(errs) == 0 {
		// A header and nothing else: the producer sent no row.
		return nil, &DecodeError{Kind: KindNoSamples, Line: 1,
			Err: errors.New("a header without rows")}
	}
	return out, errors.Join(errs...)
}

func (d *CSVDecoder) row(rec, header []string) (Sample, error) {
	col := func(i int) string {
		if i < len(header) {
			return header[i]
		}
		return "column " + strconv.Itoa(i+1)
	}
	if len(rec) < 2 {
		return Sample{}, &DecodeError{Kind: KindNoValues}
	}
	t, err := d.parseTime(rec[0])
	if err != nil {
		return Sample{}, &DecodeError{Kind: KindBadTimestamp, Field: col(0), Err: err}
	}
	s := Sample{Series: d.cfg.Series, Time: t, Values: make([]float64, len(rec)-1)}
	for i, cell := range rec[1:] {
		if cell == "" {
			return Sample{}, &DecodeError{Kind: KindMissingField, Field: col(i + 1)}
		}
		v, err := ParseNumber(cell)
		if err != nil {
			return Sample{}, &DecodeError{Kind: numberKind(err, KindWrongType),
				Field: col(i + 1), Err: err}
		}
		s.Values[i] = v
	}
	if err := s.Validate(); err != nil {
		var de *DecodeError
		errors.As(err, &de)
		de.Field = col(1)
		return Sample{}, de
	}
	return s, nil
}

func (d *CSVDecoder) parseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(NABTimeLayout, s, d.cfg.Location)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse(time.RFC3339Nano, s); err2 != nil {
			return time.Time{}, err
		}
	}
	t = t.UTC()
	if _, err := checkTime(t); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

func csvError(err error, payload []byte, off, end int64) error {
	de := &DecodeError{Kind: KindSyntax, Offset: off, Err: err}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		de.Line = pe.Line
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			de.Kind = KindChannels
		}
		if errors.Is(pe.Err, csv.ErrQuote) && end >= int64(len(payload)) {
			de.Kind = KindTruncated
		}
		return de
	}
	de.Line = lineOf(payload, off)
	return de
}
