package timeseries

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// ParseNumber reads a number as metrics files write it: an optional sign,
// decimal digits with an optional fraction and an optional exponent (42,
// -0.5, .5, 1e-3, 2.5E+6), or NaN and Inf in strconv's spellings, which it
// returns as they are for the caller to refuse or keep. strconv.ParseFloat
// also takes Go's own syntax: 1_000 would read as 1000 and 0x1p4 as 16, a
// typo or a foreign convention silently turned into a value. ParseNumber
// refuses those, and white space, with an error that quotes s and says
// why; errors.Is(err, strconv.ErrRange) holds for a number beyond
// float64, and strconv.ErrSyntax for anything else.
func ParseNumber(s string) (float64, error) {
	if isDecimal(s) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return v, &numberError{s, "beyond the range of float64", strconv.ErrRange}
		}
		return v, nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		return v, nil
	}
	why := "not a number"
	switch lower := strings.ToLower(strings.TrimLeft(s, "+-")); {
	case strings.HasPrefix(lower, "0x"):
		why = "not a decimal number (hexadecimal)"
	case strings.Contains(s, "_"):
		why = "not a decimal number (underscore)"
	case strings.TrimSpace(s) != s:
		why = "not a number (white space around it)"
	}
	return 0, &numberError{s, why, strconv.ErrSyntax}
}

// numberError says why ParseNumber refused a text.
type numberError struct {
	num, why string
	err      error // strconv.ErrSyntax or strconv.ErrRange
}

func (e *numberError) Error() string {
	return "value " + strconv.Quote(e.num) + " is " + e.why
}

func (e *numberError) Unwrap() error { return e.err }

// isDecimal reports whether s is [+-]digits[.digits][(e|E)[+-]digits],
// with digits on at least one side of the point.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := i
		for ; i < len(s) && isDigit(s[i]); i++ {
		}
		if i == exp {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// numberKind is the Kind of a ParseNumber error: out of range, or the
// format's kind for a malformed value.
func numberKind(err error, syntax Kind) Kind {
	if errors.Is(err, strconv.ErrRange) {
		return KindOutOfRange
	}
	return syntax
}
