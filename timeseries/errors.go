package timeseries

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind classifies why an input could not be decoded. Its String form is a
// short snake_case word, stable across releases, meant to be used as a
// metric label and a dead-letter reason.
type Kind uint8

// The kinds of decode failure. KindUnknown is never returned by this
// package; it is the zero value so a forgotten assignment stands out.
const (
	KindUnknown      Kind = iota
	KindEmptyPayload      // the payload holds no bytes but white space
	KindTruncated         // the payload ends inside a value or an object
	KindSyntax            // the payload is not well-formed in its format
	KindNonUTF8           // a string or name is not valid UTF-8
	KindMissingField      // a required field is absent or null
	KindWrongType         // a field holds the wrong JSON or field type
	KindEmptySeries       // the series (metric) name is empty
	KindBadLabel          // a label name is empty or repeated
	KindBadTimestamp      // the time cannot be parsed, is ambiguous or out of range
	KindNonFinite         // a value is NaN or an infinity
	KindOutOfRange        // a number overflows float64 or int64
	KindNoValues          // a sample carries no value at all
	KindChannels          // the number of values differs from the configured channels
	KindNoSamples         // a well-formed payload carries no sample at all
	// KindFutureTimestamp: the time lies further ahead of the receiver's
	// clock than the receiver allows. Decoders do not know the clock and
	// never return it; the pipeline's ingest does.
	KindFutureTimestamp
)

var kindNames = [...]string{
	KindUnknown:      "unknown",
	KindEmptyPayload: "empty_payload",
	KindTruncated:    "truncated",
	KindSyntax:       "syntax",
	KindNonUTF8:      "non_utf8",
	KindMissingField: "missing_field",
	KindWrongType:    "wrong_type",
	KindEmptySeries:  "empty_series",
	KindBadLabel:     "bad_label",
	KindBadTimestamp: "bad_timestamp",
	KindNonFinite:    "non_finite",
	KindOutOfRange:   "out_of_range",
	KindNoValues:     "no_values",
	KindChannels:     "channels",

	KindNoSamples:       "no_samples",
	KindFutureTimestamp: "future_timestamp",
}

// String returns the kind's snake_case name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// DecodeError says what is wrong with one sample of a payload and where.
// Decoders return it (or several joined with errors.Join) and never panic.
type DecodeError struct {
	// Kind classifies the failure.
	Kind Kind
	// Field names the offending field (a JSON key, a line-protocol field
	// key, a CSV column name), or is empty when the failure is not tied to
	// one field.
	Field string
	// Line is the 1-based line of the payload where the failing sample
	// starts, or 0 when unknown (then Error names no location).
	Line int
	// Offset is the 0-based byte offset into the payload of the failing
	// sample or token.
	Offset int64
	// Err is the underlying cause, if any.
	Err error
}

// Error formats the failure with its location.
func (e *DecodeError) Error() string {
	msg := "timeseries: decode: " + e.Kind.String()
	if e.Field != "" {
		msg += " field " + strconv.Quote(e.Field)
	}
	if e.Line > 0 {
		msg += fmt.Sprintf(" at line %d offset %d", e.Line, e.Offset)
	}
	if e.Err != nil {
		msg += ": " + clip(e.Err.Error())
	}
	return msg
}

// maxCause bounds the cause in an error message. strconv's errors quote
// their whole input, and a 50 MB number would otherwise be written to the
// log and to every dead letter's reason header.
const maxCause = 240

func clip(s string) string {
	if len(s) <= maxCause {
		return s
	}
	return strings.ToValidUTF8(s[:maxCause], "") + fmt.Sprintf("... (%d bytes in all)", len(s))
}

// Unwrap returns the underlying cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// ErrorKind returns the Kind of the first DecodeError in err's tree, or
// KindUnknown if there is none.
func ErrorKind(err error) Kind {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Kind
	}
	return KindUnknown
}

// DecodeErrors lists every DecodeError in err's tree, in payload order for
// errors returned by this package's decoders. It returns nil for nil.
func DecodeErrors(err error) []*DecodeError {
	var out []*DecodeError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if de, ok := e.(*DecodeError); ok {
			out = append(out, de)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// lineOf returns the 1-based line of byte offset off in b.
func lineOf(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	n := 1
	for _, c := range b[:off] {
		if c == '\n' {
			n++
		}
	}
	return n
}

// lineCounter finds the lines of increasing offsets into one payload in
// linear total time, so a payload full of bad samples is not quadratic.
type lineCounter struct {
	b    []byte
	off  int64
	line int
}

func (c *lineCounter) at(off int64) int {
	off = min(off, int64(len(c.b)))
	if c.line == 0 || off < c.off {
		c.off, c.line = 0, 1
	}
	for _, ch := range c.b[c.off:off] {
		if ch == '\n' {
			c.line++
		}
	}
	c.off = off
	return c.line
}
